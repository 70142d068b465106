"""Shared pieces of every update rule: log-domain normalisation, the KL proximal step,
Euclidean projection onto the simplex, and the backend (array namespace) lookup.

Every function is written once against the array namespace of its inputs: NumPy float64
arrays give the exact reference, ``jax.numpy`` arrays give jit/vmap-able code. No in-place
writes, no Python ``if`` on array values, no data-dependent shapes.
Actions are the last axis; leading axes (states, contexts, batch) are carried through.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

from .._base import array_namespace
from .._logspace import kl_log
from .._validation import as_positive_int, as_scalar


class Rule(NamedTuple):
    """An update rule: a pair of pure functions and what the rule declares about itself.

    The unit of optax (``GradientTransformation``), for policies: a factory such as
    ``polopt.rules.nlhf.mirror_prox(eta=2.0, beta=0.1)`` validates its hyper-parameters once and
    returns a ``Rule``. Then::

        state = rule.init(log_pi0, oracle)      # typed NamedTuple state, log-policies [..., K]
        state = rule.update(state, oracle)      # pure; NumPy float64 or jax.numpy

    ``oracle`` is what the rule may ask about the problem (:mod:`polopt.oracles`): exact or
    sampled, the rule is the same. Every state has ``log_pi`` (and ``log_avg`` when
    ``averages``) and ``t`` (updates made).

    Fields: ``name`` (the method-table name), ``init``, ``update``, ``oracle_calls`` (oracle calls one
    update makes), ``averages`` (the state carries the running average ``log_avg``), ``hparams``
    (the validated hyper-parameters, a NamedTuple by their maths names).
    """

    name: str
    init: Callable[..., Any]
    update: Callable[[Any, Any], Any]
    oracle_calls: int
    averages: bool
    hparams: Any


@cache
def _hparams_type(name: str, fields: tuple[str, ...]):
    return NamedTuple(f"{name}_hparams", [(f, Any) for f in fields])


def hparams(name: str, **values):
    """The typed hyper-parameter record of rule ``name`` (a NamedTuple, fields in the given order)."""
    return _hparams_type(name, tuple(values))(**values)


def _concrete(x) -> bool:
    """False for a JAX tracer (a vmapped step-size sweep): such values are checked by the caller."""
    return not type(x).__name__.endswith("Tracer")


def step_size(rule: str, name: str, value, *, allow_inf: bool = False):
    """``value`` as a step size > 0, finite unless ``allow_inf``; a clear error naming the rule otherwise."""
    if value is None:
        raise TypeError(f"{rule}: {name} is required (a step size > 0)")
    if not _concrete(value):
        return value
    try:
        return as_scalar(name, value, low=0.0, low_open=True, allow_inf=allow_inf)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{rule}: {exc}") from None


def coefficient(rule: str, name: str, value, *, low=0.0, high=None, low_open=False):
    """A non-negative (or bounded) scalar hyper-parameter, finite; a clear error naming the rule otherwise."""
    if not _concrete(value):
        return value
    try:
        return as_scalar(name, value, low=low, high=high, low_open=low_open)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{rule}: {exc}") from None


def probability(rule: str, name: str, value) -> float:
    """A failure probability in (0, 1), required (no default: the guarantee is stated at it)."""
    if value is None:
        raise TypeError(f"{rule}: {name} is required (the failure probability, in (0, 1))")
    try:
        return as_scalar(name, value, low=0.0, high=1.0, low_open=True, high_open=True)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{rule}: {exc}") from None


def count(rule: str, name: str, value, what: str) -> int:
    """A required positive integer (``what`` says what it counts and why it is needed)."""
    if value is None:
        raise TypeError(f"{rule}: {name} is required ({what})")
    try:
        return as_positive_int(name, value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{rule}: {exc}") from None


def require(rule: str, ok, message: str) -> None:
    """ValueError ``"{rule}: {message}"`` when a concrete condition on hyper-parameters fails."""
    if _concrete(ok) and not bool(ok):
        raise ValueError(f"{rule}: {message}")

__all__ = [
    "Rule",
    "array_namespace",
    "hparams",
    "entropy_log",
    "kl_log",
    "kl_prox",
    "kl_prox_logits",
    "log_normalize",
    "project_simplex",
    "softmax",
]


def _shifted(xp, x, axis: int = -1):
    """``x - max x`` (max-shift; the max is replaced by 0 where it is not finite)."""
    m = xp.max(x, axis=axis, keepdims=True)
    return x - xp.where(xp.isfinite(m), m, 0.0)


def log_normalize(logits):
    """``log softmax(logits) = logits - logsumexp(logits)`` along the last (action) axis.

    Shapes: ``[..., K] -> [..., K]``. Entries at ``-inf`` (zero-probability actions) stay ``-inf``.
    The shift is subtracted *before* the log-sum is: with two tied logits at 1e17, ``m + log 2``
    rounds to ``m`` and ``logits - (m + log 2)`` would give both actions probability 1.
    """
    xp = array_namespace(logits)
    z = _shifted(xp, logits)
    return z - xp.log(xp.sum(xp.exp(z), axis=-1, keepdims=True))


def softmax(logits):
    """``exp(log_normalize(logits))`` — the policy of a logit vector, ``[..., K]``."""
    xp = array_namespace(logits)
    return xp.exp(log_normalize(logits))


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
    return log_normalize(kl_prox_logits(log_pi, g, eta, log_mu, beta))


def kl_prox_logits(log_pi, g, eta, log_mu=None, beta=0.0):
    """The unnormalized logits of :func:`kl_prox`: ``(log pi + eta g + eta beta log mu) / (1 + eta beta)``.

    Elementwise (no sum over the last axis), so it also gives the target log-probability, up to
    a constant, of one sampled response (``gpu.losses``: the prox step of an LLM).
    """
    if log_mu is None:
        return log_pi + eta * g
    xp = array_namespace(log_pi, g, log_mu)
    # mu(a) = 0 forbids action a when eta*beta > 0; substituting 0 first avoids -inf * 0 = nan at beta = 0
    off = xp.isneginf(log_mu)
    num = log_pi + eta * g + eta * beta * xp.where(off, 0.0, log_mu)
    num = xp.where(off & (eta * beta > 0), -xp.inf, num)
    return num / (1.0 + eta * beta)


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
    # the number of active coordinates (>= 1 always: the largest coordinate is active)
    n_active = xp.sum(cond, axis=-1, keepdims=True)
    theta = xp.take_along_axis(css, n_active - 1, axis=-1) / n_active.astype(x.dtype)
    return xp.maximum(x - theta, 0.0)
