"""Log-domain divergences shared by the rules and the oracles.

:mod:`polopt.oracles` is a leaf (it imports no polopt layer but the foundation), yet its exact MDP
oracle evaluates the KL-regularized value with the same KL the rules use: the one kernel lives here,
below both, and :mod:`polopt.rules._core` re-exports it. Written against the array namespace of its
inputs (NumPy float64 or ``jax.numpy``).
"""

from __future__ import annotations

from ._base import array_namespace

__all__ = ["kl_log"]


def kl_log(log_p, log_q):
    """``KL(p || q) = sum_a p(a) (log p(a) - log q(a))`` from log-probabilities, ``[..., K] -> [...]``.

    ``0 log 0 = 0`` is honoured (terms with ``p(a) = 0`` contribute nothing even where
    ``log q(a) = -inf``); the result is clipped at 0 against round-off.
    """
    xp = array_namespace(log_p, log_q)
    p = xp.exp(log_p)
    diff = xp.where(p > 0, log_p - log_q, 0.0)
    return xp.maximum(xp.sum(p * diff, axis=-1), 0.0)
