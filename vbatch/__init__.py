"""vbatch: a vectorised micro-batch engine for VPL stream programs."""
