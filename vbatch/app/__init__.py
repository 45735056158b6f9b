"""The application layer: wires readers, plans, runners, sinks and the console into runs.

`simulate.py` is a replay, `live.py` a live run, `sinks.py` where their results go. The
runtime below runs plans and knows nothing of consoles, files or the planner.
"""
