"""Benchmarks: models × backends × batch sizes (``latency``), face detectors against ground truth
(``detectors``, ``match``), and the plots of a report (``plots``)."""
