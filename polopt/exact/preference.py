"""Closed-form optima of the preference-optimization losses (NumPy float64 references).

The solve adapters of :mod:`polopt._methods.llm_losses` measure their certificates against these,
never against the module under test (:mod:`polopt.rules.preference_losses`). The KL-regularized
ones are the Gibbs policy of :func:`polopt.exact.soft.gibbs_policy`:

* DPO (Bradley-Terry population, any full-support pairs), online DPO, CoPG, P3O, XPO (alpha = 0):
  ``pi* = ref exp(r / beta) / Z`` (:func:`dpo_optimum`);
* IPO with pairs from ``behaviour``: ``pi* = ref exp(P(y > behaviour) / beta) / Z`` (:func:`ipo_optimum`);
* chi-PO: ``beta phi(pi*/ref) = r - lambda``, ``phi(z) = z + log z`` (:func:`chi_po_optimum`);
* APO (the unregularized target): ``ref`` restricted to ``argmax r`` (:func:`apo_optimum`), and the
  effective inverse temperature of exact-step APO (:func:`apo_inverse_temperature`).
"""

from __future__ import annotations

import numpy as np

from .._deprecation import renamed
from .soft import gibbs_policy

__all__ = ["apo_inverse_temperature", "apo_optimum", "chi_po_optimum", "dpo_optimum", "ipo_optimum"]


def dpo_optimum(r, ref, beta) -> np.ndarray:
    """``ref exp(r / beta) / Z`` along the last axis (the Bradley-Terry DPO minimizer), ``[..., K]``."""
    return gibbs_policy(r, beta, ref)


@renamed(tau="beta")
def ipo_optimum(P, behaviour, ref, beta) -> np.ndarray:
    """``ref exp(P(y > b) / beta) / Z`` with ``P(y > b) = (P b)[y]``, ``b`` the pair behaviour.

    ``beta`` is the KL coefficient of IPO's objective (``tau=`` is its deprecated keyword).
    Shapes: ``P [..., K, K]``, ``behaviour, ref [..., K]``.
    """
    P = np.asarray(P, dtype=np.float64)
    win = np.einsum("...ab,...b->...a", P, np.asarray(behaviour, dtype=np.float64))
    return gibbs_policy(win, beta, np.broadcast_to(np.asarray(ref, dtype=np.float64), win.shape))


def apo_optimum(r, ref) -> np.ndarray:
    """The unregularized optimum APO targets: ``ref`` restricted to ``argmax r`` over its support."""
    r = np.asarray(r, dtype=np.float64)
    on = np.broadcast_to(np.asarray(ref, dtype=np.float64), r.shape) > 0
    top = on & (r == np.where(on, r, -np.inf).max(axis=-1, keepdims=True))
    return top / top.sum(axis=-1, keepdims=True)


def apo_inverse_temperature(t, alpha):
    """``u_t`` with ``log pi_t = log pi_ref + u_t r / beta + const`` for exact-step APO.

    The recursion ``u_{t+1} - u_t = 1 + alpha (u_t - u_{t-1})``, ``u_0 = 0``, ``u_1 = 1`` has the
    closed form ``u_t = t / (1 - alpha) - alpha (1 - alpha^t) / (1 - alpha)^2`` (``alpha < 1``;
    ``proofs/apo_temperature_proof.py``): asymptotically ``t / (1 - alpha)`` against ``t`` for
    iterative DPO.
    """
    t = np.asarray(t, dtype=np.float64)
    return t / (1.0 - alpha) - alpha * (1.0 - alpha**t) / (1.0 - alpha) ** 2


#: Newton on ``w + e^w = t`` from the right of the root converges monotonically; 100 steps
#: reach machine precision from any start used below (quadratic phase after a few steps).
_LINK_NEWTON_STEPS = 100


def _inverse_link_log(t):
    """``log z`` solving ``z + log z = t`` (i.e. ``log W0(e^t)``), elementwise, for any real t."""
    t = np.asarray(t, dtype=np.float64)
    # f(w) = e^w + w - t is convex increasing; f(start) >= 0 so Newton decreases monotonically
    w = np.where(t > 1.0, np.log(np.maximum(t, 1.0)), t)
    for _ in range(_LINK_NEWTON_STEPS):
        w = w - (np.exp(w) + w - t) / (np.exp(w) + 1.0)
    return w


def chi_po_optimum(r, ref, beta) -> np.ndarray:
    """Maximizer of ``E_pi r - beta D_f(pi || ref)``, ``f(z) = (z-1)^2/2 + z log z``.

    Stationarity: ``beta phi(pi / ref) = r - lambda`` with ``phi(z) = z + log z``, so
    ``pi = ref * phi^{-1}((r - lambda) / beta)`` and ``lambda`` solves ``sum pi = 1`` (Brent's method,
    monotone in ``lambda``; bracket ``[min r - beta - 1, max r - beta + 1]`` where the sum is ``> 1`` and
    ``< 1``). Rows of ``r [..., K]`` are solved independently.
    """
    from scipy.optimize import brentq

    r = np.asarray(r, dtype=np.float64)
    ref = np.broadcast_to(np.asarray(ref, dtype=np.float64), r.shape)
    out = np.empty(r.shape)
    for idx in np.ndindex(r.shape[:-1]):
        ri, mi = r[idx], ref[idx]

        def excess(lam, ri=ri, mi=mi):
            return float(np.sum(mi * np.exp(_inverse_link_log((ri - lam) / beta)))) - 1.0

        lam = brentq(excess, ri.min() - beta - 1.0, ri.max() - beta + 1.0, xtol=1e-15, rtol=4 * np.finfo(float).eps)
        p = mi * np.exp(_inverse_link_log((ri - lam) / beta))
        out[idx] = p / p.sum()
    return out
