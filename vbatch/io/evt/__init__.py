"""Reading `.evt` events: learnt regex shapes for most lines, an exact parser for the rest.

`EvtReader` reads a file in blocks of whole lines (about `batch_size` lines each) on a thread
pool; `EvtLineParser` parses blocks of lines from a live source on the calling thread. Both
split a block into lines without copying; per event type they learn the *shape* of a line
(time prefix or not, field order, how each value is written) from the exact per-line parser and
turn it into one anchored RE2 regex that `pyarrow.compute` applies to the whole block at once.
Lines no shape matches (escapes, lists, JSON, comments, errors) go through the exact parser one
by one. Schemas, running time and `_seq` are settled block by block in input order, so the
output is the same for any number of threads and, when every field of a type shows up with its
type in the type's first block, for any batch size.

Decisions where the format is silent: a time must come to whole milliseconds from 0 to 2**61
(`@1.0005s` is an error); an int too big for 64 bits and a float too big for a float are
errors; lists nest at most 64 deep; no trailing comma in `{...}` or `[...]`; a JSON line
follows the rule of `vbatch.io.strict_json` (no NaN or Infinity, no key twice, ...) as JSON-lines
files do, and its `_ts` (else `timestamp`) is its time and neither becomes a field; without a
declared schema, a field first seen after its type's first chunk, or a value of another type
than that chunk gave the field (an int in a float field aside), is a bad record, whose hint
says how to declare the type. A byte-order mark starting the input is skipped.

Modules, in pipeline order: `values` (value forms, types, escapes), `lines` (the exact parser),
`shapes` (learnt regexes and vectorised decoding), `parse` (one block), `assemble` (schemas,
time, `_seq`), `settle` (bad lines, dead letters, chunks), `blocks` (cutting a file),
`reader` (EvtReader) and `stream` (EvtLineParser).
"""

from __future__ import annotations

from vbatch.io.evt.reader import EvtReader
from vbatch.io.evt.stream import EvtLineParser

__all__ = ["EvtLineParser", "EvtReader"]
