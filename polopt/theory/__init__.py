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

# Discovery is explicit, as for the method table (polopt/methods.py) and the experiments
# (validation.MODULES): each module below registers its theorems on import; a new module is
# added here (tests/test_theory.py checks that none is left out).
from . import adversarial, classical, learning, llm_estimators, llm_losses, nlhf, pg  # noqa: E402, F401, I001
from . import regularized, reward_free, rlhf_pg, saddle, total  # noqa: E402, F401, I001
from ._fit import RateFit, TheoremRate, fit_rate
from .registry import CONFIDENCE, CONFIDENCE_MEANING, Theorem, Verdict, check, get, register, theorems

MODULES = ("adversarial", "classical", "learning", "llm_estimators", "llm_losses", "nlhf", "pg", "regularized",
           "reward_free", "rlhf_pg", "saddle", "total")

__all__ = ["MODULES", "CONFIDENCE", "CONFIDENCE_MEANING", "RateFit", "Theorem", "TheoremRate", "Verdict", "check",
           "fit_rate", "get", "register", "theorems"]
