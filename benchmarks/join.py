"""The join kernel end to end: `vbatch simulate` against Polars' as-of join, same answer.

    python -m benchmarks.join --events 4000000

Data: Trade and Quote rows alternating at random, 5,000 symbols, times increasing about
1 ms a row, as one Parquet file (`event_type`, `_ts`, `symbol`, `price`, `bid`). Program:

    stream Spread = join(Trade, Quote) .on(Trade.symbol == Quote.symbol) .window(5s)
        .where(Trade.price > Quote.bid) .emit(symbol: Trade.symbol, spread: ...)

The same result in Polars: for each row, the latest earlier row of the other type with the
same symbol (`join_asof` on the arrival index, by symbol), kept when it is at most 5 s
older and the condition holds. Both are timed as whole processes, best of `--repeat`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = """
stream Spread = join(Trade, Quote)
    .on(Trade.symbol == Quote.symbol)
    .window(5s)
    .where(Trade.price > Quote.bid)
    .emit(symbol: Trade.symbol, spread: Trade.price - Quote.bid)
"""
POLARS = """
import sys, polars as pl
rows = pl.scan_parquet(sys.argv[1]).with_row_index("seq")
trades = rows.filter(pl.col("event_type") == "Trade").select("seq", "_ts", "symbol", "price")
quotes = rows.filter(pl.col("event_type") == "Quote").select("seq", "_ts", "symbol", "bid")
def meet(arriving, earlier):
    joined = arriving.join_asof(earlier.rename({"seq": "seq_o", "_ts": "ts_o"}), left_on="seq",
                                right_on="seq_o", by="symbol", strategy="backward",
                                allow_exact_matches=False)
    return joined.filter(pl.col("ts_o") >= pl.col("_ts") - 5000)
a = meet(trades, quotes).filter(pl.col("price") > pl.col("bid"))
b = meet(quotes, trades).filter(pl.col("price") > pl.col("bid"))
out = pl.concat([a.select("seq", "symbol", (pl.col("price") - pl.col("bid")).alias("spread")),
                 b.select("seq", "symbol", (pl.col("price") - pl.col("bid")).alias("spread"))])
out = out.sort("seq").collect()
print(out.height, round(float(out["spread"].sum()), 3))
"""


def data(events: int, path: Path) -> None:
    rng = np.random.default_rng(20261206)
    kinds = np.where(rng.random(events) < 0.5, "Trade", "Quote")
    symbols = np.char.add("S", rng.integers(0, 5000, events).astype(str))
    base = rng.uniform(10, 100, events).round(2)
    table = pa.table({
        "event_type": kinds,
        "_ts": np.cumsum(rng.integers(0, 3, events)).astype(np.int64),
        "symbol": symbols,
        "price": np.where(kinds == "Trade", base, None),
        "bid": np.where(kinds == "Quote", base, None),
    })  # fmt: skip
    pq.write_table(table, path, row_group_size=1 << 20)


def best(command: list[str], repeat: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - started)
        out = done.stdout
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=4_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        events, program, result = folder / "ticks.parquet", folder / "join.vpl", folder / "out"
        data(args.events, events)
        program.write_text(PROGRAM)
        vbatch = [sys.executable, "-m", "vbatch", "simulate", "-p", str(program), "-e",
                  str(events), "--immediate", "--quiet", "-o", str(result)]  # fmt: skip
        ours, _ = best(vbatch, args.repeat)
        spread = pq.read_table(result / "Spread.parquet")
        theirs, answer = best([sys.executable, "-c", POLARS, str(events)], args.repeat)
        rows, total = answer.split()
        ours_total = float(spread["spread"].to_numpy().sum())
        agree = int(rows) == spread.num_rows and abs(float(total) - ours_total) < 1e-3 * max(
            1.0, abs(ours_total)
        )
        print(f"join of {args.events:,} events: vbatch {args.events / ours / 1e6:.2f}M events/s "
              f"({ours:.2f} s, {spread.num_rows:,} rows), Polars as-of join "
              f"{args.events / theirs / 1e6:.2f}M events/s ({theirs:.2f} s); "
              f"same rows: {'yes' if agree else 'NO'}")  # fmt: skip


if __name__ == "__main__":
    main()
