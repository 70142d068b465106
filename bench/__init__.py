"""Benchmarks of polopt against the anchors (QuantEcon, pymdptoolbox, nashpy, SciPy LP)."""
