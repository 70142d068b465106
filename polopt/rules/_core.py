"""Shared pieces of every update rule: log-domain normalisation, the KL proximal step,
Euclidean projection onto the simplex, and the backend (array namespace) lookup.

Every function is written once against the array namespace of its inputs: NumPy float64
arrays give the exact reference, ``jax.numpy`` arrays give jit/vmap-able code (DESIGN
principle 1). No in-place writes, no Python ``if`` on array values, no data-dependent shapes.
Actions are the last axis; leading axes (states, contexts, batch) are carried through.
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = [
    "array_namespace",
    "entropy_log",
    "kl_log",
    "kl_prox",
    "log_normalize",
    "project_simplex",
    "softmax",
]


def array_namespace(*arrays):
    """``jax.numpy`` if any argument is a JAX array (or tracer), else ``numpy``.

    JAX is only consulted when it is already imported, so NumPy-only code never pays its import.
    """
    jax = sys.modules.get("jax")
    if jax is not None and any(isinstance(a, jax.Array) for a in arrays):
        return jax.numpy
    return np


def _logsumexp(xp, x, axis: int = -1):
    # max-shift keeps exp finite for logits up to ~1e308; the shift is exact for finite max
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0.0)
    return m + xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True))


def log_normalize(logits):
    """``log softmax(logits) = logits - logsumexp(logits)`` along the last (action) axis.

    Shapes: ``[..., K] -> [..., K]``. Entries at ``-inf`` (zero-probability actions) stay ``-inf``.
    """
    xp = array_namespace(logits)
    return logits - _logsumexp(xp, logits)


def softmax(logits):
    """``exp(log_normalize(logits))`` — the policy of a logit vector, ``[..., K]``."""
    xp = array_namespace(logits)
    return xp.exp(log_normalize(logits))


def kl_log(log_p, log_q):
    """``KL(p || q) = sum_a p(a) (log p(a) - log q(a))`` from log-probabilities, ``[..., K] -> [...]``.

    ``0 log 0 = 0`` is honoured (terms with ``p(a) = 0`` contribute nothing even where
    ``log q(a) = -inf``); the result is clipped at 0 against round-off.
    """
    xp = array_namespace(log_p, log_q)
    p = xp.exp(log_p)
    diff = xp.where(p > 0, log_p - log_q, 0.0)
    return xp.maximum(xp.sum(p * diff, axis=-1), 0.0)


def entropy_log(log_p):
    """Shannon entropy ``-sum p log p`` from log-probabilities, ``[..., K] -> [...]``."""
    xp = array_namespace(log_p)
    p = xp.exp(log_p)
    return -xp.sum(xp.where(p > 0, p * log_p, 0.0), axis=-1)


def kl_prox(log_pi, g, eta, log_mu=None, beta=0.0):
    """The KL proximal (mirror) step with an optional magnet, in log space.

    .. math::

        \\pi^+ = \\arg\\max_{p \\in \\Delta}\\; \\langle p, g\\rangle - \\beta\\,KL(p\\|\\mu)
                 - \\tfrac{1}{\\eta} KL(p\\|\\pi)
        \\;\\Longleftrightarrow\\;
        \\log \\pi^+ = \\mathrm{lognorm}\\Big(\\frac{\\log\\pi + \\eta\\beta\\log\\mu + \\eta g}{1 + \\eta\\beta}\\Big).

    With ``beta = 0`` this is the multiplicative-weights / NPG step ``pi+ ∝ pi exp(eta g)``.
    ``eta = inf`` is allowed and gives the greedy (argmax) limit only through the caller.

    Args:
        log_pi: current log-policy ``[..., K]``.
        g: the (ascent) gradient / advantage / payoff vector ``[..., K]``.
        eta: step size > 0 (scalar or broadcastable to ``[..., 1]``).
        log_mu: log of the magnet / reference ``[..., K]`` (needed when ``beta > 0``).
        beta: KL coefficient >= 0.

    Returns:
        log pi+ ``[..., K]``, normalised.

    Reference: the closed form of the KL-regularized bandit (``proofs/gibbs_proof.py``); it
    is MMD's step (Sokota et al., arXiv 2206.05825, Eq. 3) and Nash-MP's prox step
    (Tiapkin et al., arXiv 2505.19731).
    """
    if log_mu is None:
        return log_normalize(log_pi + eta * g)
    xp = array_namespace(log_pi, g, log_mu)
    # mu(a) = 0 forbids action a when eta*beta > 0; substituting 0 first avoids -inf * 0 = nan at beta = 0
    off = xp.isneginf(log_mu)
    num = log_pi + eta * g + eta * beta * xp.where(off, 0.0, log_mu)
    num = xp.where(off & (eta * beta > 0), -xp.inf, num)
    return log_normalize(num / (1.0 + eta * beta))


def project_simplex(x):
    """Euclidean projection of each row of ``x`` onto the probability simplex, ``[..., K]``.

    ``argmin_{p in simplex} ||p - x||_2`` = ``max(x - theta, 0)`` with the threshold
    ``theta`` found by sorting (Held, Wolfe & Crowder 1974; Duchi et al. 2008, Fig. 1).
    Fixed shapes and no branching on values, so it runs under ``jax.jit``/``vmap``.
    """
    xp = array_namespace(x)
    k = x.shape[-1]
    # the projection commutes with x -> x + c 1; shifting the max to 0 keeps ``cumsum - 1`` exact for
    # huge inputs (a step of 1e100 times an advantage) where the unshifted threshold loses the 1
    x = x - xp.max(x, axis=-1, keepdims=True)
    u = -xp.sort(-x, axis=-1)  # descending
    css = xp.cumsum(u, axis=-1) - 1.0
    idx = xp.arange(1, k + 1, dtype=x.dtype)
    cond = u - css / idx > 0
    # rho = number of active coordinates (>= 1 always: the largest coordinate is active)
    rho = xp.sum(cond, axis=-1, keepdims=True)
    theta = xp.take_along_axis(css, rho - 1, axis=-1) / rho.astype(x.dtype)
    return xp.maximum(x - theta, 0.0)
