"""The preference oracle of a game: what a rule may ask about ``P`` (exact or sampled).

A rule never sees a problem: its ``update(state, oracle)`` calls ``oracle.pref(pi)`` for
``(P pi)(y) = Pr(y > pi)`` and reads ``oracle.log_mu`` (the reference) where the rule needs it.
:class:`GameOracle` is that object. With ``num_samples=None`` it is exact (``einsum`` over the
last axes, NumPy or ``jax.numpy``); with ``num_samples = m`` each call estimates every
``Pr(y > pi)`` from ``m`` Bernoulli comparisons against ``y'' ~ pi`` (NumPy only, reproducible
from ``rng``), costing ``K m`` comparisons per context.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._base import array_namespace
from .sampling import sample_categorical, sample_preferences

__all__ = ["GameOracle", "best_response_value", "pref", "reinforce_pref_gradient", "sampled_pref"]


def pref(P, pi):
    """The exact preference oracle ``(P pi)(y) = Pr(y > pi)``: ``[..., K, K] x [..., K] -> [..., K]``."""
    xp = array_namespace(P, pi)
    return xp.einsum("...ij,...j->...i", P, pi)


def best_response_value(payoff, mu, beta: float) -> float:
    """``max_pi' <pi', payoff> - beta KL(pi' || mu)`` for one payoff vector ``[K]``.

    ``max payoff`` at ``beta = 0``; else ``beta log sum_y mu(y) exp(payoff(y) / beta)``, shifted by
    the max over ``supp(mu)`` (terms with ``mu(y) = 0`` vanish). Plain NumPy: SciPy's ``logsumexp``
    costs ~1 ms per call in its array-API dispatch. The one definition behind the game
    certificates (:mod:`polopt.certificates`) and the game solvers' own checks (:mod:`polopt.exact.games`).
    """
    if beta == 0.0:
        return float(np.max(payoff))
    x = np.asarray(payoff, dtype=np.float64) / beta
    on = np.asarray(mu) > 0
    m = float(np.max(x[on]))
    return float(beta * (m + np.log(np.dot(np.asarray(mu)[on], np.exp(x[on] - m)))))


def _flat(P, pi):
    P = np.asarray(P, dtype=np.float64)
    pi = np.asarray(pi, dtype=np.float64)
    K = P.shape[-1]
    pif = pi.reshape(-1, K)
    Pf = P.reshape(-1, K, K) if P.ndim > 2 else np.broadcast_to(P, (pif.shape[0], K, K))
    return Pf, pif, K


def sampled_pref(rng: np.random.Generator, P, pi, num_samples: int) -> np.ndarray:
    """Unbiased estimate of ``P @ pi`` from ``num_samples`` comparisons per action (NumPy only).

    For each ``y`` draw ``y''_1..y''_m ~ pi`` and Bernoulli outcomes ``1[y > y''_j]`` with
    probability ``P[y, y''_j]``; return their means ``[..., K]``.
    """
    Pf, pif, K = _flat(P, pi)
    opp = sample_categorical(rng, pif, (K, num_samples))  # [N, K, m]
    y = np.broadcast_to(np.arange(K)[:, None], (K, num_samples))
    wins = np.stack([sample_preferences(rng, Pf[n], y, opp[n]) for n in range(pif.shape[0])])
    return wins.mean(axis=-1).reshape(np.shape(pi))


def reinforce_pref_gradient(rng: np.random.Generator, P, pi, pi_opp, num_samples: int) -> np.ndarray:
    """REINFORCE estimate of ``pi ⊙ (P pi_opp - <pi, P pi_opp>)``: ``mean_j (o_j - 1/2)(e_{y_j} - pi)``.

    ``y_j ~ pi``, ``z_j ~ pi_opp``, ``o_j ~ Bernoulli(P[y_j, z_j])``; ``[..., K]``. Unbiased because
    ``E[o - 1/2 | y] = (P pi_opp)(y) - 1/2`` and ``E[e_y - pi] = 0``.
    """
    Pf, pif, K = _flat(P, pi)
    oppf = np.asarray(pi_opp, dtype=np.float64).reshape(-1, K)
    ys = sample_categorical(rng, pif, num_samples)  # [N, m]
    zs = sample_categorical(rng, oppf, num_samples)
    out = np.empty_like(pif)
    for n in range(pif.shape[0]):
        o = sample_preferences(rng, Pf[n], ys[n], zs[n]) - 0.5
        counts = np.bincount(ys[n], weights=o, minlength=K)
        out[n] = (counts - o.sum() * pif[n]) / num_samples
    return out.reshape(np.shape(pi))


class GameOracle(NamedTuple):
    """What a game rule may ask: ``pref(pi)`` (exact or sampled) and the reference ``log_mu``.

    Fields: ``P`` [..., K, K] the preference matrix (``P + P^T = 1``); ``log_mu`` [..., K] the log
    reference (``-inf`` where mu = 0); ``rng`` and ``num_samples`` (None = exact oracle).
    """

    P: Any
    log_mu: Any = None
    rng: np.random.Generator | None = None
    num_samples: int | None = None

    @property
    def sampled(self) -> bool:
        return self.num_samples is not None

    def pref(self, pi):
        """``(P pi)(y)``, or its estimate from ``num_samples`` comparisons per action."""
        if self.num_samples is None:
            return pref(self.P, pi)
        return sampled_pref(self.rng, self.P, pi, self.num_samples)

    def cost(self) -> int:
        """Preference queries one call of :meth:`pref` makes per context: 1 product, or K m comparisons."""
        return 1 if self.num_samples is None else int(np.shape(self.P)[-1]) * int(self.num_samples)
