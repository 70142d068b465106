"""Certificates: pure functions measuring how far a policy or value is from optimal.

Each function is independent of the solvers (solvers call them, never recompute them
inline) and is tested against an independent computation in ``tests/test_certificates.py``.

Conventions (stated once, used everywhere):

* ``kl_to_optimum(pi, pi_star) = KL(pi_star || pi)`` — the optimum comes first, as in the
  last-iterate analyses of mirror-descent methods (Nash-MP, arXiv 2505.19731 v1).
* For a symmetric preference game, ``exploitability(pi) = max_pi' J_beta(pi', pi) - 1/2``
  and ``duality_gap(pi) = max_pi' J_beta(pi', pi) - min_pi'' J_beta(pi, pi'')``; the
  duality gap is exactly **2 x exploitability** (proof: ``proofs/duality_gap_proof.py``).
* ``suboptimality`` is ``max_s (v* - v^pi)(s)`` (sup norm), or ``rho . (v* - v^pi)`` when a
  start distribution is given.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import rel_entr

from ._deprecation import renamed
from .oracles.preference import best_response_value
from .oracles.saddle import grad_d, grad_v

__all__ = [
    "bellman_residual",
    "duality_gap",
    "exploitability",
    "game_gaps",
    "kl",
    "kl_log_q",
    "kl_to_optimum",
    "saddle_gap",
    "matrix_game_gaps",
    "span",
    "suboptimality",
]


def kl(p, q, axis: int = -1) -> np.ndarray:
    """``KL(p || q) = sum p log(p / q)`` along ``axis`` (``0 log 0 = 0``; ``+inf`` off support)."""
    # the sum of non-negative-in-expectation terms can round to about -1e-16; KL >= 0 exactly
    return np.maximum(rel_entr(np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)).sum(axis=axis), 0.0)


def kl_log_q(p, log_q, axis: int = -1) -> np.ndarray:
    """``KL(p || q) = sum p (log p - log q)`` with ``p`` a probability and ``q`` given by its logarithm.

    (``0 log 0 = 0``.) Named apart from :func:`polopt.rules.kl_log` ``(log_p, log_q)``, which takes
    both in the log domain: one name, one signature.

    For rules that carry log-policies: a probability that underflows to 0 in ``exp(log q)``
    (``log q = -1e5``, say) still gives the finite KL it has, where :func:`kl` would give ``+inf``.
    """
    p = np.asarray(p, dtype=np.float64)
    log_q = np.asarray(log_q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - log_q), 0.0)
    return np.maximum(terms.sum(axis=axis), 0.0)


def kl_to_optimum(pi, pi_star, weights=None, *, log_pi=None) -> float:
    """``KL(pi_star || pi)``; for per-state policies [S, A] the ``weights``-average over states.

    Args:
        pi: policy [K] or [S, A] (or [H, S, A]); may be None when ``log_pi`` is given.
        pi_star: optimum, same shape.
        weights: state weights [S] (uniform if None); ignored for [K].
        log_pi: ``log pi`` instead of ``pi`` (keyword only): exact where ``pi`` underflows.
    """
    per_state = kl(pi_star, pi) if log_pi is None else kl_log_q(pi_star, log_pi)
    if np.ndim(per_state) == 0:
        return float(per_state)
    w = np.full(per_state.shape[-1], 1.0 / per_state.shape[-1]) if weights is None else np.asarray(weights)
    return float(np.sum(per_state * w))


def suboptimality(v_pi, v_star, rho=None) -> float:
    """``max_s (v* - v^pi)(s)``, or ``rho . (v* - v^pi)`` when ``rho`` is given (>= 0 up to round-off)."""
    gap = np.asarray(v_star, dtype=np.float64) - np.asarray(v_pi, dtype=np.float64)
    if rho is None:
        return float(np.max(gap))
    return float(np.dot(np.asarray(rho, dtype=np.float64), gap.reshape(-1)))


def span(v) -> float:
    """Span seminorm ``sp(v) = max v - min v``."""
    v = np.asarray(v, dtype=np.float64)
    return float(v.max() - v.min())


def bellman_residual(P_sa, r, gamma: float, v) -> float:
    """``||T v - v||_inf`` for the Bellman optimality operator of a discounted MDP.

    Args:
        P_sa: kernel as an ``(S*A, S)`` dense or sparse matrix; r: rewards [S, A];
        gamma: discount; v: value [S].
    """
    r = np.asarray(r, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    q = r + gamma * np.asarray(P_sa @ v).reshape(r.shape)
    return float(np.max(np.abs(q.max(axis=1) - v)))


_NO_MU = object()  # marks "mu not passed": None is a legal (uniform) reference of the deprecated form


def _game_terms(name: str, game, pi, beta, legacy: tuple, mu):
    """``(P, pi, mu, beta)`` of one call, in the one convention ``(game, pi, beta=None)``.

    ``game``: a preference game (its ``P``, ``mu`` and ``beta``; ``beta`` overrides) or a bare matrix
    ``P [K, K]`` (uniform reference, ``beta`` default 0) -- the convention of
    :func:`polopt.exact.exploitability`. The former form ``(P, pi, mu, beta)`` (a reference after ``pi``,
    positionally or as ``mu=``) still works with a DeprecationWarning; a game with a separate ``mu`` is a
    TypeError (the game carries its reference).
    """
    old = bool(legacy) or mu is not _NO_MU or (beta is not None and np.ndim(beta) > 0)
    if old:
        if hasattr(game, "P"):
            raise TypeError(f"{name}: a game carries its reference; call {name}(game, pi, beta=None) without mu")
        if len(legacy) > 1 or (mu is not _NO_MU and beta is not None and np.ndim(beta) > 0):
            raise TypeError(f"{name}: expected {name}(game, pi, beta=None) or the deprecated {name}(P, pi, mu, beta); "
                            f"got {2 + (beta is not None) + len(legacy)} positional arguments"
                            + (" and mu=" if mu is not _NO_MU else ""))
        warnings.warn(f"{name}(P, pi, mu, beta) is deprecated: pass the game, {name}(PreferenceGame(P, reference=mu, "
                      f"beta=beta), pi), as polopt.exact.{name} does", DeprecationWarning, stacklevel=3)
        ref = mu if mu is not _NO_MU else (beta if beta is not None and np.ndim(beta) > 0 else None)
        beta = legacy[0] if legacy else (beta if beta is not None and np.ndim(beta) == 0 else 0.0)
        P = game
    elif hasattr(game, "P"):
        P, ref, beta = game.P, game.mu, (game.beta if beta is None else beta)
    else:
        P, ref, beta = game, None, (0.0 if beta is None else beta)
    P = np.asarray(P, dtype=np.float64)
    pi = np.asarray(pi, dtype=np.float64)
    ref = np.full(P.shape[0], 1.0 / P.shape[0]) if ref is None else np.asarray(ref, dtype=np.float64)
    return P, pi, ref, float(beta)


def exploitability(game, pi, beta: float | None = None, *legacy, mu=_NO_MU) -> float:
    """``f_beta(pi) = max_pi' J_beta(pi', pi) - 1/2`` for the symmetric preference game.

    .. math:: f_\\beta(\\pi) = \\beta \\log \\sum_y \\mu(y) e^{(P\\pi)(y)/\\beta}
              + \\beta\\,\\mathrm{KL}(\\pi\\|\\mu) - 1/2

    (``max_y (P pi)(y) - 1/2`` when ``beta = 0``). Zero exactly at the equilibrium. ``game``: a
    :class:`~polopt.problems.PreferenceGame` (its ``mu`` and, unless ``beta`` is given, its ``beta``) or a
    bare matrix ``P [K, K]`` (uniform ``mu``, ``beta`` default 0): the convention of
    :func:`polopt.exact.exploitability`. ``exploitability(P, pi, mu, beta)`` is deprecated.
    """
    P, pi, mu, beta = _game_terms("exploitability", game, pi, beta, legacy, mu)
    reg = beta * float(kl(pi, mu)) if beta > 0 else 0.0
    return best_response_value(P @ pi, mu, beta) + reg - 0.5


def duality_gap(game, pi, beta: float | None = None, *legacy, mu=_NO_MU) -> float:
    """Two-sided gap ``max_pi' J_beta(pi', pi) - min_pi'' J_beta(pi, pi'')`` of the strategy pair (pi, pi).

    Computed from both best responses separately (not as ``2 f``), so that the identity
    ``duality_gap = 2 exploitability`` is a checkable fact rather than a definition. Arguments as in
    :func:`exploitability` (``duality_gap(P, pi, mu, beta)`` is deprecated).
    """
    P, pi, mu, beta = _game_terms("duality_gap", game, pi, beta, legacy, mu)
    reg = beta * float(kl(pi, mu)) if beta > 0 else 0.0
    # max player's best response against pi (the min player) ...
    best_max = best_response_value(P @ pi, mu, beta) + reg
    # ... and the min player's best response: min_pi'' pi.P pi'' + beta KL(pi''||mu) - beta KL(pi||mu)
    best_min = -best_response_value(-(pi @ P), mu, beta) - reg
    return best_max - best_min


def _best_response_values(payoff, log_mu, beta):
    """Batched ``max_pi' pi'.payoff - beta KL(pi'||mu)`` over the last axis (``[..., K] -> [...]``)."""
    if beta == 0.0:
        return np.max(payoff, axis=-1)
    x = np.where(np.isneginf(log_mu), -np.inf, payoff / beta + log_mu)
    m = np.max(x, axis=-1, keepdims=True)
    return beta * (m[..., 0] + np.log(np.sum(np.exp(x - m), axis=-1)))


def game_gaps(P, pi, mu=None, beta: float = 0.0):
    """``(exploitability, duality_gap)`` of many policies at once: :func:`exploitability` and
    :func:`duality_gap` vectorised over leading axes.

    Shapes: ``P`` [..., K, K] (broadcast against ``pi``'s leading axes), ``pi`` [..., K],
    ``mu`` [..., K] (uniform if None). Returns two arrays of ``pi.shape[:-1]``. Agrees with the
    scalar functions to round-off (``tests/test_certificates.py``).
    """
    P = np.asarray(P, dtype=np.float64)
    pi = np.asarray(pi, dtype=np.float64)
    K = pi.shape[-1]
    mu = np.full(K, 1.0 / K) if mu is None else np.asarray(mu, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_mu = np.log(mu)
    reg = beta * kl(pi, mu) if beta > 0 else 0.0
    best_max = _best_response_values(np.einsum("...ij,...j->...i", P, pi), log_mu, beta) + reg
    best_min = -_best_response_values(-np.einsum("...i,...ij->...j", pi, P), log_mu, beta) - reg
    return best_max - 0.5, best_max - best_min


@renamed(mu="d")
def saddle_gap(P, r, gamma: float, rho, lo: float, hi: float, v, d) -> np.ndarray:
    """Duality gap ``max_d' f(v, d') - min_{v' in [lo, hi]^S} f(v', d)`` of the MDP saddle point, batched.

    ``f(v, d) = (1 - gamma) rho^T v + d^T (r + gamma P v - v)`` (:mod:`polopt.oracles.saddle`). Both
    inner problems are linear over a simplex / a box, so they are solved in closed form::

        max_d' f(v, d') = (1 - gamma) rho^T v + max_{s,a} (r + gamma P v - v)(s, a)
        min_v' f(v', d) = d^T r + sum_s min(lo e_s, hi e_s),  e = (1 - gamma) rho + gamma P^T d - d 1

    Shapes: ``P [S, A, S]``, ``r [S, A]``, ``rho [S]``, ``v [..., S]``, ``d [..., S, A]`` (the occupancy, on the
    simplex of ``S x A``) -> ``[...]``. ``gamma = 1`` is the average-reward saddle point (no ``rho``
    term). Tested against two HiGHS linear programs in ``tests/test_saddle.py``.
    """
    P = np.asarray(P, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)
    rho = np.asarray(rho, dtype=np.float64)
    residual = grad_d(P, r, gamma, v)
    upper = v @ ((1.0 - gamma) * rho) + np.max(residual.reshape(residual.shape[:-2] + (-1,)), axis=-1)
    e = grad_v(P, gamma, rho, d)
    lower = np.sum(d * r, axis=(-2, -1)) + np.sum(np.minimum(lo * e, hi * e), axis=-1)
    return upper - lower


def matrix_game_gaps(G, x, y, mu_x=None, mu_y=None, beta: float = 0.0):
    """``(exploitability, duality_gap)`` of strategy pairs of the zero-sum matrix game ``G`` [m, n].

    ``J_beta(x, y) = x^T G y - beta KL(x||mu_x) + beta KL(y||mu_y)`` (the row player maximizes):
    ``duality_gap = max_x' J_beta(x', y) - min_y' J_beta(x, y')`` and ``exploitability`` is half of
    it (the mean of the two players' gains from deviating). Shapes: ``x`` [..., m], ``y`` [..., n]
    with the same leading axes; references uniform if None. Vectorised; checked against
    :mod:`polopt.exact.matrix_game` and OpenSpiel in ``tests/test_matrix_game.py``.
    """
    G = np.asarray(G, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    m, n = G.shape
    mu_x = np.full(m, 1.0 / m) if mu_x is None else np.asarray(mu_x, dtype=np.float64)
    mu_y = np.full(n, 1.0 / n) if mu_y is None else np.asarray(mu_y, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_mu_x, log_mu_y = np.log(mu_x), np.log(mu_y)
    reg_x = beta * kl(x, mu_x) if beta > 0 else 0.0
    reg_y = beta * kl(y, mu_y) if beta > 0 else 0.0
    best_row = _best_response_values(np.einsum("ij,...j->...i", G, y), log_mu_x, beta) + reg_y
    best_col = -_best_response_values(-np.einsum("...i,ij->...j", x, G), log_mu_y, beta) - reg_x
    gap = best_row - best_col
    return 0.5 * gap, gap
