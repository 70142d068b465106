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
#: Interior point: fraction of the step to the boundary of ``pi, w >= 0`` (Mehrotra's choice).
_STEP_TO_BOUNDARY = 0.995
#: Interior point: Gondzio correctors per iteration (measured: 2 saves 2-3 of ~15 iterations at K = 1000).
_NUM_CORRECTORS = 2
#: Interior point: below this ``t = pi.w`` the support is tried even if the guess changed since the last iteration.
_CROSSOVER_T = 1e-7
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
    (``beta = 0``). Cost: a dense LP, ~12 s at K = 1000 on 2 cores; use
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


class _Newton(NamedTuple):
    """Factorization of the IPM Newton matrix ``M = diag(d) - S`` (see :func:`_interior_point`)."""

    lu: tuple
    a: np.ndarray  # M^{-1} 1
    a_sum: float  # 1.M^{-1} 1 > 0 (M has positive definite symmetric part diag(d))


def _newton_factor(S: np.ndarray, d: np.ndarray, work: np.ndarray) -> _Newton:
    """LU of ``M = diag(d) - S`` written into ``work`` [K, K] (no new K x K allocation per iteration)."""
    np.negative(S, out=work)
    work.flat[:: S.shape[0] + 1] += d  # S has a zero diagonal
    lu = lu_factor(work, overwrite_a=True, check_finite=False)
    a = lu_solve(lu, np.ones(S.shape[0]), check_finite=False)
    return _Newton(lu, a, float(a.sum()))


def _newton_direction(S: np.ndarray, fac: _Newton, pi: np.ndarray, rc: np.ndarray):
    """Solve the bordered Newton system for ``(dpi, dt)`` and return ``(dpi, dt, dw)``.

    ``(W - Pi S) dpi + pi dt = rc`` and ``1.dpi = 0``; dividing row ``i`` by ``pi_i`` gives
    ``M dpi + 1 dt = rc / pi`` with ``M = diag(w / pi) - S``. Eliminating ``dt``:
    ``dpi = b - dt a`` with ``b = M^{-1}(rc / pi)``, ``a = M^{-1} 1`` and ``dt = 1.b / 1.a``
    (so that ``1.dpi = 0``). ``dw = -S dpi + dt 1`` keeps ``w = -S pi + t 1`` exact.
    """
    b = lu_solve(fac.lu, rc / pi, check_finite=False)
    dt = float(b.sum()) / fac.a_sum
    dpi = b - dt * fac.a
    return dpi, dt, dt - S @ dpi


def _max_step(x: np.ndarray, dx: np.ndarray) -> float:
    """Largest ``alpha <= 1`` with ``x + alpha dx >= 0`` (``x > 0``)."""
    neg = dx < 0
    return min(1.0, float(np.min(-x[neg] / dx[neg]))) if neg.any() else 1.0


def _centrality_correctors(S, fac: _Newton, pi, w, direction, target: float):
    """Gondzio's multiple centrality correctors on top of Mehrotra's direction.

    Take a trial step ``1.5 alpha + 0.1`` (capped at 1) along the direction, push the products
    ``pi * w`` there back into ``[0.1, 10] * sigma mu`` by one extra solve with the same LU, and
    keep the corrected direction while it lengthens the step by at least 0.01. Each corrector
    costs two triangular solves and a matrix-vector product, against one LU per iteration; it
    saves 2-3 iterations at K = 1000. Reference: Gondzio 1996, "Multiple centrality corrections
    in a primal-dual method for linear programming", Comput. Optim. Appl. 6.
    Returns ``(dpi, dt, dw, alpha)`` with ``alpha`` the largest feasible step.
    """
    dpi, dt, dw = direction
    alpha = min(_max_step(pi, dpi), _max_step(w, dw))
    for _ in range(_NUM_CORRECTORS):
        trial = min(1.0, 1.5 * alpha + 0.1)
        v = (pi + trial * dpi) * (w + trial * dw)
        rc = np.maximum(np.clip(v, 0.1 * target, 10.0 * target) - v, -10.0 * target)
        cpi, ct, cw = _newton_direction(S, fac, pi, rc)
        longer = min(_max_step(pi, dpi + cpi), _max_step(w, dw + cw))
        if longer < alpha + 0.01:
            break
        dpi, dt, dw, alpha = dpi + cpi, dt + ct, dw + cw, longer
    return dpi, dt, dw, alpha


def _crossover(S: np.ndarray, T: np.ndarray, tol: float) -> np.ndarray | None:
    """Exact equilibrium on the guessed support ``T``, or None if it is not one.

    On the support of an equilibrium ``(S pi)_T = 0`` (complementarity, module docstring), so
    ``pi_T`` solves the bordered system of :func:`_support_solve`. The candidate is accepted
    only if ``pi_T >= 0`` and its certified duality gap ``2 max_y (S pi)(y)`` is ``<= tol``.
    """
    if T.size == 0:
        return None
    piT = _support_solve(S, T)
    if piT is None or np.any(piT < 0):
        return None
    pi = np.zeros(S.shape[0])
    pi[T] = piT
    pi = _to_simplex(pi)
    return pi if certificates.duality_gap(S + 0.5, pi, beta=0.0) <= tol else None


def _interior_point(S: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray | None, str, int]:
    """Primal-dual interior point on the symmetric game LP, with crossover to the exact support.

    **LP.** With ``w = -S pi + t 1`` (``S = P - 1/2``, so ``(P pi)(y) - 1/2 = (S pi)(y)``)::

        min t   s.t.   w = t 1 - S pi >= 0,   1.pi = 1,   pi >= 0.

    Its optimum is ``t = 0`` and the optimal ``pi`` are exactly the equilibria. Because ``S`` is
    skew, ``pi.S pi = 0`` and the complementarity gap is ``pi.w = t`` for every feasible point:
    the LP is self-dual (its dual is the same problem), so a primal-dual method needs only the
    ``K + 1`` unknowns ``(pi, t)``; ``w`` is recomputed from its definition, and every iterate
    is feasible (``1.pi = 1`` is kept by the direction, positivity by the step length).

    **Newton step** on the central path ``pi * w = sigma mu 1`` (``mu = t / K``):
    ``(W - Pi S) dpi + pi dt = sigma mu 1 - pi * w [- dpi_aff * dw_aff]``, ``1.dpi = 0``; one
    LU of ``M = diag(w / pi) - S`` [K, K] per iteration serves Mehrotra's predictor and
    corrector (``sigma = (mu_aff / mu)^3``; Mehrotra 1992, "On the implementation of a
    primal-dual interior point method", SIAM J. Optim. 2(4); Wright 1997, "Primal-Dual
    Interior-Point Methods", ch. 10). ``M`` is nonsingular: its symmetric part is ``diag(w / pi)``.

    **Crossover.** The IPM converges to the analytic centre of the optimal face, which is
    strictly complementary (Goldman–Tucker): ``pi > 0`` exactly on the support ``T``, ``w > 0``
    off it. The support is guessed with the Tapia indicator of the affine direction (El-Bakry,
    Tapia, Zhang 1994, "A study of indicators for identifying zero variables in interior-point
    methods", SIAM Rev. 36(1)): ``pi_i`` is on the support when its predicted relative decrease
    ``-dpi_i / pi_i`` is smaller than that of ``w_i``. Given ``T`` the equilibrium is the solution
    of the linear system ``(S pi)_T = 0``, ``1.pi_T = 1`` (:func:`_crossover`), exact to round-off,
    and it is accepted only with a certified gap. For a unique equilibrium ``|T|`` is odd
    (``S[T, T]`` is skew with a one-dimensional kernel), so only odd guesses are tried.

    Returns ``(pi, how, iterations)``: ``how`` = "ipm_crossover" (support solve certified) or
    "interior_point" (the iterate itself certifies: its gap ``2 max (S pi) = 2 max (t - w) <= 2 t``);
    ``pi`` is None when neither certified ``tol`` within ``max_iter`` iterations.
    """
    K = S.shape[0]
    pi = np.full(K, 1.0 / K)
    Spi = S @ pi
    t = max(0.0, float(Spi.max())) + 1.0  # w >= 1 at the start: a well-centred interior point
    w = t - Spi
    work = np.empty((K, K))
    tried = previous = None
    for it in range(max_iter + 1):
        if 2.0 * float(np.max(t - w)) <= tol:  # the iterate certifies; prefer the exact support solve
            for guess in (pi > w, previous):  # ratio test, then the last Tapia guess
                pi_x = None if guess is None else _crossover(S, np.flatnonzero(guess), tol)
                if pi_x is not None:
                    return pi_x, "ipm_crossover", it
            return pi, "interior_point", it
        if it == max_iter:
            break
        mu = t / K
        fac = _newton_factor(S, w / pi, work)
        dpi, dt, dw = _newton_direction(S, fac, pi, -pi * w)  # affine (predictor) direction
        # Tapia indicator: on the support dpi / pi -> 0 and dw / w -> -1; off it the reverse.
        # A support solve costs a |T|^3 LU, so it is tried only once the guess is stable
        # (same set as at the previous iteration) or mu is small, and never twice on one set.
        in_T = dpi / pi > dw / w
        stable = previous is not None and np.array_equal(in_T, previous)
        previous = in_T
        if (stable or t <= _CROSSOVER_T) and in_T.sum() % 2 == 1 and not np.array_equal(in_T, tried):
            tried = in_T
            pi_x = _crossover(S, np.flatnonzero(in_T), tol)
            if pi_x is not None:
                return pi_x, "ipm_crossover", it
        alpha = min(_max_step(pi, dpi), _max_step(w, dw))
        mu_aff = float((pi + alpha * dpi) @ (w + alpha * dw)) / K
        sigma = (mu_aff / mu) ** 3
        dpi, dt, dw = _newton_direction(S, fac, pi, sigma * mu - pi * w - dpi * dw)  # corrector
        dpi, dt, dw, alpha = _centrality_correctors(S, fac, pi, w, (dpi, dt, dw), sigma * mu)
        alpha = min(1.0, _STEP_TO_BOUNDARY * alpha)
        pi = pi + alpha * dpi
        pi /= pi.sum()  # 1.dpi = 0 up to round-off; keep the iterate on the simplex exactly
        t = t + alpha * dt
        Spi = S @ pi
        w = t - Spi  # recomputed from the definition: no drift in the constraint
        if not (np.all(pi > 0) and np.all(w > 0) and np.isfinite(t)):  # round-off floor reached
            break
    return None, "", it


def nash(game, method: str = "auto", tol: float = NASH_TOL, max_iter: int = 60) -> NashResult:
    """Unregularized Nash equilibrium, certified: ``duality_gap <= tol`` or an LP answer.

    Methods:
        "auto": primal-dual interior point on the self-dual game LP with crossover to the
            exact support solve (:func:`_interior_point`: one dense K x K LU per iteration,
            typically 10-20 iterations); ``method`` of the result is "ipm_crossover" when the
            support solve certified, "interior_point" when the interior iterate itself did,
            and "lp (fallback)" when neither reached ``tol`` in ``max_iter`` iterations
            (degenerate games, e.g. ties) and :func:`nash_lp` was used.
        "lp": :func:`nash_lp`.

    Returns:
        :class:`NashResult` whose ``duality_gap`` is recomputed by
        :func:`polopt.certificates.duality_gap` on the returned policy; ``num_iter`` counts
        IPM iterations.

    Performance (bench/bench_games.py, idle 2-core machine): a random intransitive game with
    K = 1000 (support ~ K/2) takes 12-13 iterations (one dense LU each): 0.86 s, against
    13.7 s for HiGHS (the iterate certifies the gap 4e-10 <= tol before the support solve).
    """
    game = _as_game(game)
    tol = as_scalar("tol", tol, low=0.0, low_open=True)
    if method == "lp":
        return nash_lp(game)
    if method != "auto":
        raise ValueError(f"method must be 'auto' or 'lp', got {method!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0:
        raise ValueError(f"max_iter must be an int >= 0, got {max_iter!r}")
    P = game.P
    pi, how, iters = _interior_point(P - 0.5, tol, int(max_iter))
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


#: Continuation ratios between successive beta levels of the Newton solver, tried in turn.
_CONTINUATION_FACTORS = (4.0, 1.25)


def _regularized_newton(P, mu, beta, tol=1e-12, max_iter=100, start=None):
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
        pi_T, res, steps, path_T = _regularized_newton(P[np.ix_(T, T)], mu[T] / mu[T].sum(), beta, tol, max_iter,
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
    pi_cvx, _ = _regularized_cvxpy(P, mu, beta)
    theta = np.log(np.maximum(pi_cvx, np.finfo(np.float64).tiny))
    theta, res, k = _newton_level(P, log_mu, beta, theta, tol, max_iter, path)
    return np.exp(theta - logsumexp(theta)), res, steps + k, np.array(path)


def _regularized_cvxpy(P, mu, beta):
    """``argmin_pi beta log sum mu exp(P pi / beta) + beta KL(pi||mu)`` over the simplex (Clarabel).

    The objective is ``f_beta(pi) + 1/2`` (convex: log-sum-exp of an affine map plus KL);
    its minimum 1/2 is attained exactly at ``pi*_beta``.
    """
    import cvxpy as cp

    on = mu > 0
    if not on.all():  # zero reference mass forces pi(y) = 0 (see _regularized_newton)
        T = np.flatnonzero(on)
        pi_T, iters = _regularized_cvxpy(P[np.ix_(T, T)], mu[T] / mu[T].sum(), beta)
        pi = np.zeros(mu.size)
        pi[T] = pi_T
        return pi, iters
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

    Reference: Munos et al., arXiv 2312.00886 (§4, uniqueness).
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
    if not res <= tol * (1.0 + 1.0 / beta):
        from .._base import NotConvergedWarning

        warnings.warn(f"regularized_nash: fixed-point residual {res:.3g} above tol={tol:g} (1 + 1/beta)",
                      NotConvergedWarning, stacklevel=2)
    out = RegNashResult(pi, certificates.exploitability(P, pi, mu, beta), steps, method, res)
    if method == "both":
        pi_cvx, _ = _regularized_cvxpy(P, mu, beta)
        gap = float(np.max(np.abs(pi - pi_cvx)))
        if gap > CVXPY_AGREEMENT:
            raise RuntimeError(f"Newton and cvxpy disagree on pi*_beta by {gap:.3g} > {CVXPY_AGREEMENT:g}")
        out = out._replace(cross_check=gap)
    return out


def _fixed_point_residual(P, mu, beta, pi) -> float:
    """``||log pi - log_softmax(log mu + P pi / beta)||_inf`` over ``supp(mu)`` (inf if ``pi`` leaves it
    or vanishes on it)."""
    on = mu > 0
    if np.any(pi[~on] > 0):
        return float("inf")
    with np.errstate(divide="ignore"):
        z = log_softmax(np.log(mu[on]) + (P[on] @ pi) / beta)
        return float(np.max(np.abs(np.log(pi[on]) - z)))
