"""``solve`` adapters for the exact game solvers: "nash", "nash_lp" and "regularized_nash".

* ``"nash"`` — the unregularized equilibrium (von Neumann winner) of any
  :class:`~polopt.problems.PreferenceGame` by the fast certified solver
  :func:`polopt.exact.nash` (``solver="auto"``: interior point with crossover to the exact
  support solve, HiGHS fallback; ``solver="lp"``: HiGHS). The game's ``beta`` is not used and
  every certificate is the ``beta = 0`` one.
* ``"nash_lp"`` — the same equilibrium problem solved as a linear program by HiGHS
  (:func:`polopt.exact.nash_lp`, ``scipy.optimize.linprog(method="highs")``), and nothing else.
* ``"regularized_nash"`` — ``pi*_beta`` of a game with ``beta > 0`` by Newton's method in
  the log domain (``solver="newton"``, the default; ``iterates`` = every Newton iterate,
  iterate 0 = init) or by cvxpy (``solver="cvxpy"``; ``iterates = [init, solution]``).

All report ``value = 1/2`` (the game value) and the certificates "exploitability",
"duality_gap", "kl_to_optimum" (``KL(pi* || pi_t)``) per iterate. For the unregularized
methods ``iterates = [init, solution]`` and ``optimum = Optimum(returned equilibrium, 0.5)``:
a game may have a whole polytope of equilibria, and measuring the KL against a *different*
one (another solver's vertex) would report a distance to "the optimum" for an exact answer
with duality gap 0. ``info["nash_unique"]`` says whether the equilibrium is unique (the rank
test of :func:`polopt.exact.nash_is_unique`, at the returned equilibrium); when it is and
``K <= LP_CROSS_CHECK_MAX_K``, "nash" also solves the HiGHS LP and reports the sup-norm
distance in ``info["lp_cross_check"]`` (None otherwise). Unknown hyper-parameters raise
TypeError.
"""

from __future__ import annotations

import numpy as np

from .. import certificates
from .._validation import as_distribution, as_scalar
from ..exact import games as _games
from ..problems import PreferenceGame
from ..result import CONVERGED, MAX_ITER, NONFINITE, Optimum, SolveResult
from ..solve import register
from . import reject_unknown

#: Above this K the LP cross-check of "nash" is skipped (HiGHS takes ~0.1 s at K = 200, ~12 s at 1000).
LP_CROSS_CHECK_MAX_K = 200
GAME_VALUE = 0.5


def _init_policy(game: PreferenceGame, init) -> np.ndarray:
    if init is None:
        return np.array(game.mu, dtype=np.float64)
    return np.array(as_distribution("init", init, (game.num_actions,)))


def _certificates(game: PreferenceGame, iterates: np.ndarray, pi_star: np.ndarray, beta: float) -> dict:
    return {
        "exploitability": np.array([certificates.exploitability(game, p, beta) for p in iterates]),
        "duality_gap": np.array([certificates.duality_gap(game, p, beta) for p in iterates]),
        "kl_to_optimum": np.array([certificates.kl_to_optimum(p, pi_star) for p in iterates]),
    }


def _is_game(problem) -> bool:
    return isinstance(problem, PreferenceGame)


def _is_regularized_game(problem) -> bool:
    return isinstance(problem, PreferenceGame) and problem.beta > 0


#: ``tol`` of the uniqueness rank test (the default of :func:`polopt.exact.nash_is_unique`).
UNIQUENESS_TOL = 1e-9


def _unregularized_result(problem: PreferenceGame, init, res, *, method: str, hparams: dict, tol: float,
                          cross_check: bool) -> SolveResult:
    """SolveResult of an unregularized equilibrium ``res`` (:class:`polopt.exact.games.NashResult`)."""
    pi0 = _init_policy(problem, init)
    pi = res.policy
    unique = _games.is_unique_at(problem.skew, pi, UNIQUENESS_TOL)
    lp_distance = None
    if cross_check and unique and problem.num_actions <= LP_CROSS_CHECK_MAX_K:
        # an independent solver must find the same point when the equilibrium is unique
        lp_distance = float(np.max(np.abs(_games.nash_lp(problem).policy - pi)))
    iterates = np.stack([pi0, pi])
    certs = _certificates(problem, iterates, pi, 0.0)
    return SolveResult(
        policy=pi,
        iterates=iterates,
        value=GAME_VALUE,
        optimum=Optimum(pi, GAME_VALUE),
        certificates=certs,
        status=CONVERGED if res.duality_gap <= tol else MAX_ITER,
        method=method,
        hparams=hparams,
        num_iter=1,
        info={"solver": res.method, "support": res.support, "ipm_iterations": res.num_iter, "beta": 0.0,
              "nash_unique": unique, "lp_cross_check": lp_distance},
        problem=problem,
    )


def _gap_tol(hparams: dict) -> float:
    return as_scalar("tol", hparams.get("tol", _games.NASH_TOL), low=0.0, low_open=True)


@register(
    "nash",
    applies=_is_game,
    summary="unregularized Nash equilibrium, certified (interior point + exact support crossover; HiGHS "
            "fallback); beta ignored",
)
def _nash(problem: PreferenceGame, *, iters: int, init, seed, **hparams) -> SolveResult:
    """Unregularized equilibrium; hparams ``solver`` ("auto" | "lp") and ``tol`` (certified gap).

    ``iters`` is not used: the interior point stops on its certificate (at most 60 iterations,
    then the LP).
    """
    reject_unknown("nash", hparams, ("solver", "tol"))
    solver = hparams.get("solver", "auto")
    if solver not in ("auto", "lp"):
        raise ValueError(f"solver must be 'auto' or 'lp', got {solver!r}")
    tol = _gap_tol(hparams)
    res = _games.nash(problem, method=solver, tol=tol)
    return _unregularized_result(problem, init, res, method="nash", hparams={"solver": solver, "tol": tol},
                                 tol=tol, cross_check=solver == "auto")


@register(
    "nash_lp",
    applies=_is_game,
    summary="unregularized Nash equilibrium by the HiGHS linear program (scipy.optimize.linprog); beta ignored",
)
def _nash_lp(problem: PreferenceGame, *, iters: int, init, seed, **hparams) -> SolveResult:
    """Unregularized equilibrium by HiGHS; hparam ``tol`` (duality gap for status "converged").

    ``solver`` is accepted for compatibility and must be "lp"; the interior point is method "nash".
    """
    reject_unknown("nash_lp", hparams, ("solver", "tol"))
    solver = hparams.get("solver", "lp")
    if solver != "lp":
        raise ValueError(f"solver must be 'lp' for method 'nash_lp' (the HiGHS LP), got {solver!r}; "
                         "the interior point with crossover is method 'nash'")
    tol = _gap_tol(hparams)
    res = _games.nash_lp(problem)
    return _unregularized_result(problem, init, res, method="nash_lp", hparams={"solver": "lp", "tol": tol},
                                 tol=tol, cross_check=False)


@register(
    "regularized_nash",
    applies=_is_regularized_game,
    summary="beta-regularized equilibrium pi ∝ mu exp(P pi / beta) by Newton (or cvxpy)",
)
def _regularized_nash(problem: PreferenceGame, *, iters: int, init, seed, **hparams) -> SolveResult:
    """``pi*_beta``; hparams ``solver`` ("newton" | "cvxpy") and ``tol`` (Newton residual)."""
    reject_unknown("regularized_nash", hparams, ("solver", "tol"))
    solver = hparams.get("solver", "newton")
    if solver not in ("newton", "cvxpy"):
        raise ValueError(f"solver must be 'newton' or 'cvxpy', got {solver!r}")
    tol = as_scalar("tol", hparams.get("tol", 1e-12), low=0.0, low_open=True)
    beta = problem.beta
    pi0 = _init_policy(problem, init)
    if solver == "newton":
        pi, residual, steps, path = _games.regularized_newton(problem.P, problem.mu, beta, tol, iters, start=pi0)
        iterates = path
        converged = residual <= tol * (1.0 + 1.0 / beta)
        num_iter = steps
    else:
        pi, steps = _games.regularized_convex_program(problem.P, problem.mu, beta)
        residual = _games.fixed_point_residual(problem.P, problem.mu, beta, pi)
        iterates = np.stack([pi0, pi])
        converged = True
        num_iter = 1
    if not np.all(np.isfinite(iterates)):
        status = NONFINITE
    else:
        status = CONVERGED if converged else MAX_ITER
    certs = _certificates(problem, iterates, pi, beta)
    return SolveResult(
        policy=pi,
        iterates=iterates,
        value=GAME_VALUE,
        optimum=Optimum(pi, GAME_VALUE),
        certificates=certs,
        status=status,
        method="regularized_nash",
        hparams={"solver": solver, "tol": tol},
        num_iter=num_iter,
        info={"residual": residual, "solver_iterations": steps},
        problem=problem,
    )
