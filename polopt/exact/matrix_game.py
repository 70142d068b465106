"""Exact equilibria and certificates of two-player zero-sum matrix games (float64).

Set-up (:class:`polopt.problems.MatrixGame`): payoff ``A`` [m, n] to the row player (maximizer),
normalized payoff ``G = A / (2c)`` in ``[-1/2, 1/2]``, references ``mu_x`` [m], ``mu_y`` [n],
KL coefficient ``beta >= 0``; ``J_beta(x, y) = x^T G y - beta KL(x||mu_x) + beta KL(y||mu_y)``.

* **Unregularized** (``beta = 0``): :func:`nash` embeds the game in a symmetric skew game of
  size ``m + n + 1`` (Gale, Kuhn & Tucker 1951; Dantzig 1951) and runs the certified fast
  solver of :func:`polopt.exact.games.nash` on it: with ``B = G - min G + 1 > 0`` and
  ``S = [[0, B, -1], [-B^T, 0, 1], [1^T, -1^T, 0]]``, a symmetric equilibrium ``(p, q, t)``
  has ``t > 0`` and ``sum p = sum q = sigma > 0`` (``S z <= 0`` with ``B > 0`` rules out
  ``p = 0``, ``q = 0`` and ``t = 0``), and then ``B q <= t 1 <= B^T p`` gives an equilibrium
  ``(p / sigma, q / sigma)`` of ``B``, hence of ``G`` (a constant shift does not move
  equilibria). The answer is certified by its duality gap in ``G`` (HiGHS fallback:
  :func:`nash_lp`, the row and the column LP).
* **Regularized** (``beta > 0``): the unique equilibrium solves ``x ∝ mu_x exp(G y / beta)``,
  ``y ∝ mu_y exp(-G^T x / beta)``; :func:`regularized_nash` runs Newton's method on the
  stacked log-domain fixed point with continuation in beta, cross-checked (``method="both"``)
  by the convex program ``min DG_beta(x, y)`` in cvxpy.

Certificates (normalized units): ``duality_gap`` ``DG_beta(x, y) = max_x' J_beta(x', y) -
min_y' J_beta(x, y')`` (both best responses computed) and ``exploitability = DG_beta / 2``.
:func:`nash_conv` is OpenSpiel's NashConv in the payoff units of ``A`` (``= 2c DG_0``).
The same formulas in :func:`polopt.certificates.matrix_game_gaps` are an independent,
vectorised implementation; ``tests/test_matrix_game.py`` checks that the two agree and that
both agree with OpenSpiel.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy.optimize import linprog
from scipy.special import log_softmax, logsumexp, rel_entr, softmax

from .._threads import single_threaded
from .._validation import as_distribution, as_scalar
from ..oracles.preference import best_response_value
from ..problems import PreferenceGame
from ..problems.matrix_game import MatrixGame, StrategyPair
from ._ipm import solve_convex, to_simplex

__all__ = [
    "MatrixNashResult",
    "MatrixRegNashResult",
    "as_strategy_pair",
    "duality_gap",
    "exploitability",
    "nash",
    "nash_conv",
    "nash_is_unique",
    "nash_lp",
    "regularized_nash",
]

#: Duality gap (normalized units) the embedding solver must certify before it returns.
NASH_TOL = 1e-9
#: Newton vs cvxpy (method="both"): f = DG_beta is beta-strongly convex in (x, y) in l1 (each KL
#: is 1-strongly convex), so a conic-solver gap eps bounds the error by sqrt(2 eps / beta); the
#: same allowance as the preference-game solver's (polopt.exact.games.CVXPY_AGREEMENT).
CVXPY_AGREEMENT = 1e-5
#: Continuation ratios between beta levels of the Newton solver, tried in turn (as for preference games).
_CONTINUATION_FACTORS = (4.0, 1.25)


class MatrixNashResult(NamedTuple):
    """An unregularized equilibrium ``policy = (x, y)`` with its certificate.

    ``value``: the game value in the units of ``A``, ``x^T A y`` at the equilibrium;
    ``duality_gap``: ``DG_0(x, y)`` (normalized); ``method``: "embedding" (the symmetric fast
    solver certified), "lp" or "lp (fallback)"; ``support``: ``(rows, cols)`` with positive
    weight; ``num_iter``: interior-point iterations of the symmetric solver (0 for the LP).
    """

    policy: StrategyPair
    value: float
    duality_gap: float
    method: str
    support: tuple[np.ndarray, np.ndarray]
    num_iter: int = 0


class MatrixRegNashResult(NamedTuple):
    """The beta-regularized equilibrium ``policy = (x*, y*)``; ``exploitability`` (certificate),
    ``num_iter`` (Newton steps, all levels), ``method``, ``residual`` (sup-norm of the stacked
    fixed-point residual), ``cross_check`` (Newton vs cvxpy sup-norm distance, method="both")."""

    policy: StrategyPair
    exploitability: float
    num_iter: int
    method: str
    residual: float
    cross_check: float | None = None


# --------------------------------------------------------------------------- validation
def as_matrix_game(game) -> MatrixGame:
    """A :class:`MatrixGame`, or a payoff matrix ``A`` [m, n] (validated by the constructor)."""
    if isinstance(game, MatrixGame):
        return game
    if isinstance(game, (np.ndarray, list, tuple)):
        return MatrixGame(game)
    raise TypeError(f"game must be a MatrixGame or a payoff matrix A [m, n], got {type(game).__name__}")


def as_strategy_pair(game: MatrixGame, policy, name: str = "policy") -> StrategyPair:
    """``(x [m], y [n])`` validated as distributions (read-only copies); TypeError/ValueError naming ``name``."""
    if not (isinstance(policy, (tuple, list)) and len(policy) == 2):
        raise TypeError(f"{name} must be a pair (x [{game.num_rows}], y [{game.num_cols}]) of the two players' "
                        f"strategies, got {type(policy).__name__}")
    return StrategyPair(as_distribution(f"{name}[0]", policy[0], (game.num_rows,)),
                        as_distribution(f"{name}[1]", policy[1], (game.num_cols,)))


def _beta(game: MatrixGame, beta) -> float:
    return game.beta if beta is None else as_scalar("beta", beta, low=0.0)


# --------------------------------------------------------------------------- certificates
def _kl(p: np.ndarray, q: np.ndarray) -> float:
    return max(float(rel_entr(p, q).sum()), 0.0)


def _best_values(game: MatrixGame, x: np.ndarray, y: np.ndarray, beta: float) -> tuple[float, float]:
    """``(max_x' J_beta(x', y), min_y' J_beta(x, y'))``, each best response computed on its own."""
    G = game.G
    reg_x = beta * _kl(x, game.mu_row) if beta > 0 else 0.0
    reg_y = beta * _kl(y, game.mu_col) if beta > 0 else 0.0
    best_row = best_response_value(G @ y, game.mu_row, beta) + reg_y
    best_col = -best_response_value(-(x @ G), game.mu_col, beta) - reg_x
    return best_row, best_col


def duality_gap(game, policy, beta: float | None = None) -> float:
    """``DG_beta(x, y) = max_x' J_beta(x', y) - min_y' J_beta(x, y')`` (normalized units, >= 0).

    ``beta = 0``: ``max_i (G y)_i - min_j (x^T G)_j``. Zero exactly at an equilibrium.
    """
    game = as_matrix_game(game)
    x, y = as_strategy_pair(game, policy)
    hi, lo = _best_values(game, x, y, _beta(game, beta))
    return hi - lo


def exploitability(game, policy, beta: float | None = None) -> float:
    """``DG_beta(x, y) / 2``: the mean of the two players' gains from deviating (normalized units).

    For a symmetric pair ``(pi, pi)`` of ``MatrixGame(P - 1/2, scale=1/2)`` it equals the preference
    game's ``f_beta(pi)``; OpenSpiel's exploitability of ``(x, y)`` on ``A`` is ``2c`` times it.
    """
    return 0.5 * duality_gap(game, policy, beta)


def nash_conv(game, policy) -> float:
    """OpenSpiel's NashConv of ``(x, y)`` in the payoff units of ``A``: ``sum_i (u_i(BR_i, s_-i) - u_i(s))``.

    ``= [max_i (A y)_i - x^T A y] + [x^T A y - min_j (x^T A)_j] = 2c DG_0(x, y)``; OpenSpiel's
    ``exploitability`` is half of it (Lanctot et al., arXiv 1711.00832, §3.1;
    ``open_spiel.python.algorithms.exploitability.nash_conv``).
    """
    game = as_matrix_game(game)
    x, y = as_strategy_pair(game, policy)
    return float(np.max(game.A @ y) - np.min(x @ game.A))


# --------------------------------------------------------------------------- unregularized Nash
def _certified(game: MatrixGame, x: np.ndarray, y: np.ndarray, method: str, num_iter: int = 0) -> MatrixNashResult:
    hi, lo = _best_values(game, x, y, 0.0)
    return MatrixNashResult(StrategyPair(x, y), float(x @ game.A @ y), hi - lo, method,
                            (np.flatnonzero(x > 0), np.flatnonzero(y > 0)), num_iter)


def _lp_row(G: np.ndarray) -> np.ndarray:
    """HiGHS on ``max v s.t. G^T x >= v 1, x in simplex`` (variables ``[x, v]``): the maximizer's strategy."""
    m, n = G.shape
    c = np.zeros(m + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-G.T, np.ones((n, 1))])
    A_eq = np.concatenate([np.ones(m), [0.0]])[None, :]
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(n), A_eq=A_eq, b_eq=[1.0], bounds=[(0.0, None)] * m + [(None, None)],
                  method="highs", options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    if res.status != 0:  # the LP is always feasible and bounded; a failure is a solver problem
        raise RuntimeError(f"HiGHS failed on the matrix-game LP: {res.message}")
    return to_simplex(res.x[:m])


def nash_lp(game) -> MatrixNashResult:
    """Unregularized equilibrium by two linear programs (SciPy HiGHS), one per player.

    .. math:: \\max_{x \\in \\Delta_m, v} v \\;\\text{s.t.}\\; G^\\top x \\ge v \\mathbf 1,
              \\qquad \\min_{y \\in \\Delta_n, w} w \\;\\text{s.t.}\\; G y \\le w \\mathbf 1

    (the column player's LP is the row LP of ``-G^T``). Reference: von Neumann's minimax theorem;
    Dantzig (1951), "A proof of the equivalence of the programming problem and the game problem".
    """
    game = as_matrix_game(game)
    return _certified(game, _lp_row(game.G), _lp_row(-game.G.T), "lp")


def symmetric_embedding(G: np.ndarray) -> np.ndarray:
    """The preference matrix ``1/2 + S / (2 max|S|)`` [m+n+1, m+n+1] of the Gale-Kuhn-Tucker embedding.

    ``S = [[0, B, -1], [-B^T, 0, 1], [1^T, -1^T, 0]]`` with ``B = G - min G + 1`` (entries in [1, 2]).
    """
    m, n = G.shape
    B = G - G.min() + 1.0
    K = m + n + 1
    S = np.zeros((K, K))
    S[:m, m:m + n] = B
    S[m:m + n, :m] = -B.T
    S[:m, -1], S[-1, :m] = -1.0, 1.0
    S[m:m + n, -1], S[-1, m:m + n] = 1.0, -1.0
    return 0.5 + S / (2.0 * B.max())


def nash(game, method: str = "auto", tol: float = NASH_TOL) -> MatrixNashResult:
    """Unregularized equilibrium ``(x, y)``, certified: ``duality_gap <= tol`` or the LP answer.

    Methods: "auto" — the symmetric embedding (module docstring) solved by the fast certified
    solver :func:`polopt.exact.games.nash`, re-certified on ``G``; HiGHS (:func:`nash_lp`,
    ``method = "lp (fallback)"``) when that gap exceeds ``tol``. "lp" — :func:`nash_lp`.
    """
    from .games import nash as symmetric_nash
    from .games import nash_args

    game = as_matrix_game(game)
    tol = nash_args(method, tol)
    if method == "lp":
        return nash_lp(game)
    m, n = game.shape
    # a symmetric gap delta of the embedding bounds the gap in G by 2 delta max B / sigma <= 16 delta
    # (max B <= 2, sigma = 1 / (2 + v_B) >= 1/4); the certificate below decides in any case
    sym = symmetric_nash(PreferenceGame(symmetric_embedding(game.G)), tol=tol / 16.0)
    z = sym.policy
    p, q = z[:m], z[m:m + n]
    if p.sum() > 0 and q.sum() > 0:
        res = _certified(game, p / p.sum(), q / q.sum(), "embedding", sym.num_iter)
        if res.duality_gap <= tol:
            return res
    return nash_lp(game)._replace(method="lp (fallback)", num_iter=sym.num_iter)


def nash_is_unique(game, tol: float = 1e-9) -> bool:
    """Whether the unregularized matrix game has a unique equilibrium.

    The equilibrium pairs of ``G`` are exactly the symmetric equilibria of the embedding
    (module docstring) rescaled: ``(x, y) -> (sigma x, sigma y, t)`` with ``sigma = 1 / (2 + v_B)``
    fixed by ``sum p + sum q + t = 1`` and ``t = sigma v_B`` (``v_B`` the value of ``B``), a
    bijection; so uniqueness is the rank test :func:`polopt.exact.games.is_unique_at` of the embedding.
    """
    from .games import is_unique_at
    from .games import nash as symmetric_nash

    game = as_matrix_game(game)
    P = symmetric_embedding(game.G)
    return is_unique_at(P - 0.5, symmetric_nash(PreferenceGame(P), tol=tol).policy, tol)


# --------------------------------------------------------------------------- regularized Nash
def _residual(G, log_mu_x, log_mu_y, beta, th_x, th_y):
    x, y = np.exp(th_x), np.exp(th_y)
    z_x = log_mu_x + (G @ y) / beta
    z_y = log_mu_y - (x @ G) / beta
    return np.concatenate([th_x - log_softmax(z_x), th_y - log_softmax(z_y)]), x, y, z_x, z_y


def _newton_level(G, log_mu_x, log_mu_y, beta, th_x, th_y, tol, max_iter):
    """Damped Newton (:func:`~polopt.exact.games.damped_newton`) on
    ``H = [th_x - lsm(log mu_x + G y / beta); th_y - lsm(log mu_y - G^T x / beta)]``.

    Jacobian ``I - [[0, (I - 1 q_x^T)(G / beta) D_y], [-(I - 1 q_y^T)(G^T / beta) D_x, 0]]`` with
    ``D = diag(p) - p p^T``, ``q = softmax(z)``.
    """
    from .games import damped_newton

    m, n = G.shape

    def evaluate(theta):
        tx, ty = theta[:m] - logsumexp(theta[:m]), theta[m:] - logsumexp(theta[m:])
        H, x, y, z_x, z_y = _residual(G, log_mu_x, log_mu_y, beta, tx, ty)
        return np.concatenate([tx, ty]), H, (x, y, z_x, z_y)

    def jacobian(aux):
        x, y, z_x, z_y = aux
        q_x, q_y = softmax(z_x), softmax(z_y)
        Dy = (G / beta) * y[None, :] - np.outer((G @ y) / beta, y)  # (G / beta)(diag(y) - y y^T)
        Dx = (G.T / beta) * x[None, :] - np.outer((x @ G) / beta, x)  # (G^T / beta)(diag(x) - x x^T)
        J = np.eye(m + n)
        J[:m, m:] -= Dy - np.outer(np.ones(m), q_x @ Dy)
        J[m:, :m] += Dx - np.outer(np.ones(n), q_y @ Dx)
        return J

    theta, _, res, steps = damped_newton(evaluate, jacobian, np.concatenate([th_x, th_y]),
                                         tol * (1.0 + 1.0 / beta), max_iter)
    return theta[:m], theta[m:], res, steps


@single_threaded()
def regularized_newton(game: MatrixGame, beta: float, tol: float = 1e-12, max_iter: int = 100, start=None):
    """Newton with continuation in beta (levels ``beta f^k, ..., beta`` from ``>= 1`` down, ``f`` = 4
    then 1.25), last resort: the convex program's solution polished by Newton at beta.
    ``start``: a strategy pair (default the references). Returns ``(x, y, residual, steps)``."""
    G = game.G
    log_mu_x, log_mu_y = np.log(game.mu_row), np.log(game.mu_col)
    x0, y0 = (game.mu_row, game.mu_col) if start is None else start
    tiny = np.finfo(np.float64).tiny
    steps, scale = 0, 1.0 + 1.0 / beta
    for factor in _CONTINUATION_FACTORS:
        levels = [beta]
        while levels[-1] < 1.0:
            levels.append(levels[-1] * factor)
        th_x, th_y = np.log(np.maximum(x0, tiny)), np.log(np.maximum(y0, tiny))
        for b in reversed(levels):
            th_x, th_y, res, k = _newton_level(G, log_mu_x, log_mu_y, b, th_x, th_y, tol, max_iter)
            steps += k
        if res <= tol * scale:
            return np.exp(th_x), np.exp(th_y), res, steps
    x, y, _ = regularized_convex_program(game, beta)
    th_x, th_y, res, k = _newton_level(G, log_mu_x, log_mu_y, beta, np.log(np.maximum(x, tiny)),
                                       np.log(np.maximum(y, tiny)), tol, max_iter)
    return np.exp(th_x), np.exp(th_y), res, steps + k


def regularized_convex_program(game: MatrixGame, beta: float):
    """``argmin DG_beta(x, y)`` over the product of simplices (Clarabel): returns ``(x, y, iterations)``.

    ``DG_beta = beta log sum mu_x exp(G y / beta) + beta KL(y||mu_y) + beta log sum mu_y exp(-G^T x / beta)
    + beta KL(x||mu_x)`` is jointly convex with minimum 0, attained exactly at the equilibrium.
    """
    import cvxpy as cp

    G = game.G
    m, n = G.shape
    x, y = cp.Variable(m, nonneg=True), cp.Variable(n, nonneg=True)
    obj = (beta * cp.log_sum_exp(G @ y / beta + np.log(game.mu_row)) + beta * cp.sum(cp.kl_div(y, game.mu_col))
           + beta * cp.log_sum_exp(-G.T @ x / beta + np.log(game.mu_col)) + beta * cp.sum(cp.kl_div(x, game.mu_row)))
    prob = cp.Problem(cp.Minimize(obj), [cp.sum(x) == 1, cp.sum(y) == 1])
    iters = solve_convex(prob, x, "regularized matrix game")
    return to_simplex(np.asarray(x.value, float)), to_simplex(np.asarray(y.value, float)), iters


def regularized_nash(game, beta: float | None = None, method: str = "newton", tol: float = 1e-12
                     ) -> MatrixRegNashResult:
    """The unique equilibrium ``(x*, y*)`` of the beta-regularized matrix game.

    .. math:: x^* \\propto \\mu_x \\exp(G y^* / \\beta), \\qquad y^* \\propto \\mu_y \\exp(-G^\\top x^* / \\beta)

    Methods: "newton" (stops at ``||H||_inf <= tol (1 + 1/beta)``; quadratic locally), "cvxpy"
    (:func:`regularized_convex_program`, accuracy ~1e-8), "both" (Newton, cross-checked against
    cvxpy: RuntimeError above :data:`CVXPY_AGREEMENT`). With uniform references this is the logit
    QRE of ``A`` at temperature ``2c beta`` (OpenSpiel's alpha-QRE at ``alpha = 2c beta``).

    Raises:
        ValueError: ``beta <= 0`` (use :func:`nash`), unknown method.
    """
    game = as_matrix_game(game)
    beta = as_scalar("beta", game.beta if beta is None else beta, low=0.0, low_open=True)
    tol = as_scalar("tol", tol, low=0.0, low_open=True)
    if method not in ("newton", "cvxpy", "both"):
        raise ValueError(f"method must be 'newton', 'cvxpy' or 'both', got {method!r}")
    if (game.mu_row <= 0).any() or (game.mu_col <= 0).any():
        raise ValueError("regularized_nash needs references > 0 for every action (it takes log(reference))")
    log_mu_x, log_mu_y = np.log(game.mu_row), np.log(game.mu_col)

    def residual(x, y):
        with np.errstate(divide="ignore"):
            H = _residual(game.G, log_mu_x, log_mu_y, beta, np.log(x), np.log(y))[0]
        return float(np.max(np.abs(H)))

    def certificate(x, y):
        hi, lo = _best_values(game, x, y, beta)
        return 0.5 * (hi - lo)

    if method == "cvxpy":
        x, y, iters = regularized_convex_program(game, beta)
        return MatrixRegNashResult(StrategyPair(x, y), certificate(x, y), iters, "cvxpy", residual(x, y))
    x, y, res, steps = regularized_newton(game, beta, tol)
    if not res <= tol * (1.0 + 1.0 / beta):
        from .._base import NotConvergedWarning

        warnings.warn(f"regularized_nash: fixed-point residual {res:.3g} above tol={tol:g} (1 + 1/beta)",
                      NotConvergedWarning, stacklevel=2)
    out = MatrixRegNashResult(StrategyPair(x, y), certificate(x, y), steps, method, res)
    if method == "both":
        xc, yc, _ = regularized_convex_program(game, beta)
        gap = float(max(np.max(np.abs(x - xc)), np.max(np.abs(y - yc))))
        if gap > CVXPY_AGREEMENT:
            raise RuntimeError(f"Newton and cvxpy disagree on the regularized equilibrium by {gap:.3g} "
                               f"> {CVXPY_AGREEMENT:g}")
        out = out._replace(cross_check=gap)
    return out
