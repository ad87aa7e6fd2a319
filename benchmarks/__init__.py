"""Lethe's benchmarks: ratios against hand-written baselines, measured side by side (see README.md)."""
