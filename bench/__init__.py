"""Benchmarks. Each prints its figures and a ratio against a baseline measured in the same run
(the machine is noisy; only same-run ratios are comparable). Run all with ``make bench`` or one with
``python -m bench.<name>``. Results are recorded in docs/performance.md."""
