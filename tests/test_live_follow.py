"""`vbatch run --follow` follows a file like `tail -F`: through rotation and truncation."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import threading
from pathlib import Path

import pytest
from live_run import launch, program

PASSING = "stream Seen = A\n    .where(v > 0)\n"


def events(first: int, last: int) -> str:
    """Events with v = first..last."""
    return "".join(f"@{v} A {{ v: {v} }}\n" for v in range(first, last + 1))


class Follower:
    """`vbatch run --follow PATH` with its output rows read as they come."""

    def __init__(self, tmp_path: Path, path: Path) -> None:
        self.run = launch(program(tmp_path, PASSING), "--follow", str(path), "--no-contexts")
        self.rows: queue.Queue[dict | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.run.stdout is not None
        for line in self.run.stdout:
            self.rows.put(json.loads(line))
        self.rows.put(None)

    def values(self, count: int) -> list[int]:
        """The `v` of the next `count` rows."""
        values = []
        for _ in range(count):
            try:
                row = self.rows.get(timeout=20)
            except queue.Empty:
                raise AssertionError(f"{len(values)} of {count} rows: {values}") from None
            assert row is not None, f"the run ended after {values}"
            values.append(row["v"])
        return values

    def stop(self) -> str:
        """SIGTERM; what it wrote on stderr."""
        self.run.send_signal(signal.SIGTERM)
        self.run.wait(timeout=30)
        assert self.run.stderr is not None
        return self.run.stderr.read()


@pytest.fixture
def followed(tmp_path: Path) -> Path:
    path = tmp_path / "app.evt"
    path.write_text(events(1, 5))
    return path


def test_rotation_reads_the_rest_of_the_old_file_then_the_new_one(
    tmp_path: Path, followed: Path
) -> None:
    follower = Follower(tmp_path, followed)
    first = follower.values(5)
    with open(followed, "a") as old:
        old.write(events(6, 10))  # written just before the rename, perhaps not read yet
    os.rename(followed, tmp_path / "app.evt.1")
    followed.write_text(events(11, 20))
    rest = follower.values(15)
    err = follower.stop()
    assert first + rest == list(range(1, 21))
    assert follower.run.returncode == 0, err


def test_copytruncate_reads_the_file_again_from_its_start(tmp_path: Path, followed: Path) -> None:
    follower = Follower(tmp_path, followed)
    first = follower.values(5)
    shutil.copy(followed, tmp_path / "app.evt.1")
    with open(followed, "r+") as same:
        same.truncate(0)
        same.write(events(11, 20))  # past the old length before the follower looked
    rest = follower.values(10)
    err = follower.stop()
    assert first + rest == [*range(1, 6), *range(11, 21)]
    assert follower.run.returncode == 0, err


def test_a_followed_file_deleted_and_created_again_is_followed(
    tmp_path: Path, followed: Path
) -> None:
    follower = Follower(tmp_path, followed)
    first = follower.values(5)
    followed.unlink()
    followed.write_text(events(6, 8))
    rest = follower.values(3)
    follower.stop()
    assert first + rest == list(range(1, 9))


def test_a_run_without_the_file_to_follow_is_exit_2(tmp_path: Path) -> None:
    run = launch(program(tmp_path, PASSING), "--follow", str(tmp_path / "none.evt"))
    _, err = run.communicate(timeout=60)
    assert (run.returncode, "no such file to follow" in err) == (2, True)
