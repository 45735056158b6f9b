"""Reproducible throughput benchmarks for vbatch (see benchmarks/README.md)."""
