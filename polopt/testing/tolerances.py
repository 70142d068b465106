"""Tolerances by purpose. Every test names the one it uses and why it is the right size.

The constants are the library's own (:mod:`polopt._base`); this module re-exports them for tests.
"""

from .._base import ABS_SLACK, BACKEND, EXACT_F64, IDENTITY_F64, RATE_SLACK, SOLVER_TOL

__all__ = ["ABS_SLACK", "BACKEND", "EXACT_F64", "IDENTITY_F64", "RATE_SLACK", "SOLVER_TOL"]
