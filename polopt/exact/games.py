"""Exact equilibria of symmetric preference games (float64).

Set-up: ``P[y, y'] = Pr(y > y')`` with ``P + P.T = 1``,
``S = P - 1/2`` skew-symmetric, reference ``mu``, KL coefficient ``beta >= 0``.

* **Unregularized game** (``beta = 0``). ``pi`` is a (symmetric) Nash equilibrium iff
  ``max_y (P pi)(y) <= 1/2``, i.e. ``S pi <= 0``; the equilibrium set is the polytope
  ``{pi in simplex : S pi <= 0}`` and the game value is 1/2. Multiplying ``S pi <= 0`` by
  ``pi >= 0`` and using ``pi.S pi = 0`` gives complementarity: ``(S pi)(y) = 0`` on the
  support. :func:`nash_lp` solves the LP with HiGHS; :func:`nash` runs a primal-dual
  interior point method on the self-dual form of the LP and crosses over to the exact
  solution of the equilibrium equations on the identified support, certified by the
  duality gap (HiGHS fallback).
* **Regularized game** (``beta > 0``). The unique equilibrium solves the fixed point
  ``pi ∝ mu exp(P pi / beta)`` (Munos et al., "Nash Learning from Human Feedback",
  arXiv 2312.00886, §4); :func:`regularized_nash` solves it by Newton's method in the log
  domain and cross-checks it with an exponential-cone program in cvxpy.

Certificates: exploitability ``f_beta(pi) = max_pi' J_beta(pi', pi) - 1/2`` and the two-sided
duality gap, which equals ``2 f_beta(pi)`` for this symmetric game (``tests/test_games.py``
checks the identity on generated games). They are computed here by small pure functions
(``exact`` is below ``certificates`` in the layering and does not import it); the same
formulas in :mod:`polopt.certificates` are an independent implementation, and
``tests/test_games.py`` checks that the two agree.

Threads: the dense kernels (interior point, Newton, the uniqueness SVD) run with one BLAS
thread (:func:`polopt._threads.single_threaded`): on 2-core machines a second thread made
them 2-4x slower whenever another process was running (bench/results/threads.json).
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
from ..problems import MatrixGame, PreferenceGame
from . import matrix_game as _matrix
from ._ipm import interior_point, solve_convex, to_simplex

__all__ = [
    "BestResponse",
    "NashResult",
    "RegNashResult",
    "best_response",
    "duality_gap",
    "exploitability",
    "fixed_point_residual",
    "is_unique_at",
    "nash",
    "nash_is_unique",
    "nash_lp",
    "nash_ranges",
    "regularized_convex_program",
    "regularized_nash",
    "regularized_newton",
]

#: Duality gap the fast solver must certify before it returns (the LP fallback is used otherwise).
NASH_TOL = 1e-9
#: Ties in the best response to ``pi`` (beta = 0): actions within this of the max payoff.
BR_TIE_TOL = 1e-12
#: Newton vs cvxpy (method="both"): largest allowed sup-norm difference. The conic solver is
#: run with gap tolerance 1e-12; f_beta is beta-strongly convex in l1, so a gap eps bounds the
#: policy error by sqrt(2 eps / beta) (1.4e-5 at beta = 0.01); measured 5e-9 on perturbed RPS.
CVXPY_AGREEMENT = 1e-5
#: Clarabel tolerances for the cross-check (its defaults, 1e-8, leave ~1e-6 policy error).


class NashResult(NamedTuple):
    """An unregularized Nash equilibrium with its certificate.

    Attributes:
        policy: equilibrium ``pi`` [K] (on the simplex).
        value: payoff ``pi`` guarantees, ``min_j (P.T pi)(j) = 1/2 - duality_gap / 2``
            (the game value is 1/2).
        duality_gap: ``DG_0(pi) = 2 max_y (P pi)(y) - 1`` (:func:`duality_gap` at ``beta = 0``).
        method: how it was certified ("ipm_crossover", "interior_point", "lp", "lp (fallback)").
        support: sorted indices ``{y : pi(y) > 0}``.
        num_iter: interior-point iterations (0 for the LP).
    """

    policy: np.ndarray
    value: float
    duality_gap: float
    method: str
    support: np.ndarray
    num_iter: int = 0


class RegNashResult(NamedTuple):
    """The beta-regularized equilibrium ``pi*_beta``.

    Attributes:
        policy: ``pi*_beta`` [K]; exploitability: ``f_beta(policy)`` (certificate);
        num_iter: Newton steps (all continuation levels) or conic-solver iterations;
        method: "newton", "cvxpy" or "both"; residual: ``||theta - log_softmax(log mu +
        P pi / beta)||_inf`` at the returned policy (``theta = log pi``);
        cross_check: sup-norm distance Newton vs cvxpy (method="both"), else None.
    """

    policy: np.ndarray
    exploitability: float
    num_iter: int
    method: str
    residual: float
    cross_check: float | None = None


class BestResponse(NamedTuple):
    """Best response to ``pi``: ``policy`` [K] and ``value = max_pi' J_beta(pi', pi)``."""

    policy: np.ndarray
    value: float


# --------------------------------------------------------------------------- validation
def _as_game(game) -> PreferenceGame:
    """A :class:`PreferenceGame`, or a preference matrix ``P`` [K, K] (validated by the constructor)."""
    if isinstance(game, PreferenceGame):
        return game
    if isinstance(game, np.ndarray) or isinstance(game, (list, tuple)):
        return PreferenceGame(game)
    raise TypeError(f"game must be a PreferenceGame or a preference matrix P [K, K], got {type(game).__name__}")


def _as_policy(game: PreferenceGame, pi) -> np.ndarray:
    return as_distribution("pi", pi, (game.num_actions,))


def _beta(game: PreferenceGame, beta) -> float:
    return game.beta if beta is None else as_scalar("beta", beta, low=0.0)


# --------------------------------------------------------------------------- certificates
def _kl(p: np.ndarray, q: np.ndarray) -> float:
    """``KL(p || q)`` (``0 log 0 = 0``), floored at 0 against round-off of the sum."""
    return max(float(rel_entr(p, q).sum()), 0.0)


def _exploitability(P: np.ndarray, pi: np.ndarray, mu: np.ndarray | None, beta: float) -> float:
    reg = beta * _kl(pi, mu) if beta > 0 else 0.0
    return best_response_value(P @ pi, mu, beta) + reg - 0.5


def _duality_gap(P: np.ndarray, pi: np.ndarray, mu: np.ndarray | None, beta: float) -> float:
    """Both best responses computed separately (not ``2 f``), so the identity stays checkable."""
    reg = beta * _kl(pi, mu) if beta > 0 else 0.0
    best_max = best_response_value(P @ pi, mu, beta) + reg
    best_min = -best_response_value(-(pi @ P), mu, beta) - reg
    return best_max - best_min


def exploitability(game, pi, beta: float | None = None) -> float:
    """``f_beta(pi) = max_pi' J_beta(pi', pi) - 1/2`` with the game's ``mu`` (and ``beta`` unless given).

    ``f_beta(pi) = beta log sum_y mu(y) exp((P pi)(y) / beta) + beta KL(pi||mu) - 1/2``;
    ``f_0(pi) = max_y (P pi)(y) - 1/2``. Zero exactly at the equilibrium.

    A :class:`~polopt.problems.MatrixGame` takes a strategy pair ``pi = (x, y)``:
    :func:`polopt.exact.matrix_game.exploitability`.

    Raises:
        ValueError: ``pi`` is not a distribution of shape [K] (message names ``pi``).
    """
    if isinstance(game, MatrixGame):
        return _matrix.exploitability(game, pi, beta)
    game = _as_game(game)
    return _exploitability(game.P, _as_policy(game, pi), game.mu, _beta(game, beta))


def duality_gap(game, pi, beta: float | None = None) -> float:
    """Two-sided duality gap ``max_pi' J_beta(pi', pi) - min_pi'' J_beta(pi, pi'')`` of ``(pi, pi)``.

    For a symmetric constant-sum game it equals ``2 exploitability(game, pi)`` (derived,
    ``proofs/duality_gap_proof.py``; checked on hypothesis-generated games in ``tests/test_games.py``). A
    :class:`~polopt.problems.MatrixGame` takes a pair ``(x, y)``: :func:`polopt.exact.matrix_game.duality_gap`.
    """
    if isinstance(game, MatrixGame):
        return _matrix.duality_gap(game, pi, beta)
    game = _as_game(game)
    return _duality_gap(game.P, _as_policy(game, pi), game.mu, _beta(game, beta))


def best_response(game, pi, beta: float | None = None, tol: float = BR_TIE_TOL) -> BestResponse:
    """Best response of the max player to the opponent ``pi``.

    ``beta > 0``: the Gibbs policy ``mu exp(P pi / beta) / Z`` (computed in the log domain),
    ``value = beta log Z + beta KL(pi||mu)``. ``beta = 0``: uniform over
    ``{y : (P pi)(y) >= max (P pi) - tol}``, ``value = max_y (P pi)(y)``. In both cases
    ``value - 1/2 = exploitability(game, pi)``.
    """
    game = _as_game(game)
    pi = _as_policy(game, pi)
    beta = _beta(game, beta)
    payoff = game.P @ pi
    if beta > 0:
        logits = np.log(game.mu) + payoff / beta
        br = softmax(logits)
        value = beta * logsumexp(logits) + beta * _kl(pi, game.mu)
        return BestResponse(br, float(value))
    best = payoff.max()
    ties = payoff >= best - tol
    return BestResponse(ties / ties.sum(), float(best))


# --------------------------------------------------------------------------- unregularized Nash
def _certify(P: np.ndarray, pi: np.ndarray, method: str, num_iter: int = 0) -> NashResult:
    dg = _duality_gap(P, pi, None, 0.0)  # mu is not read at beta = 0
    value = float(np.min(pi @ P))
    return NashResult(pi, value, float(dg), method, np.flatnonzero(pi > 0), num_iter)


def _lp_policy(P: np.ndarray) -> np.ndarray:
    """HiGHS on ``max v s.t. P.T pi >= v 1, 1.pi = 1, pi >= 0`` (variables ``[pi, v]``)."""
    K = P.shape[0]
    c = np.zeros(K + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-P.T, np.ones((K, 1))])
    A_eq = np.concatenate([np.ones(K), [0.0]])[None, :]
    bounds = [(0.0, None)] * K + [(None, None)]
    res = linprog(
        c, A_ub=A_ub, b_ub=np.zeros(K), A_eq=A_eq, b_eq=[1.0], bounds=bounds, method="highs",
        options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
    )
    if res.status != 0:  # the LP is always feasible and bounded; a failure is a solver problem
        raise RuntimeError(f"HiGHS failed on the Nash LP: {res.message}")
    return to_simplex(res.x[:K])


def nash_lp(game) -> NashResult:
    """Unregularized equilibrium by linear programming (SciPy HiGHS).

    .. math:: \\max_{\\pi \\in \\Delta_K, v} v \\quad \\text{s.t.} \\quad P^\\top \\pi \\ge v \\mathbf{1}

    The optimal ``v`` is 1/2 because ``P + P.T = 1``. The returned policy is clipped to the
    simplex and its duality gap is certified by :func:`duality_gap` (``beta = 0``). Cost: a
    dense LP, ~12 s at K = 1000 on an idle 2-core machine (HiGHS does not use BLAS threads);
    use :func:`nash` for large K. Reference: von Neumann's minimax theorem; Dantzig (1951),
    "A proof of the equivalence of the programming problem and the game problem".
    A :class:`~polopt.problems.MatrixGame` is solved by :func:`polopt.exact.matrix_game.nash_lp`.
    """
    if isinstance(game, MatrixGame):
        return _matrix.nash_lp(game)
    game = _as_game(game)
    return _certify(game.P, _lp_policy(game.P), "lp")


def nash_args(method: str, tol) -> float:
    """The checked ``tol`` of a certified Nash solve, after checking ``method`` is "auto" or "lp"."""
    tol = as_scalar("tol", tol, low=0.0, low_open=True)
    if method not in ("auto", "lp"):
        raise ValueError(f"method must be 'auto' or 'lp', got {method!r}")
    return tol


def nash(game, method: str = "auto", tol: float = NASH_TOL, max_iter: int = 60) -> NashResult:
    """Unregularized Nash equilibrium, certified: ``duality_gap <= tol`` or an LP answer.

    Methods:
        "auto": primal-dual interior point on the self-dual game LP with crossover to the
            exact support solve (:func:`polopt.exact._ipm.interior_point`: one dense K x K LU
            per iteration, typically 10-20 iterations); ``method`` of the result is "ipm_crossover" when the
            support solve certified, "interior_point" when the interior iterate itself did,
            and "lp (fallback)" when neither reached ``tol`` in ``max_iter`` iterations
            (degenerate games, e.g. ties) and :func:`nash_lp` was used.
        "lp": :func:`nash_lp`.

    Returns:
        :class:`NashResult` whose ``duality_gap`` is recomputed by
        :func:`duality_gap` (``beta = 0``) on the returned policy; ``num_iter`` counts
        IPM iterations.

    Performance (bench/bench_games.py, 2-core machine, one BLAS thread): a random intransitive
    game with K = 1000 (support ~ K/2) takes 13 iterations (one dense LU each): ~0.35 s idle,
    against 12-28 s for HiGHS (the iterate certifies the gap 4e-10 <= tol before the support
    solve).

    A :class:`~polopt.problems.MatrixGame` ``A`` [m, n] is solved through its symmetric embedding by
    this solver (:func:`polopt.exact.matrix_game.nash`; a :class:`~.matrix_game.MatrixNashResult`).
    """
    if isinstance(game, MatrixGame):
        return _matrix.nash(game, method=method, tol=tol)
    game = _as_game(game)
    tol = nash_args(method, tol)
    if method == "lp":
        return nash_lp(game)
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0:
        raise ValueError(f"max_iter must be an int >= 0, got {max_iter!r}")
    P = game.P
    pi, how, iters = interior_point(P - 0.5, tol, int(max_iter))
    if pi is not None:
        res = _certify(P, pi, how, iters)
        if res.duality_gap <= tol:
            return res
    res = nash_lp(game)
    return res._replace(method="lp (fallback)", num_iter=iters)


def nash_ranges(game, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Per-coordinate range of the equilibrium set: ``lower[i] = min pi(i)``, ``upper[i] = max pi(i)``
    over the polytope ``{pi in simplex : P pi <= 1/2 + tol}`` (2K LPs, HiGHS).
    """
    game = _as_game(game)
    P = game.P
    K = P.shape[0]
    lower, upper = np.empty(K), np.empty(K)
    A_eq = np.ones((1, K))
    b_ub = np.full(K, 0.5 + tol)
    for i in range(K):
        c = np.zeros(K)
        c[i] = 1.0
        for sign, out in ((1.0, lower), (-1.0, upper)):
            res = linprog(sign * c, A_ub=P, b_ub=b_ub, A_eq=A_eq, b_eq=[1.0], bounds=(0.0, None), method="highs")
            if res.status != 0:
                raise RuntimeError(f"HiGHS failed on a range LP: {res.message}")
            out[i] = res.x[i]
    return lower, upper


def nash_is_unique(game, tol: float = 1e-9, method: str = "rank") -> bool:
    """Whether the unregularized game has a unique Nash equilibrium.

    method="rank" (exact test, one equilibrium and one SVD): let ``pi`` be an equilibrium with
    support ``T`` and ``g = S pi``. The equilibrium is unique **iff** ``pi`` is strictly
    complementary (``g_j < 0`` for every ``j`` outside ``T``) and ``S[T, T]`` has a
    one-dimensional kernel. Proof sketch: for two equilibria ``pi, pi'``,
    ``pi'.S pi <= 0 <= -pi.S pi' = pi'.S pi``, so both are 0; hence ``pi'`` vanishes where
    ``g < 0`` and ``S pi' = 0`` on ``T``, so ``pi'_T`` lies in the kernel of ``S[T, T]``.
    Conversely a kernel of dimension >= 2 gives a direction ``u`` (``1.u = 0``) along which
    ``pi + t u`` stays an equilibrium for small ``t``; and by Goldman–Tucker a strictly
    complementary equilibrium always exists (average a strictly complementary primal–dual
    pair), so a unique one is strictly complementary. ``tol`` decides "zero" for weights,
    payoffs and singular values (relative to the largest).

    method="lp": 2K LPs (:func:`nash_ranges`); unique iff every range is below ``sqrt(tol)``
    (LP round-off ~1e-10 in the coordinates).

    A :class:`~polopt.problems.MatrixGame`: the rank test on its symmetric embedding
    (:func:`polopt.exact.matrix_game.nash_is_unique`).
    """
    if isinstance(game, MatrixGame):
        return _matrix.nash_is_unique(game, tol)
    game = _as_game(game)
    tol = as_scalar("tol", tol, low=0.0, low_open=True)
    if method == "lp":
        lower, upper = nash_ranges(game)
        return bool(np.max(upper - lower) <= np.sqrt(tol))
    if method != "rank":
        raise ValueError(f"method must be 'rank' or 'lp', got {method!r}")
    return is_unique_at(game.skew, nash(game, tol=tol).policy, tol)


@single_threaded()
def is_unique_at(S: np.ndarray, pi: np.ndarray, tol: float) -> bool:
    """The rank test of :func:`nash_is_unique` at an equilibrium ``pi`` of the game ``S = P - 1/2``.

    Valid at *any* equilibrium: a unique one is strictly complementary with a one-dimensional
    kernel, and the proof above shows any equilibrium passing the test is the only one. One
    SVD of the support block (25 ms at |T| = 500, one thread).
    """
    on = pi > tol
    g = S @ pi
    if np.any(g[~on] >= -tol):
        return False
    T = np.flatnonzero(on)
    sv = np.linalg.svd(S[np.ix_(T, T)], compute_uv=False)
    nullity = int(np.count_nonzero(sv <= tol * max(1.0, sv.max(initial=0.0))))
    return nullity == 1


# --------------------------------------------------------------------------- regularized Nash
def damped_newton(evaluate, jacobian, theta: np.ndarray, threshold: float, max_iter: int, on_step=None):
    """Newton on ``H(theta) = 0`` with backtracking on ``||H||_inf`` (Armijo factor 1e-4, halving to 1e-10).

    ``evaluate(theta) -> (theta, H, aux)`` (``theta`` possibly renormalized), ``jacobian(aux) -> J``;
    ``on_step(theta)`` after each accepted step. Stops at ``||H||_inf <= threshold``, after
    ``max_iter`` steps, at a singular ``J`` or when no step decreases the residual (its round-off
    floor: the caller checks the residual). Returns ``(theta, aux, residual, steps)``.
    """
    theta, H, aux = evaluate(theta)
    res = float(np.max(np.abs(H)))
    steps = 0
    while res > threshold and steps < max_iter:
        try:
            d = np.linalg.solve(jacobian(aux), -H)
        except np.linalg.LinAlgError:
            break
        alpha = 1.0
        while alpha > 1e-10:
            th_new, H_new, aux_new = evaluate(theta + alpha * d)
            res_new = float(np.max(np.abs(H_new)))
            if np.isfinite(res_new) and res_new <= (1.0 - 1e-4 * alpha) * res:
                break
            alpha *= 0.5
        else:
            break
        theta, H, aux, res = th_new, H_new, aux_new, res_new
        steps += 1
        if on_step is not None:
            on_step(theta)
    return theta, aux, res, steps


def _newton_level(P, log_mu, beta, theta, tol, max_iter, path):
    """Damped Newton (:func:`damped_newton`) on ``H(theta) = theta - log_softmax(log mu + P softmax(theta) / beta)``.

    Jacobian ``J = I - (I - 1 q^T) (P / beta) (diag(pi) - pi pi^T)``, ``q = softmax(log mu +
    P pi / beta)``; ``H(theta + c 1) = H(theta) + c 1`` so a root is normalized (``theta = log pi``).
    Returns ``(theta, residual, steps)``.
    """
    K = P.shape[0]

    def evaluate(th):
        th = th - logsumexp(th)  # H(th + c 1) = H(th) + c 1: keep theta = log pi
        pi = np.exp(th)
        z = log_mu + (P @ pi) / beta
        return th, th - log_softmax(z), (pi, z)

    def jacobian(aux):
        pi, z = aux
        q = softmax(z)
        D = (P / beta) * pi[None, :] - np.outer((P @ pi) / beta, pi)  # (P / beta)(diag(pi) - pi pi^T)
        return np.eye(K) - (D - np.outer(np.ones(K), q @ D))

    theta, _, res, steps = damped_newton(evaluate, jacobian, theta, tol * (1.0 + 1.0 / beta), max_iter,
                                         lambda th: path.append(np.exp(th)))
    return theta, res, steps


#: Continuation ratios between successive beta levels of the Newton solver, tried in turn.
_CONTINUATION_FACTORS = (4.0, 1.25)


@single_threaded()
def regularized_newton(P, mu, beta, tol=1e-12, max_iter=100, start=None):
    """Newton with continuation in beta: levels ``beta 4^k, ..., 4 beta, beta`` from ``>= 1`` down.

    Each level starts at the previous solution (``pi*_beta`` is smooth in beta), which keeps the
    undamped Newton step in its quadratic region for small beta. ``start``: initial policy
    (default ``mu``; zeros are floored at the smallest normal float in the log domain);
    ``max_iter``: Newton steps per level. Returns ``(pi, residual, steps, path)`` where ``path``
    [T+1, K] holds the start and every Newton iterate.
    """
    on = mu > 0
    if not on.all():
        # pi*(y) ∝ mu(y) exp(...) vanishes off supp(mu), and (P pi)(y) on supp(mu) only reads
        # P[supp, supp]: the equilibrium is the restricted game's, extended by zeros
        T = np.flatnonzero(on)
        sub_start = None if start is None else np.asarray(start)[T] / max(float(np.asarray(start)[T].sum()), 1e-300)
        pi_T, res, steps, path_T = regularized_newton(P[np.ix_(T, T)], mu[T] / mu[T].sum(), beta, tol, max_iter,
                                                       sub_start)
        pi = np.zeros(mu.size)
        pi[T] = pi_T
        path = np.zeros((path_T.shape[0], mu.size))
        path[:, T] = path_T
        if start is not None:
            path[0] = start
        return pi, res, steps, path
    log_mu = np.log(mu)
    start = mu if start is None else start
    path = [np.array(start, dtype=np.float64)]
    scale = 1.0 + 1.0 / beta
    steps = 0
    # A coarse continuation (x4 per level) is fast and usually enough; a level that leaves Newton
    # outside its quadratic region is retried with a finer one (x1.25); as a last resort the convex
    # program's solution (accurate to ~1e-8) is polished by Newton at beta.
    for factor in _CONTINUATION_FACTORS:
        levels = [beta]
        while levels[-1] < 1.0:
            levels.append(levels[-1] * factor)
        theta = np.log(np.maximum(start, np.finfo(np.float64).tiny))
        for b in reversed(levels):
            theta, res, k = _newton_level(P, log_mu, b, theta, tol, max_iter, path)
            steps += k
        if res <= tol * scale:
            return np.exp(theta - logsumexp(theta)), res, steps, np.array(path)
    pi_cvx, _ = regularized_convex_program(P, mu, beta)
    theta = np.log(np.maximum(pi_cvx, np.finfo(np.float64).tiny))
    theta, res, k = _newton_level(P, log_mu, beta, theta, tol, max_iter, path)
    return np.exp(theta - logsumexp(theta)), res, steps + k, np.array(path)


def regularized_convex_program(P, mu, beta):
    """``argmin_pi beta log sum mu exp(P pi / beta) + beta KL(pi||mu)`` over the simplex (Clarabel).

    The objective is ``f_beta(pi) + 1/2`` (convex: log-sum-exp of an affine map plus KL);
    its minimum 1/2 is attained exactly at ``pi*_beta``.
    """
    import cvxpy as cp

    on = mu > 0
    if not on.all():  # zero reference mass forces pi(y) = 0 (see regularized_newton)
        T = np.flatnonzero(on)
        pi_T, iters = regularized_convex_program(P[np.ix_(T, T)], mu[T] / mu[T].sum(), beta)
        pi = np.zeros(mu.size)
        pi[T] = pi_T
        return pi, iters
    K = P.shape[0]
    pi = cp.Variable(K, nonneg=True)
    obj = beta * cp.log_sum_exp(P @ pi / beta + np.log(mu)) + beta * cp.sum(cp.kl_div(pi, mu))
    prob = cp.Problem(cp.Minimize(obj), [cp.sum(pi) == 1])
    iters = solve_convex(prob, pi, "regularized game")
    return to_simplex(np.asarray(pi.value, dtype=np.float64)), iters


def regularized_nash(game, beta: float | None = None, method: str = "newton", tol: float = 1e-12) -> RegNashResult:
    """The unique equilibrium ``pi*_beta`` of the beta-regularized game.

    .. math:: \\pi^*_\\beta \\propto \\mu \\exp(P \\pi^*_\\beta / \\beta)

    Methods:
        "newton": damped Newton on the centred logit fixed point ``G(theta) = theta - log mu -
            P softmax(theta) / beta`` (normalized by log-softmax), with continuation in beta;
            stops when ``||G||_inf <= tol (1 + 1/beta)``. Quadratic local convergence.
        "cvxpy": minimise ``f_beta(pi) = beta log sum mu exp(P pi / beta) + beta KL(pi||mu)``
            (exponential-cone program, Clarabel with gap tolerance 1e-12); accuracy ~1e-8.
        "both": Newton, cross-checked against cvxpy; raises RuntimeError if they differ by
            more than :data:`CVXPY_AGREEMENT` in sup-norm.

    Args:
        game: :class:`PreferenceGame` (``mu`` = its reference); beta: defaults to ``game.beta``,
            must be > 0.

    Raises:
        ValueError: ``beta <= 0`` (the unregularized game: use :func:`nash`), unknown method.

    Reference: Munos et al., arXiv 2312.00886 (§4, uniqueness).
    Checked against ``catalogue.RPS_REGULARIZED`` in ``tests/test_games.py``. A
    :class:`~polopt.problems.MatrixGame` is solved by :func:`polopt.exact.matrix_game.regularized_nash`.
    """
    if isinstance(game, MatrixGame):
        return _matrix.regularized_nash(game, beta, method, tol)
    game = _as_game(game)
    beta = game.beta if beta is None else beta
    beta = as_scalar("beta", beta, low=0.0, low_open=True)
    tol = as_scalar("tol", tol, low=0.0, low_open=True)
    if method not in ("newton", "cvxpy", "both"):
        raise ValueError(f"method must be 'newton', 'cvxpy' or 'both', got {method!r}")
    P, mu = game.P, game.mu
    if method == "cvxpy":
        pi, iters = regularized_convex_program(P, mu, beta)
        res = fixed_point_residual(P, mu, beta, pi)
        return RegNashResult(pi, _exploitability(P, pi, mu, beta), iters, "cvxpy", res)
    pi, res, steps, _ = regularized_newton(P, mu, beta, tol)
    if not res <= tol * (1.0 + 1.0 / beta):
        from .._base import NotConvergedWarning

        warnings.warn(f"regularized_nash: fixed-point residual {res:.3g} above tol={tol:g} (1 + 1/beta)",
                      NotConvergedWarning, stacklevel=2)
    out = RegNashResult(pi, _exploitability(P, pi, mu, beta), steps, method, res)
    if method == "both":
        pi_cvx, _ = regularized_convex_program(P, mu, beta)
        gap = float(np.max(np.abs(pi - pi_cvx)))
        if gap > CVXPY_AGREEMENT:
            raise RuntimeError(f"Newton and cvxpy disagree on pi*_beta by {gap:.3g} > {CVXPY_AGREEMENT:g}")
        out = out._replace(cross_check=gap)
    return out


def fixed_point_residual(P, mu, beta, pi) -> float:
    """``||log pi - log_softmax(log mu + P pi / beta)||_inf`` over ``supp(mu)`` (inf if ``pi`` leaves it
    or vanishes on it)."""
    on = mu > 0
    if np.any(pi[~on] > 0):
        return float("inf")
    with np.errstate(divide="ignore"):
        z = log_softmax(np.log(mu[on]) + (P[on] @ pi) / beta)
        return float(np.max(np.abs(np.log(pi[on]) - z)))
