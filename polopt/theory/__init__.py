"""Theorems as data: bound functions with their source and confidence, and ``check``.

A :class:`Theorem` states a guarantee as a bound on one certificate of a
:class:`~polopt.result.SolveResult` at every iterate ``t``. Confidence levels
(DESIGN principle 6):

* ``paper``: the statement was read in the paper;
* ``derived``: our derivation, with a proof in ``proofs/``;
* ``recalled``: unconfirmed recollection — shown, never presented as the paper's.

Example::

    res = po.solve(mdp, method="value_iteration")
    po.theory.check(res, "vi.contraction")   # Verdict(holds=True, worst_ratio=..., ...)
"""

from . import classical, regularized  # noqa: E402,F401  (register the theorems)
from .registry import CONFIDENCE, Theorem, Verdict, check, get, register, theorems

__all__ = ["CONFIDENCE", "Theorem", "Verdict", "check", "get", "register", "theorems"]
