"""Theorems as data: bound functions with their source and confidence, and ``check``.

A :class:`Theorem` states a guarantee as a bound on one certificate of a
:class:`~polopt.result.SolveResult` at every iterate ``t``. Confidence levels
(:data:`~polopt.theory.registry.CONFIDENCE`):

* ``paper``: the statement was read in the paper;
* ``derived``: our derivation, with a proof in ``proofs/`` (or stated in the theorem's note);
* ``recalled``: unconfirmed recollection — shown, never presented as the paper's;
* ``measured``: a constant polopt measured on a named sweep — shown, never presented as a
  paper's constant, and checked on held-out instances.

Example::

    res = po.solve(mdp, method="value_iteration")
    po.theory.check(res, "vi.contraction")   # Verdict(holds=True, worst_ratio=..., ...)
"""

import importlib as _importlib
import pkgutil as _pkgutil

from .registry import CONFIDENCE, CONFIDENCE_MEANING, Theorem, Verdict, check, get, register, theorems

# Every public module of this package registers its theorems on import.
for _info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_") and _info.name != "registry":
        _importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["CONFIDENCE", "CONFIDENCE_MEANING", "Theorem", "Verdict", "check", "get", "register", "theorems"]
