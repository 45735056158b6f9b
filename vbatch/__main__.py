"""`python -m vbatch` runs the command line."""

from vbatch.cli import main

main()
