"""``solve`` on a :class:`~polopt.problems.MatrixGame`: the exact solvers and the game rules, two players.

The method table's game rows are extended (:func:`extend`) so that the names people know run on
a matrix game as it is, without symmetrizing by hand:

* exact: ``"nash"`` (the default at ``beta = 0``: the symmetric embedding solved by the certified
  fast solver, HiGHS fallback; beta ignored), ``"nash_lp"`` (HiGHS, one LP per player) and
  ``"regularized_nash"`` (the default at ``beta > 0``: Newton on the pair of fixed points;
  ``solver="cvxpy"`` for the convex program);
* rules (:data:`RULES`): mirror_prox (nash_mp), extragradient (egpo, tabular form), mmd, omwu
  (optimistic_mwu), sppo (multiplicative_weights, exact form), inpo (online_mirror_descent), dno,
  nash_md and nash_ema, with their preference-game defaults (``K = max(m, n)`` in Hedge's
  ``sqrt(8 ln K / T)``). Each player runs the rule against the other's current strategy (the
  oracle :class:`~polopt.oracles.MatrixGameOracle`); on the normalized payoff ``G = A / (2c)``
  every step size keeps the meaning it has on a preference game (Lipschitz constant 1/2 per
  player). Forms that read a preference matrix or sample comparisons (approximate Nash-MP's
  ``inner_steps``, EGPO's ``"ipo_loss"``, SPPO's ``"squared_loss"``, ``num_samples``) and the
  IPO rules are not offered.

Result: ``policy`` = :class:`~polopt.problems.StrategyPair` ``(row [m], col [n])``; ``iterates``
and ``average`` = pairs of ``[T+1, m]`` and ``[T+1, n]`` arrays (iterate 0 = init; ``init`` is a
pair, default the references); ``value`` = ``x*^T A y*`` at the exact equilibrium, in the units of
``A`` (the game value when ``beta = 0``); ``optimum = Optimum((x*, y*), value)``.
Certificates [T+1], normalized units (:mod:`polopt.problems.matrix_game`): ``"duality_gap"``
``DG_beta``, ``"exploitability"`` ``= DG_beta / 2`` (OpenSpiel's = ``2c`` x it), ``"nash_conv"``
(OpenSpiel's NashConv in the units of ``A``, ``= 2c DG_0``), ``"duality_gap_unregularized"`` and
``"kl_to_optimum"`` ``= KL(x*||x_t) + KL(y*||y_t)`` (NaN at ``beta = 0`` when the equilibrium is
not unique); average-iterate rules add ``"*_average"``. ``info["scale"]`` is ``c``. Status as for
preference games: "converged" at ``duality_gap <= tol`` or ``kl_to_optimum <= tol``.
"""

from __future__ import annotations

import functools
import weakref

import numpy as np

from .. import certificates
from .._validation import as_positive_int, as_scalar
from ..exact import matrix_game as _mg
from ..oracles import MatrixGameOracle
from ..problems import MatrixGame, StrategyPair
from ..result import CONVERGED, MAX_ITER, NONFINITE, LazyCertificates, Optimum, SolveResult
from . import reject_unknown

#: Rule rows that run on a matrix game, with the forms they do not support there.
RULES = {
    "mirror_prox": {"inner_steps": None, "inner_eta": None},
    "extragradient": {"form": "tabular"},
    "mmd": {},
    "omwu": {},
    "sppo": {"form": "exact", "inner_steps": None},
    "inpo": {},
    "dno": {},
    "nash_md": {},
    "nash_ema": {},
}
EXACT = ("nash", "nash_lp", "regularized_nash")
#: Default stopping tolerance (the float64 round-off floor of the duality gap and the KL).
DEFAULT_TOL = 1e-12
#: Hyper-parameters every matrix-game rule run takes besides its factory's.
COMMON = ("tol", "record")


def is_matrix_game(problem) -> bool:
    return isinstance(problem, MatrixGame)


# --------------------------------------------------------------------------- optimum and certificates
_OPTIMA: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def optimum(game: MatrixGame) -> tuple[StrategyPair, float, bool]:
    """``((x*, y*), x*^T A y*, unique)`` once per game: the regularized equilibrium (beta > 0) or the
    certified Nash equilibrium with the uniqueness test (beta = 0)."""
    if game not in _OPTIMA:
        if game.beta > 0:
            star, unique = _mg.regularized_nash(game).policy, True
        else:
            star, unique = _mg.nash(game).policy, _mg.nash_is_unique(game)
        for a in star:
            a.setflags(write=False)
        _OPTIMA[game] = (star, float(star.row @ game.A @ star.col), unique)
    return _OPTIMA[game]


def _kl(star: StrategyPair, log_x: np.ndarray, log_y: np.ndarray, defined: bool) -> np.ndarray:
    if not defined:
        return np.full(log_x.shape[0], np.nan)
    return certificates.kl_log_q(star.row, log_x) + certificates.kl_log_q(star.col, log_y)


def _certificates(game: MatrixGame, log_x, log_y, star: StrategyPair, kl_defined: bool, suffix: str = "") -> dict:
    """Lazy per-iterate certificates of the log-strategies ``log_x`` [T+1, m], ``log_y`` [T+1, n]."""
    x, y = np.exp(log_x), np.exp(log_y)
    gaps = functools.cache(lambda beta: certificates.matrix_game_gaps(game.G, x, y, game.mu_row, game.mu_col, beta))
    out = {
        "kl_to_optimum": lambda: _kl(star, log_x, log_y, kl_defined),
        "exploitability": lambda: gaps(game.beta)[0],
        "duality_gap": lambda: gaps(game.beta)[1],
        "duality_gap_unregularized": lambda: gaps(0.0)[1],
        "nash_conv": lambda: 2.0 * game.scale * gaps(0.0)[1],
    }
    if suffix:
        out = {f"{k}{suffix}": v for k, v in out.items() if k != "exploitability"}
    return out


def _init_pair(game: MatrixGame, init) -> StrategyPair:
    if init is None:
        return StrategyPair(np.array(game.mu_row), np.array(game.mu_col))
    return _mg.as_strategy_pair(game, init, "init")


# --------------------------------------------------------------------------- exact solvers
def _exact_result(game, init, star: StrategyPair, *, method, hparams, converged, num_iter, info) -> SolveResult:
    pi0 = _init_pair(game, init)
    row, col = np.stack([pi0.row, star.row]), np.stack([pi0.col, star.col])
    with np.errstate(divide="ignore"):
        certs = _certificates(game, np.log(row), np.log(col), star, True)
    finite = all(np.all(np.isfinite(a)) for a in star)
    value = float(star.row @ game.A @ star.col)
    return SolveResult(
        policy=star,
        iterates=StrategyPair(row, col),
        value=value,
        optimum=Optimum(star, value),
        certificates=LazyCertificates(certs),
        status=NONFINITE if not finite else (CONVERGED if converged else MAX_ITER),
        method=method,
        hparams=hparams,
        num_iter=num_iter,
        info={"scale": game.scale, **info},
        problem=game,
    )


def _nash(game: MatrixGame, method: str, *, iters, init, seed, **hparams) -> SolveResult:
    """``"nash"`` (solver "auto" | "lp") or ``"nash_lp"`` (HiGHS only) on a matrix game; hparams ``solver``, ``tol``."""
    reject_unknown(method, hparams, ("solver", "tol"))
    solver = hparams.get("solver", "auto" if method == "nash" else "lp")
    allowed = ("auto", "lp") if method == "nash" else ("lp",)
    if solver not in allowed:
        raise ValueError(f"solver must be one of {allowed} for method {method!r}, got {solver!r}")
    tol = as_scalar("tol", hparams.get("tol", _mg.NASH_TOL), low=0.0, low_open=True)
    res = _mg.nash(game, method=solver, tol=tol)
    return _exact_result(game, init, res.policy, method=method, hparams={"solver": solver, "tol": tol},
                         converged=res.duality_gap <= tol, num_iter=1,
                         info={"solver": res.method, "support": res.support, "ipm_iterations": res.num_iter,
                               "beta": 0.0, "nash_unique": _mg.nash_is_unique(game)})


def _regularized_nash(game: MatrixGame, *, iters, init, seed, **hparams) -> SolveResult:
    """``(x*, y*)`` of a game with beta > 0; hparams ``solver`` ("newton" | "cvxpy") and ``tol`` (Newton residual)."""
    reject_unknown("regularized_nash", hparams, ("solver", "tol"))
    solver = hparams.get("solver", "newton")
    if solver not in ("newton", "cvxpy"):
        raise ValueError(f"solver must be 'newton' or 'cvxpy', got {solver!r}")
    tol = as_scalar("tol", hparams.get("tol", 1e-12), low=0.0, low_open=True)
    if solver == "newton":
        x, y, residual, steps = _mg.regularized_newton(game, game.beta, tol, max(iters, 1),
                                                       start=None if init is None else _init_pair(game, init))
        converged = residual <= tol * (1.0 + 1.0 / game.beta)
    else:
        x, y, steps = _mg.regularized_convex_program(game, game.beta)
        residual, converged = float("nan"), True
    return _exact_result(game, init, StrategyPair(x, y), method="regularized_nash",
                         hparams={"solver": solver, "tol": tol}, converged=converged, num_iter=steps,
                         info={"residual": residual, "solver_iterations": steps, "beta": game.beta})


# --------------------------------------------------------------------------- rules
class _DefaultsView:
    """What the game rows' theory defaults read (``beta`` and the action count ``P.shape[-1]``),
    for a matrix game: its beta and ``K = max(m, n)`` (the larger player's Hedge step)."""

    __slots__ = ("beta", "P")

    def __init__(self, game: MatrixGame):
        K = max(game.shape)
        self.beta = game.beta
        self.P = np.broadcast_to(0.0, (K, K))


def _padded(game: MatrixGame):
    """``G`` zero-padded to [K, K] and the references as ``log_mu`` [2, K] (``-inf`` on padded actions)."""
    m, n = game.shape
    K = max(m, n)
    G = np.zeros((K, K))
    G[:m, :n] = game.G
    log_mu = np.full((2, K), -np.inf)
    log_mu[0, :m], log_mu[1, :n] = np.log(game.mu_row), np.log(game.mu_col)
    return G, log_mu


def _make_rule(row, game: MatrixGame, hp: dict, iters: int):
    for k, allowed in RULES[row.name].items():
        if hp.get(k, allowed) != allowed:
            raise ValueError(f"{row.name}: {k}={hp[k]!r} is not available on a MatrixGame (it needs a preference "
                             f"matrix or sampled comparisons); expected {k}={allowed!r}")
    given = {k: v for k, v in hp.items() if v is not None}
    for k, v in row.defaults(_DefaultsView(game), iters, given).items():
        given.setdefault(k, v)
    if "beta" in row.hparam_names():
        given["beta"] = game.beta
    return row.rule(**given)


def run_rule_on_matrix_game(row, game: MatrixGame, *, iters: int, init, seed, **hparams) -> SolveResult:
    """Run the game rule of table row ``row`` on both players of ``game`` and assemble the SolveResult."""
    from ..solve import run_rule

    accepted = tuple(n for n in row.hparam_names() if n not in ("beta", "num_samples", "payoff"))
    reject_unknown(row.name, hparams, accepted)
    hp = dict(hparams)
    tol = as_scalar("tol", hp.pop("tol", DEFAULT_TOL), low=0.0, low_open=True)
    record = as_positive_int("record", hp.pop("record", 1))
    rule = _make_rule(row, game, hp, iters)
    m, n = game.shape
    G, log_mu = _padded(game)
    oracle = MatrixGameOracle(G, log_mu)
    pi0 = _init_pair(game, init)
    log_pi0 = np.full((2, max(m, n)), -np.inf)
    with np.errstate(divide="ignore"):
        log_pi0[0, :m], log_pi0[1, :n] = np.log(pi0.row), np.log(pi0.col)
    state = rule.init(log_pi0, oracle)
    star, value, unique = optimum(game)

    def record_of(s):
        return np.stack([s.log_pi, s.log_avg]) if rule.averages else s.log_pi[None]

    def stop(block):  # [N, 1|2, 2, K]: the last iterate's duality gap or KL, whichever is met first
        lx, ly = block[:, 0, 0, :m], block[:, 0, 1, :n]
        gap = certificates.matrix_game_gaps(game.G, np.exp(lx), np.exp(ly), game.mu_row, game.mu_col, game.beta)[1]
        return np.minimum(gap, np.nan_to_num(_kl(star, lx, ly, unique), nan=np.inf))

    traj = run_rule(rule, oracle, state, iters, record_of=record_of, stop=stop, tol=tol, record=record)
    recs = traj.records
    certs = _certificates(game, recs[:, 0, 0, :m], recs[:, 0, 1, :n], star, unique)
    average = None
    if rule.averages:
        certs.update(_certificates(game, recs[:, 1, 0, :m], recs[:, 1, 1, :n], star, unique, suffix="_average"))
        average = StrategyPair(np.exp(recs[:, 1, 0, :m]), np.exp(recs[:, 1, 1, :n]))
    iterates = StrategyPair(np.exp(recs[:, 0, 0, :m]), np.exp(recs[:, 0, 1, :n]))
    info = {"beta": game.beta, "scale": game.scale, "eta": getattr(rule.hparams, "eta", None),
            "oracle_calls": (rule.oracle_calls * traj.steps).astype(np.int64), "nash_unique": unique}
    if record > 1:
        info["recorded"] = traj.steps
    return SolveResult(
        policy=StrategyPair(iterates.row[-1], iterates.col[-1]),
        iterates=iterates,
        value=value,
        optimum=Optimum(star, value),
        certificates=LazyCertificates(certs),
        status=traj.status,
        method=row.name,
        hparams={**{k: v for k, v in rule.hparams._asdict().items() if k != "beta"}, "tol": tol},
        num_iter=traj.num_iter,
        average=average,
        info=info,
        problem=game,
    )


# --------------------------------------------------------------------------- table extension
def _extended(row):
    """``row`` with ``applies`` and ``run`` widened to matrix games (the original handles everything else)."""
    if row.name in EXACT:
        def on_game(game, *, iters, init, seed, **hp):
            if row.name == "regularized_nash":
                return _regularized_nash(game, iters=iters, init=init, seed=seed, **hp)
            return _nash(game, row.name, iters=iters, init=init, seed=seed, **hp)

        applies_here = (lambda p: p.beta > 0) if row.name == "regularized_nash" else (lambda p: True)
    else:
        def on_game(game, *, iters, init, seed, **hp):
            return run_rule_on_matrix_game(row, game, iters=iters, init=init, seed=seed, **hp)

        applies_here = lambda p: True  # noqa: E731

    old_applies, old_run = row.applies, row.run

    def applies(problem) -> bool:
        return applies_here(problem) if is_matrix_game(problem) else old_applies(problem)

    def run(problem, *, iters, init, seed, **hp):
        if is_matrix_game(problem):
            return on_game(problem, iters=iters, init=init, seed=seed, **hp)
        return old_run(problem, iters=iters, init=init, seed=seed, **hp)

    run.__name__ = getattr(old_run, "__name__", row.name)
    needs = row.needs or ""
    if row.name == "regularized_nash":
        needs = "a PreferenceGame or MatrixGame with beta > 0"
    elif needs:
        needs = f"{needs}, or a MatrixGame"
    return row._replace(applies=applies, run=run, needs=needs)


def extend(rows: dict) -> None:
    """Widen the table's rows :data:`EXACT` and :data:`RULES` (in place) to :class:`MatrixGame`."""
    for name in (*EXACT, *RULES):
        rows[name] = _extended(rows[name])
