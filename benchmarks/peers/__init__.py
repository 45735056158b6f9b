"""The systems `benchmarks.compare` measures vbatch against, one module each.

Every module has the same three functions:

- `missing() -> str | None`: why the system cannot run here (not installed), or None;
- `compute(workload, path, options) -> object`: the timed computation, from the input file to
  the results in the system's own in-memory form (an Arrow table, a DataFrame, Python lists);
- `tables(workload, result) -> dict[str, pyarrow.Table]`: the results in the canonical
  columns of `benchmarks.peers.workloads.STREAMS`, for the agreement check (not timed).

`python -m benchmarks.peers.run` runs one of them in a fresh process and prints its figures.
"""
