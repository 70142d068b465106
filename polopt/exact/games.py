"""Exact equilibria of symmetric preference games (float64).

Set-up (shared/papers/games.md §1): ``P[y, y'] = Pr(y > y')`` with ``P + P.T = 1``,
``S = P - 1/2`` skew-symmetric, reference ``mu``, KL coefficient ``beta >= 0``.

* **Unregularized game** (``beta = 0``). ``pi`` is a (symmetric) Nash equilibrium iff
  ``max_y (P pi)(y) <= 1/2``, i.e. ``S pi <= 0``; the equilibrium set is the polytope
  ``{pi in simplex : S pi <= 0}`` and the game value is 1/2. Multiplying ``S pi <= 0`` by
  ``pi >= 0`` and using ``pi.S pi = 0`` gives complementarity: ``(S pi)(y) = 0`` on the
  support. :func:`nash_lp` solves the LP, :func:`nash` an active-set method certified by
  the duality gap.
* **Regularized game** (``beta > 0``). The unique equilibrium solves the fixed point
  ``pi ∝ mu exp(P pi / beta)`` (Munos et al., "Nash Learning from Human Feedback",
  arXiv 2312.00886, §4); :func:`regularized_nash` solves it by Newton's method in the log
  domain and cross-checks it with an exponential-cone program in cvxpy.

Certificates (:mod:`polopt.certificates`): exploitability ``f_beta(pi) = max_pi' J_beta(pi', pi)
- 1/2`` and the two-sided duality gap, which equals ``2 f_beta(pi)`` for this symmetric game
(``tests/test_games.py`` checks the identity on generated games).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy.linalg import LinAlgError, LinAlgWarning, lu_factor, lu_solve
from scipy.optimize import linprog
from scipy.special import log_softmax, logsumexp, softmax

from .. import certificates
from .._validation import as_distribution, as_scalar
from ..problems import PreferenceGame

__all__ = [
    "BestResponse",
    "NashResult",
    "RegNashResult",
    "best_response",
    "duality_gap",
    "exploitability",
    "nash",
    "nash_is_unique",
    "nash_lp",
    "nash_ranges",
    "regularized_nash",
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
_CLARABEL_TOL = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}


class NashResult(NamedTuple):
    """An unregularized Nash equilibrium with its certificate.

    Attributes:
        policy: equilibrium ``pi`` [K] (on the simplex).
        value: payoff ``pi`` guarantees, ``min_j (P.T pi)(j) = 1/2 - duality_gap / 2``
            (the game value is 1/2).
        duality_gap: ``DG_0(pi) = 2 max_y (P pi)(y) - 1`` from :func:`polopt.certificates.duality_gap`.
        method: how it was found ("active_set", "lp", "lp (fallback)").
        support: sorted indices ``{y : pi(y) > 0}``.
        num_iter: active-set rounds (0 for the LP).
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
def exploitability(game, pi, beta: float | None = None) -> float:
    """``f_beta(pi) = max_pi' J_beta(pi', pi) - 1/2`` with the game's ``mu`` (and ``beta`` unless given).

    ``f_beta(pi) = beta log sum_y mu(y) exp((P pi)(y) / beta) + beta KL(pi||mu) - 1/2``;
    ``f_0(pi) = max_y (P pi)(y) - 1/2``. Zero exactly at the equilibrium.

    Raises:
        ValueError: ``pi`` is not a distribution of shape [K] (message names ``pi``).
    """
    game = _as_game(game)
    return certificates.exploitability(game.P, _as_policy(game, pi), game.mu, _beta(game, beta))


def duality_gap(game, pi, beta: float | None = None) -> float:
    """Two-sided duality gap ``max_pi' J_beta(pi', pi) - min_pi'' J_beta(pi, pi'')`` of ``(pi, pi)``.

    For a symmetric constant-sum game it equals ``2 exploitability(game, pi)`` (games.md §1
    [der]; checked on hypothesis-generated games in ``tests/test_games.py``).
    """
    game = _as_game(game)
    return certificates.duality_gap(game.P, _as_policy(game, pi), game.mu, _beta(game, beta))


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
        value = beta * logsumexp(logits) + beta * float(certificates.kl(pi, game.mu))
        return BestResponse(br, float(value))
    best = payoff.max()
    ties = payoff >= best - tol
    return BestResponse(ties / ties.sum(), float(best))


# --------------------------------------------------------------------------- unregularized Nash
def _certify(P: np.ndarray, pi: np.ndarray, method: str, num_iter: int = 0) -> NashResult:
    dg = certificates.duality_gap(P, pi, beta=0.0)
    value = float(np.min(pi @ P))
    return NashResult(pi, value, float(dg), method, np.flatnonzero(pi > 0), num_iter)


def _to_simplex(x: np.ndarray) -> np.ndarray:
    """Clip round-off negatives and renormalize (the certificate is computed on the result)."""
    x = np.clip(x, 0.0, None)
    return x / x.sum()


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
    return _to_simplex(res.x[:K])


def nash_lp(game) -> NashResult:
    """Unregularized equilibrium by linear programming (SciPy HiGHS).

    .. math:: \\max_{\\pi \\in \\Delta_K, v} v \\quad \\text{s.t.} \\quad P^\\top \\pi \\ge v \\mathbf{1}

    The optimal ``v`` is 1/2 because ``P + P.T = 1``. The returned policy is clipped to the
    simplex and its duality gap is certified by :func:`polopt.certificates.duality_gap`
    (``beta = 0``). Cost: a dense LP, ~12 s at K = 1000 (shared/PERFORMANCE.md); use
    :func:`nash` for large K. Reference: von Neumann's minimax theorem; Dantzig (1951),
    "A proof of the equivalence of the programming problem and the game problem".
    """
    game = _as_game(game)
    return _certify(game.P, _lp_policy(game.P), "lp")


def _support_solve(S: np.ndarray, T: np.ndarray) -> np.ndarray | None:
    """Solve ``S[T, T] pi_T = v 1, 1.pi_T = 1`` (bordered system); None if singular.

    For a skew ``S`` the bordered matrix is skew of size ``|T| + 1``, hence singular when
    ``|T|`` is even: generic equilibria have odd support. At a solution ``v = pi.S pi = 0``.
    """
    n = T.size
    B = np.empty((n + 1, n + 1))
    B[:n, :n] = S[np.ix_(T, T)]
    B[:n, n] = -1.0
    B[n, :n] = 1.0
    B[n, n] = 0.0
    rhs = np.zeros(n + 1)
    rhs[n] = 1.0
    try:
        with warnings.catch_warnings():  # an exactly singular block is reported by the None return
            warnings.simplefilter("ignore", LinAlgWarning)
            lu = lu_factor(B, check_finite=False)
        if np.min(np.abs(np.diag(lu[0]))) <= 1e-13 * max(1.0, np.max(np.abs(np.diag(lu[0])))):
            return None
        x = lu_solve(lu, rhs, check_finite=False)
    except (LinAlgError, ValueError):
        return None
    if not np.all(np.isfinite(x)):
        return None
    return x[:n]


def _optimistic_logits(S: np.ndarray, iters: int, eta: float) -> np.ndarray:
    """Optimistic multiplicative weights in self-play on the skew game, logits after ``iters`` steps.

    ``theta_{t+1} = theta_t + eta (2 S pi_t - S pi_{t-1})``, ``pi_t = softmax(theta_t)`` — one
    matrix-vector product per step (Rakhlin & Sridharan 2013, "Optimization, learning, and games
    with predictable sequences", arXiv 1311.1869; last-iterate convergence under a unique
    equilibrium: Wei, Lee, Zhang, Luo 2021, arXiv 2006.09517). Used only to rank actions.
    """
    theta = np.zeros(S.shape[0])
    g_prev = np.zeros(S.shape[0])
    for _ in range(iters):
        g = S @ softmax(theta)
        theta = theta + eta * (2.0 * g - g_prev)
        theta -= theta.max()
        g_prev = g
    return theta


def _check_support(S: np.ndarray, T: np.ndarray, tol: float):
    """Candidate equilibrium on support ``T`` and its defects.

    Returns ``(pi, negative, violated)``: ``pi`` [K] (None if the system is singular),
    positions in ``T`` with ``pi < 0`` and actions outside ``T`` with ``(S pi)_j > tol / 2``.
    """
    piT = _support_solve(S, T)
    if piT is None:
        return None, None, None
    K = S.shape[0]
    pi = np.zeros(K)
    pi[T] = piT
    g = S @ pi
    outside = np.ones(K, dtype=bool)
    outside[T] = False
    return pi, np.flatnonzero(piT < 0), np.flatnonzero(outside & (g > tol / 2))


def _active_set(P: np.ndarray, tol: float, max_rounds: int) -> tuple[np.ndarray | None, int]:
    """Active-set search for the support; returns (pi, rounds) or (None, rounds) on failure.

    1. Rank actions by the logits of optimistic MWU (a cheap approximate equilibrium).
    2. Try supports ``T = top-n`` for odd ``n`` near the estimated support size.
    3. Repair the best candidate: exchange the most negative weight for the most violated
       outside action (pairs keep ``|T|`` odd), and re-solve.
    Every candidate is accepted only if its duality gap (certificate) is ``<= tol``.
    """
    S = P - 0.5
    K = P.shape[0]
    iters = int(min(300, 40 + 4 * np.sqrt(K) * 5))
    theta = _optimistic_logits(S, iters, eta=2.0)
    order = np.argsort(-theta, kind="stable")
    pi_guess = softmax(theta)
    n0 = int(np.count_nonzero(pi_guess > 0.5 / K))
    n0 = min(K, max(1, n0 + (n0 % 2 == 0)))
    rounds = 0
    best = None
    for step in range(12):
        delta = (step + 1) // 2 * 2 * (1 if step % 2 else -1) if step else 0
        n = n0 + delta
        if n < 1 or n > K:
            continue
        rounds += 1
        T = np.sort(order[:n])
        pi, neg, viol = _check_support(S, T, tol)
        if pi is None:
            continue
        if neg.size == 0 and viol.size == 0:
            return pi, rounds
        score = neg.size + viol.size
        if best is None or score < best[0]:
            best = (score, T)
    if best is None:
        return None, rounds
    in_T = np.zeros(K, dtype=bool)
    in_T[best[1]] = True
    while rounds < max_rounds:
        rounds += 1
        T = np.flatnonzero(in_T)
        pi, neg, viol = _check_support(S, T, tol)
        if pi is None:
            return None, rounds
        if neg.size == 0 and viol.size == 0:
            return pi, rounds
        g = S @ pi
        if neg.size and viol.size:
            in_T[T[neg[np.argmin(pi[T[neg]])]]] = False
            in_T[viol[np.argmax(g[viol])]] = True
        elif neg.size:
            drop = T[neg[np.argsort(pi[T[neg]])[:2]]]
            if drop.size < 2:  # one negative weight: drop it and the smallest positive one
                pos = T[pi[T] > 0]
                drop = np.concatenate([drop, [pos[np.argmin(pi[pos])]]])
            in_T[drop] = False
        else:
            add = viol[np.argsort(-g[viol])[:2]]
            if add.size < 2:  # one violator: add it and the best-ranked action outside T
                rest = order[~in_T[order]]
                add = np.concatenate([add, [next(a for a in rest if a != add[0])]]) if rest.size > 1 else add
            in_T[add] = True
    return None, rounds


def nash(game, method: str = "auto", tol: float = NASH_TOL, max_rounds: int = 24) -> NashResult:
    """Unregularized Nash equilibrium, certified: ``duality_gap <= tol`` or an LP answer.

    Methods:
        "auto": active set — rank actions by optimistic MWU, guess the support ``T``, solve
            the equilibrium equations on it (``S[T, T] pi_T = 0``, ``1.pi_T = 1``; the
            bordered system of :func:`_support_solve`), check ``pi_T >= 0`` and
            ``(S pi)_j <= 0`` off ``T`` (i.e. the duality gap), repair ``T`` by exchanges;
            falls back to :func:`nash_lp` if no certified support is found in
            ``max_rounds`` rounds or the gap exceeds ``tol``.
        "lp": :func:`nash_lp`.

    Returns:
        :class:`NashResult` whose ``duality_gap`` is recomputed by
        :func:`polopt.certificates.duality_gap` on the returned policy.

    Performance (bench/bench_games.py): the active set certifies small games (K ~ 10) and
    games whose optimistic-MWU ranking already isolates the support; on random intransitive
    games with K >= 60 the ranking after a few hundred steps still misplaces a few actions
    (support weights down to ~1e-6 against payoff gaps ~1e-4) and the exchange repair falls
    back to the LP, so large K currently costs about one LP. A warm-started pivoting method
    (dense revised simplex on the (T, J) bordered systems) is the planned replacement.
    """
    game = _as_game(game)
    tol = as_scalar("tol", tol, low=0.0, low_open=True)
    if method == "lp":
        return nash_lp(game)
    if method != "auto":
        raise ValueError(f"method must be 'auto' or 'lp', got {method!r}")
    P = game.P
    pi, rounds = _active_set(P, tol, max_rounds)
    if pi is not None:
        res = _certify(P, _to_simplex(pi), "active_set", rounds)
        if res.duality_gap <= tol:
            return res
    res = nash_lp(game)
    return res._replace(method="lp (fallback)", num_iter=rounds)


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
    """
    game = _as_game(game)
    tol = as_scalar("tol", tol, low=0.0, low_open=True)
    if method == "lp":
        lower, upper = nash_ranges(game)
        return bool(np.max(upper - lower) <= np.sqrt(tol))
    if method != "rank":
        raise ValueError(f"method must be 'rank' or 'lp', got {method!r}")
    res = nash(game, tol=tol)
    pi = res.policy
    S = game.skew
    on = pi > tol
    g = S @ pi
    if np.any(g[~on] >= -tol):
        return False
    T = np.flatnonzero(on)
    sv = np.linalg.svd(S[np.ix_(T, T)], compute_uv=False)
    nullity = int(np.count_nonzero(sv <= tol * max(1.0, sv.max(initial=0.0))))
    return nullity == 1


# --------------------------------------------------------------------------- regularized Nash
def _newton_level(P, log_mu, beta, theta, tol, max_iter, path):
    """Damped Newton on ``H(theta) = theta - log_softmax(log mu + P softmax(theta) / beta) = 0``.

    Jacobian ``J = I - (I - 1 q^T) (P / beta) (diag(pi) - pi pi^T)``, ``q = softmax(log mu +
    P pi / beta)``; ``H(theta + c 1) = H(theta) + c 1`` so a root is normalized (``theta = log pi``).
    Backtracking on ``||H||_inf``. Returns ``(theta, residual, steps)``.
    """
    K = P.shape[0]
    scale = 1.0 + 1.0 / beta

    def H_of(th):
        th = th - logsumexp(th)  # H(th + c 1) = H(th) + c 1: keep theta = log pi
        pi = np.exp(th)
        z = log_mu + (P @ pi) / beta
        return th, th - log_softmax(z), pi, z

    theta, H, pi, z = H_of(theta)
    res = float(np.max(np.abs(H)))
    steps = 0
    while res > tol * scale and steps < max_iter:
        q = softmax(z)
        D = (P / beta) * pi[None, :] - np.outer((P @ pi) / beta, pi)  # (P / beta)(diag(pi) - pi pi^T)
        J = np.eye(K) - (D - np.outer(np.ones(K), q @ D))
        try:
            d = np.linalg.solve(J, -H)
        except np.linalg.LinAlgError:
            break
        alpha = 1.0
        while alpha > 1e-10:
            th_new, H_new, pi_new, z_new = H_of(theta + alpha * d)
            res_new = float(np.max(np.abs(H_new)))
            if np.isfinite(res_new) and res_new <= (1.0 - 1e-4 * alpha) * res:
                break
            alpha *= 0.5
        else:
            break  # no decrease: round-off floor or a bad level; the caller checks the residual
        theta, H, pi, z, res = th_new, H_new, pi_new, z_new, res_new
        steps += 1
        path.append(np.exp(theta))
    return theta, res, steps


def _regularized_newton(P, mu, beta, tol=1e-12, max_iter=100, start=None):
    """Newton with continuation in beta: levels ``beta 4^k, ..., 4 beta, beta`` from ``>= 1`` down.

    Each level starts at the previous solution (``pi*_beta`` is smooth in beta), which keeps the
    undamped Newton step in its quadratic region for small beta. ``start``: initial policy
    (default ``mu``; zeros are floored at the smallest normal float in the log domain);
    ``max_iter``: Newton steps per level. Returns ``(pi, residual, steps, path)`` where ``path``
    [T+1, K] holds the start and every Newton iterate.
    """
    log_mu = np.log(mu)
    levels = [beta]
    while levels[-1] < 1.0:
        levels.append(levels[-1] * 4.0)
    start = mu if start is None else start
    theta = np.log(np.maximum(start, np.finfo(np.float64).tiny))
    path = [np.array(start, dtype=np.float64)]
    steps = 0
    res = np.inf
    for b in reversed(levels):
        theta, res, k = _newton_level(P, log_mu, b, theta, tol, max_iter, path)
        steps += k
    return np.exp(theta - logsumexp(theta)), res, steps, np.array(path)


def _regularized_cvxpy(P, mu, beta):
    """``argmin_pi beta log sum mu exp(P pi / beta) + beta KL(pi||mu)`` over the simplex (Clarabel).

    The objective is ``f_beta(pi) + 1/2`` (convex: log-sum-exp of an affine map plus KL);
    its minimum 1/2 is attained exactly at ``pi*_beta``.
    """
    import cvxpy as cp

    K = P.shape[0]
    pi = cp.Variable(K, nonneg=True)
    obj = beta * cp.log_sum_exp(P @ pi / beta + np.log(mu)) + beta * cp.sum(cp.kl_div(pi, mu))
    prob = cp.Problem(cp.Minimize(obj), [cp.sum(pi) == 1])
    try:
        prob.solve(solver="CLARABEL", **_CLARABEL_TOL)
    except (cp.error.SolverError, ImportError):
        prob.solve(solver="SCS", eps=1e-10, max_iters=200000)
    if pi.value is None:
        raise RuntimeError(f"cvxpy could not solve the regularized game: status {prob.status}")
    iters = prob.solver_stats.num_iters if prob.solver_stats is not None else 0
    return _to_simplex(np.asarray(pi.value, dtype=np.float64)), int(iters or 0)


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

    Reference: Munos et al., arXiv 2312.00886 (§4, uniqueness); shared/papers/games.md §1–2.
    Checked against ``catalogue.RPS_REGULARIZED`` in ``tests/test_games.py``.
    """
    game = _as_game(game)
    beta = game.beta if beta is None else beta
    beta = as_scalar("beta", beta, low=0.0, low_open=True)
    tol = as_scalar("tol", tol, low=0.0, low_open=True)
    if method not in ("newton", "cvxpy", "both"):
        raise ValueError(f"method must be 'newton', 'cvxpy' or 'both', got {method!r}")
    P, mu = game.P, game.mu
    if method == "cvxpy":
        pi, iters = _regularized_cvxpy(P, mu, beta)
        res = _fixed_point_residual(P, mu, beta, pi)
        return RegNashResult(pi, certificates.exploitability(P, pi, mu, beta), iters, "cvxpy", res)
    pi, res, steps, _ = _regularized_newton(P, mu, beta, tol)
    out = RegNashResult(pi, certificates.exploitability(P, pi, mu, beta), steps, method, res)
    if method == "both":
        pi_cvx, _ = _regularized_cvxpy(P, mu, beta)
        gap = float(np.max(np.abs(pi - pi_cvx)))
        if gap > CVXPY_AGREEMENT:
            raise RuntimeError(f"Newton and cvxpy disagree on pi*_beta by {gap:.3g} > {CVXPY_AGREEMENT:g}")
        out = out._replace(cross_check=gap)
    return out


def _fixed_point_residual(P, mu, beta, pi) -> float:
    """``||log pi - log_softmax(log mu + P pi / beta)||_inf`` (inf if some ``pi(y) = 0``)."""
    with np.errstate(divide="ignore"):
        return float(np.max(np.abs(np.log(pi) - log_softmax(np.log(mu) + (P @ pi) / beta))))
