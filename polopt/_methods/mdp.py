"""``solve`` adapters for the exact MDP solvers of :mod:`polopt.exact.dp` and :mod:`polopt.exact.lp`.

Every method returns a :class:`~polopt.result.SolveResult` whose ``optimum`` comes from an
*independent* exact method, so the certificates measure one algorithm against another:

* ``"solve_mdp"`` — the default for a discounted MDP (``po.solve(mdp)``): the certified
  optimistic policy iteration of :func:`~polopt.exact.solve_mdp`. Iterates ``[init, policy]``;
  certificates [2] ``"suboptimality"`` (against the certified bracket: ``max_s(v_upper - v^pi)``,
  an upper bound on the true suboptimality) and ``"bellman_residual"``; ``info``: ``"v_lower"``,
  ``"v_upper"``. Its own result is the optimum (no second solver runs).
* ``"value_iteration"`` — discounted TabularMDP / LinearMixtureMDP (gamma < 1).
  Hyper-parameter ``tol`` (span rule; default ``SOLVER_TOL``). ``init``: initial value
  ``v0`` [S] (default 0) or a policy [S, A] whose value is ``v0``. Certificates [T+1]:
  ``"value_error"`` ``||v_k - v*||_inf``, ``"bellman_residual"`` ``||T v_k - v_k||_inf``,
  ``"suboptimality"`` of the greedy policy of ``v_k``. ``info``: ``"values"`` [T+1, S],
  ``"v_lower"``, ``"v_upper"`` (certified bracket of ``v*``), ``"v"`` (midrange value).
  Optimum: the certified :func:`~polopt.exact.solve_mdp`, computed once per problem.
* ``"modified_policy_iteration"`` — as value iteration, hyper-parameters ``k`` (partial
  evaluation sweeps, default 20) and ``tol``. Optimum: as value iteration.
* ``"policy_iteration"`` — ``init``: policy [S, A] or int [S] (default myopic). Certificates
  ``"suboptimality"`` [T+1] of the successive policies; ``info["values"]`` [T+1, S] their
  values. Optimum: :func:`~polopt.exact.solve_mdp` (optimistic PI certified by MacQueen
  bounds; it never solves an improvement loop to a fixed policy the way PI does). At
  ``gamma = 1`` (average reward): multichain policy iteration
  (:func:`~polopt.exact.average.average_policy_iteration`); ``value`` = gain [S], ``bias``;
  ``"suboptimality"`` = ``max_s (g* - g^{pi_k})(s)`` as for relative value iteration;
  ``info["values"]`` the gains [T+1, S] (non-decreasing), ``info["biases"]``. Optimum:
  :func:`~polopt.exact.average_reward_lp`.
* ``"linear_program"`` — discounted (HiGHS primal LP, dual occupancy in
  ``info["occupancy"]``; hyper-parameter ``solver`` in {"highs", "cvxpy"}; optimum: policy
  iteration) or average reward (``average_reward_lp``; ``value`` = gain [S], ``bias``;
  optimum: relative value iteration's policy evaluated exactly by ``gain_bias``). Iterates
  ``[init, LP policy]``; certificate ``"suboptimality"`` [2].
* ``"backward_induction"`` — finite-horizon TabularMDP / LinearMixtureMDP, and Bandit /
  ContextualBandit with ``beta = 0`` (through ``to_mdp()``; a KL-regularized bandit's optimum
  is the Gibbs policy, see :mod:`polopt.exact.soft`). Iterates ``[init, BI policy]``;
  certificate ``"suboptimality"`` [2] at step 0 (sup over states). Optimum: BI's policy with
  its value recomputed by exact policy evaluation (:func:`~polopt.exact.evaluate`); its
  optimality is tested against enumeration of all deterministic policies.

Every certificate is computed when first read (:class:`~polopt.result.LazyCertificates`);
deterministic iterates are stored as action indices (:class:`~polopt.result.OneHotIterates`)
and read as the one-hot ``[T+1, S, A]`` array of the contract. ``iters`` is the iteration
budget (``max_iter``); the run has status ``"max_iter"`` when it is exhausted before the
stopping rule holds. Unknown hyper-parameters raise ``TypeError``.
"""

from __future__ import annotations

import functools
import weakref

import numpy as np

from .._base import CONVERGED, MAX_ITER, NONFINITE, SOLVER_TOL
from .._validation import as_float_array, as_positive_int, check_stochastic
from ..certificates import bellman_residual, suboptimality
from ..exact import dp as _dp
from ..exact import evaluation as _ev
from ..exact import lp as _lp
from ..exact import one_hot, uniform_feasible
from ..methods import register
from ..problems import Bandit, ContextualBandit, LinearMixtureMDP, TabularMDP
from ..result import LazyCertificates, OneHotIterates, Optimum, SolveResult
from . import once_per_problem, reject_unknown


# ------------------------------------------------------------------ applicability
def _tabular(problem):
    return problem.as_tabular() if isinstance(problem, LinearMixtureMDP) else problem


def _is_discounted(problem) -> bool:
    # beta > 0 poses the KL-regularized objective: the unregularized solvers would silently solve another problem
    return (isinstance(problem, (TabularMDP, LinearMixtureMDP)) and problem.criterion == "discounted"
            and getattr(problem, "beta", 0.0) == 0.0)


def _is_lp(problem) -> bool:
    return _is_discounted(problem) or (isinstance(problem, TabularMDP) and problem.criterion == "average") \
        or _is_total(problem)


def _is_total(problem) -> bool:
    """Episodic total reward (``terminal=``, gamma = 1): VI, PI and the LP of :mod:`polopt.exact.total`."""
    return isinstance(problem, TabularMDP) and problem.criterion == "total"


def _is_discounted_or_total(problem) -> bool:
    return _is_discounted(problem) or _is_total(problem)


def _is_finite(problem) -> bool:
    if isinstance(problem, (Bandit, ContextualBandit)):
        return problem.beta == 0.0
    return isinstance(problem, (TabularMDP, LinearMixtureMDP)) and problem.criterion == "finite_horizon"



# ------------------------------------------------------------------ shared pieces
_OPTIMA: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def optimum(mdp) -> _dp.SolveMDPResult:
    """The certified optimum of a discounted MDP (:func:`~polopt.exact.solve_mdp`), computed once per problem.

    Problems are immutable, so the cache (weak: it never keeps a problem alive) cannot go stale.
    """
    return once_per_problem(_OPTIMA, mdp, lambda: _dp.solve_mdp(mdp))


def _status(res) -> str:
    if getattr(res, "status", CONVERGED) == NONFINITE:
        return NONFINITE
    return CONVERGED if res.converged else MAX_ITER


def _stochastic_init(mdp, init) -> np.ndarray:
    """``init`` as a stochastic policy [S, A], checked under the user's name for it (``init``)."""
    S, A = mdp.num_states, mdp.num_actions
    arr = as_float_array("init", init, ndim=2)
    if arr.shape != (S, A):
        raise ValueError(f"init must be a policy of shape [S, A] = [{S}, {A}], got {arr.shape}")
    check_stochastic("init", arr)
    return arr


def _init_value(mdp, init) -> np.ndarray | None:
    """``init`` as an initial value: v0 [S], or a policy [S, A] whose exact value is used."""
    if init is None:
        return None
    arr = np.asarray(init)
    S, A = mdp.num_states, mdp.num_actions
    if arr.shape == (S, A):
        return _ev.policy_value(mdp, _stochastic_init(mdp, arr))
    v0 = as_float_array("init", init, ndim=1)
    if v0.shape != (S,):
        raise ValueError(f"init must be an initial value [{S}] or a policy [{S}, {A}], got shape {v0.shape}")
    return v0


def _init_policy(mdp, init):
    """``init`` as a policy for policy iteration: stochastic [S, A] or int [S]; None = default."""
    if init is None:
        return None
    arr = np.asarray(init)
    if arr.ndim == 1 and np.issubdtype(arr.dtype, np.integer):
        bad = np.flatnonzero((arr < 0) | (arr >= mdp.num_actions))
        if arr.shape != (mdp.num_states,) or bad.size:
            where = f"init[{bad[0]}] is {arr[bad[0]]}" if bad.size else f"init has shape {arr.shape}"
            raise ValueError(f"{where}: expected action indices [S] = [{mdp.num_states}] in [0, {mdp.num_actions - 1}]")
        return arr
    return _stochastic_init(mdp, init)


class _PolicyValues:
    """Exact values of deterministic policies, cached (successive greedy policies often repeat).

    The certified optimum's policy needs no solve: its value is the optimum's (within ``tol / 2`` of
    ``v*``, certified by the MacQueen bracket); any other policy is evaluated by
    :func:`~polopt.exact.evaluate_deterministic` started at the optimum's value (near-optimal greedy
    policies are then solved in a few Krylov steps, also on slowly mixing chains).
    """

    def __init__(self, mdp, star=None):
        self.mdp = mdp
        self.cache: dict[bytes, np.ndarray] = {}
        self.x0 = None
        if star is not None and getattr(star, "status", CONVERGED) == CONVERGED:
            self.cache[np.asarray(star.policy).tobytes()] = star.v
            self.x0 = star.v

    def __call__(self, sigma: np.ndarray) -> np.ndarray:
        key = np.asarray(sigma).tobytes()
        if key not in self.cache:
            if self.mdp.criterion == "total":
                self.cache[key] = _total_value_or_inf(self.mdp, sigma)
            else:
                self.cache[key] = _dp.evaluate_deterministic(self.mdp, sigma, x0=self.x0)
        return self.cache[key]


def _total_value_or_inf(mdp, sigma) -> np.ndarray:
    """Total reward of a deterministic policy; ``-inf`` everywhere for one that never terminates from
    some state (an early greedy policy of value iteration may loop): its suboptimality is then ``inf``."""
    from ..exact import total as _total

    try:
        return _total.total_reward_value(mdp, one_hot(np.asarray(sigma, dtype=np.int64), mdp.num_actions))
    except _total.ImproperPolicyError:
        return np.full(mdp.num_states, -np.inf)


#: Bytes of recorded values a value iteration / MPI run keeps by default (``record=None``): beyond
#: them the record is thinned evenly (the stride doubles), so memory does not grow with ``iters``.
#: RiverSwim n = 10^4 at gamma = 0.99 takes 2275 sweeps: 182 MB of values recorded in full, whose
#: page faults and final stack doubled the sweeps' 0.17 s; 32 MiB keeps >= 200 evenly spaced
#: iterates there, enough for any convergence plot.
RECORD_BUDGET_BYTES = 2**25


def _record_args(mdp, hparams: dict) -> tuple[bool | int, int | None]:
    """``record`` (every how many iterations; None = all within :data:`RECORD_BUDGET_BYTES`) as the
    exact solvers' ``(record, record_limit)``."""
    record = hparams.get("record")
    if record is None:
        return True, max(16, RECORD_BUDGET_BYTES // (8 * max(mdp.num_states, 1)))
    return as_positive_int("record", record), None


def _value_based(problem, method: str, run_res, hparams: dict) -> SolveResult:
    """Shared SolveResult for value iteration and modified policy iteration (lazy certificates).

    The certificates are per recorded iterate (``info["recorded"]`` says which iterations); the
    Bellman residual of every sweep is in ``info["residuals"]``.
    """
    mdp = _tabular(problem)
    A = mdp.num_actions
    values, sigmas = run_res.values, run_res.policies
    steps = getattr(run_res, "steps", None)
    steps = np.arange(len(sigmas)) if steps is None else steps  # the total-reward solvers record every sweep
    residuals = np.asarray(run_res.residuals)
    star = optimum(mdp)
    value_of = _PolicyValues(mdp, star)

    certs = LazyCertificates({
        "value_error": lambda: np.max(np.abs(values - optimum(mdp).v), axis=1),
        "bellman_residual": residuals[steps],
        "suboptimality": lambda: np.array([suboptimality(value_of(s), optimum(mdp).v) for s in sigmas]),
    })
    return SolveResult(
        policy=one_hot(run_res.policy, A),
        iterates=OneHotIterates(sigmas, A),
        value=value_of(np.asarray(run_res.policy)),
        optimum=Optimum(one_hot(star.policy, A), star.v),
        certificates=certs,
        status=_status(run_res),
        method=method,
        hparams=hparams,
        num_iter=run_res.num_iter,
        info={"values": values, "v_lower": run_res.v_lower, "v_upper": run_res.v_upper, "v": run_res.v,
              "recorded": steps, "residuals": residuals},
        problem=problem,
    )


def _constant(x):
    return lambda: x


# ------------------------------------------------------------------ methods
@register(
    "solve_mdp",
    applies=_is_discounted,
    summary="the default: certified optimistic policy iteration (exact pruned backups, MacQueen bracket)",
)
def _solve_mdp(problem, *, iters, init, seed, **hparams) -> SolveResult:
    reject_unknown("solve_mdp", hparams, ("tol",))
    tol = hparams.get("tol", SOLVER_TOL)
    mdp = _tabular(problem)
    S, A = mdp.num_states, mdp.num_actions
    res = _dp.solve_mdp(mdp, tol=tol, max_iter=iters)
    if res.status == CONVERGED and tol == SOLVER_TOL:
        try:
            _OPTIMA[mdp] = res  # the certified optimum other methods on this problem measure against
        except TypeError:
            pass
    # the start (uniform unless init is given) is read only by certificates and iterates[0]: built on demand
    pi0 = functools.cache(lambda: uniform_feasible(mdp)) if init is None else _constant(_stochastic_init(mdp, init))
    value_of = _PolicyValues(mdp)
    certs = LazyCertificates({
        # against the certified upper bound: each entry bounds the true sup-norm suboptimality from above
        "suboptimality": lambda: np.array([suboptimality(_ev.policy_value(mdp, pi0()), res.v_upper),
                                           suboptimality(value_of(res.policy), res.v_upper)]),
        "bellman_residual": lambda: np.array([
            bellman_residual(mdp.P_sa, mdp.r, mdp.gamma, _ev.policy_value(mdp, pi0())),
            bellman_residual(mdp.P_sa, mdp.r, mdp.gamma, res.v)]),
    })
    policy = one_hot(res.policy, A)
    return SolveResult(
        policy=policy,
        iterates=OneHotIterates(np.stack([np.zeros(S, dtype=np.int64), res.policy]), A, first=pi0),
        value=res.v,
        optimum=Optimum(policy, res.v),  # the certified solution is its own optimum (one array, as value)
        certificates=certs,
        status=CONVERGED if res.status == CONVERGED else res.status,
        method="solve_mdp",
        hparams={"tol": tol},
        num_iter=res.num_iter,
        info={"v_lower": res.v_lower, "v_upper": res.v_upper, "algorithm": res.method},
        problem=problem,
    )


@register(
    "value_iteration",
    applies=_is_discounted_or_total,
    summary="value iteration with the span rule, midrange correction and certified bounds",
)
def _value_iteration(problem, *, iters, init, seed, **hparams) -> SolveResult:
    reject_unknown("value_iteration", hparams, ("tol", "record"))
    tol = hparams.get("tol", SOLVER_TOL)
    mdp = _tabular(problem)
    record, limit = _record_args(mdp, hparams)
    res = _dp.value_iteration(mdp, v0=_init_value(mdp, init), tol=tol, max_iter=iters, record=record,
                              record_limit=limit)
    return _value_based(problem, "value_iteration", res, {"tol": tol, "record": hparams.get("record")})


@register(
    "modified_policy_iteration",
    applies=_is_discounted,
    summary="modified policy iteration MPI(k) with the span rule and certified bounds",
)
def _modified_policy_iteration(problem, *, iters, init, seed, **hparams) -> SolveResult:
    reject_unknown("modified_policy_iteration", hparams, ("k", "tol", "record"))
    tol = hparams.get("tol", SOLVER_TOL)
    k = hparams.get("k", 20)
    mdp = _tabular(problem)
    record, limit = _record_args(mdp, hparams)
    res = _dp.modified_policy_iteration(mdp, k=k, tol=tol, v0=_init_value(mdp, init), max_iter=iters,
                                        record=record, record_limit=limit)
    return _value_based(problem, "modified_policy_iteration", res,
                        {"k": k, "tol": tol, "record": hparams.get("record")})


@register(
    "policy_iteration",
    applies=_is_lp,
    summary="Howard's policy iteration (exact evaluation, greedy improvement; multichain at gamma = 1)",
)
def _policy_iteration(problem, *, iters, init, seed, **hparams) -> SolveResult:
    reject_unknown("policy_iteration", hparams, ())
    if problem.criterion == "average":
        return _policy_iteration_average(problem, init, iters)
    mdp = _tabular(problem)
    A = mdp.num_actions
    pi0 = _init_policy(mdp, init)
    res = _dp.policy_iteration(mdp, pi0=pi0, max_iter=iters)
    star = optimum(mdp)
    values = res.values
    certs = LazyCertificates({
        "suboptimality": lambda: np.max(optimum(mdp).v[None, :] - values, axis=1),
    })
    first = pi0 if pi0 is not None and np.ndim(pi0) == 2 else None
    return SolveResult(
        policy=one_hot(res.policy, A),
        iterates=OneHotIterates(res.policies, A, first=first),
        value=res.v,
        optimum=Optimum(one_hot(star.policy, A), star.v),
        certificates=certs,
        status=_status(res),
        method="policy_iteration",
        hparams={},
        num_iter=res.num_iter,
        info={"values": values},
        problem=problem,
    )


def _policy_iteration_average(problem, init, iters) -> SolveResult:
    """Average reward: :func:`~polopt.exact.average.average_policy_iteration` (multichain; gain, then bias)."""
    from ..exact import average as _avg

    A = problem.num_actions
    pi0 = _init_policy(problem, init)
    res = _avg.average_policy_iteration(problem, pi0=pi0, max_iter=iters)
    lp = _avg.average_reward_lp(problem)  # independent of PI's improvement loop: HiGHS, then a polish
    gains = res.gains
    certs = LazyCertificates({
        "suboptimality": lambda: np.array([suboptimality(g, lp.gain) for g in gains]),
    })
    first = pi0 if pi0 is not None and np.ndim(pi0) == 2 else None
    return SolveResult(
        policy=one_hot(res.policy, A),
        iterates=OneHotIterates(res.policies, A, first=first),
        value=res.gain,
        optimum=Optimum(one_hot(lp.policy, A), lp.gain, lp.bias),
        certificates=certs,
        status=CONVERGED if res.converged else MAX_ITER,
        method="policy_iteration",
        hparams={},
        num_iter=res.num_iter,
        bias=res.bias,
        info={"values": gains, "biases": res.biases},
        problem=problem,
    )


def _lp_average(problem, init, solver) -> SolveResult:
    from ..exact import average as _avg

    A = problem.num_actions
    res = _lp.linear_program(problem, solver=solver)
    rvi = _avg.relative_value_iteration(problem)
    g_star = _avg.gain_bias(problem, one_hot(rvi.policy, A)).gain
    pi0 = uniform_feasible(problem) if init is None else _stochastic_init(problem, init)
    g0 = _avg.gain_bias(problem, pi0).gain
    policy = one_hot(res.policy, A)
    return SolveResult(
        policy=policy,
        iterates=np.stack([pi0, policy]),
        value=res.gain,
        optimum=Optimum(one_hot(rvi.policy, A), g_star),
        certificates={"suboptimality": np.array([suboptimality(g0, g_star), suboptimality(res.gain, g_star)])},
        status=CONVERGED,
        method="linear_program",
        hparams={"solver": solver},
        num_iter=1,
        bias=res.bias,
        info={"occupancy": res.occupancy},
        problem=problem,
    )


def _lp_total(problem, init) -> SolveResult:
    """Total reward: :func:`~polopt.exact.total.total_linear_program` (HiGHS), measured against policy iteration."""
    from ..exact import total as _total

    A = problem.num_actions
    res = _total.total_linear_program(problem)
    star = optimum(problem)
    pi0 = one_hot(_total.proper_policy(problem), A) if init is None else _stochastic_init(problem, init)
    policy = one_hot(res.policy, A)
    value = _ev.policy_value(problem, policy)
    return SolveResult(
        policy=policy,
        iterates=np.stack([pi0, policy]),
        value=value,
        optimum=Optimum(one_hot(star.policy, A), star.v),
        certificates={"suboptimality": np.array([suboptimality(_ev.policy_value(problem, pi0), star.v),
                                                 suboptimality(value, star.v)])},
        status=CONVERGED,
        method="linear_program",
        hparams={"solver": "highs"},
        num_iter=1,
        info={"visits": res.visits, "v": res.v, "weights": res.weights},
        problem=problem,
    )


@register(
    "linear_program",
    applies=_is_lp,
    summary="primal LP (HiGHS) with the occupancy measure as dual; average reward via average_reward_lp",
)
def _linear_program(problem, *, iters, init, seed, **hparams) -> SolveResult:
    reject_unknown("linear_program", hparams, ("solver",))
    solver = hparams.get("solver", "highs")
    if problem.criterion == "average":
        return _lp_average(problem, init, solver)
    if problem.criterion == "total":
        return _lp_total(problem, init)
    mdp = _tabular(problem)
    A = mdp.num_actions
    res = _lp.linear_program(mdp, solver=solver)
    star = optimum(mdp)
    pi0 = uniform_feasible(mdp) if init is None else _stochastic_init(mdp, init)
    policy = one_hot(res.policy, A)
    value = _dp.evaluate_deterministic(mdp, res.policy)
    certs = LazyCertificates({
        "suboptimality": lambda: np.array([suboptimality(_ev.policy_value(mdp, pi0), star.v),
                                           suboptimality(value, star.v)]),
    })
    return SolveResult(
        policy=policy,
        iterates=np.stack([pi0, policy]),
        value=value,
        optimum=Optimum(one_hot(star.policy, A), star.v),
        certificates=certs,
        status=CONVERGED,
        method="linear_program",
        hparams={"solver": solver},
        num_iter=1,
        info={"occupancy": res.occupancy, "v": res.v, "weights": res.weights},
        problem=problem,
    )


@register(
    "backward_induction",
    applies=_is_finite,
    summary="backward induction for finite horizons (time-inhomogeneous P_h, r_h; bandits as H = 1)",
)
def _backward_induction(problem, *, iters, init, seed, **hparams) -> SolveResult:
    reject_unknown("backward_induction", hparams, ())
    bandit = isinstance(problem, (Bandit, ContextualBandit))
    mdp = problem.to_mdp() if bandit else _tabular(problem)
    H, S, A = mdp.horizon, mdp.num_states, mdp.num_actions
    res = _dp.backward_induction(mdp)
    policy = one_hot(res.policy, A)  # [H, S, A]
    value = _ev.evaluate(mdp, policy).V  # independent recomputation of the value of the BI policy
    if init is None:
        pi0 = np.full((H, S, A), 1.0 / A)
    else:
        pi0 = as_float_array("init", init)
        if isinstance(problem, Bandit):
            pi0 = pi0.reshape(1, 1, A) if pi0.shape == (A,) else pi0
        elif pi0.shape == (S, A):
            pi0 = np.broadcast_to(pi0, (H, S, A))
    v0 = _ev.evaluate(mdp, pi0).V
    certs = {"suboptimality": np.array([suboptimality(v0[0], value[0]), suboptimality(res.V[0], value[0])])}
    out_policy, out_value, iterates = policy, value, np.stack([np.array(pi0), policy])
    if isinstance(problem, Bandit):
        out_policy, out_value, iterates = policy[0, 0], float(value[0, 0]), iterates[:, 0, 0]
    elif isinstance(problem, ContextualBandit):
        out_policy, out_value, iterates = policy[0], value[0], iterates[:, 0]
    return SolveResult(
        policy=out_policy,
        iterates=iterates,
        value=out_value,
        optimum=Optimum(out_policy, out_value),
        certificates=certs,
        status=CONVERGED,
        method="backward_induction",
        hparams={},
        num_iter=1,
        info={"V": res.V, "Q": res.Q},
        problem=problem,
    )


def _is_regularized_bandit(problem) -> bool:
    return isinstance(problem, (Bandit, ContextualBandit)) and problem.beta > 0


def _regularized_objective(problem, pi) -> float:
    """``E_pi r - beta KL(pi || mu)`` (rho-averaged over contexts)."""
    from ..certificates import kl

    pi = np.asarray(pi, dtype=np.float64)
    per = np.sum(pi * problem.r, axis=-1) - problem.beta * kl(pi, problem.mu)
    return float(per @ problem.rho) if isinstance(problem, ContextualBandit) else float(per)


@register(
    "regularized_optimum",
    applies=_is_regularized_bandit,
    summary="the default for a KL-regularized bandit: the Gibbs policy mu exp(r / beta) in closed form",
)
def _regularized_optimum(problem, *, iters, init, seed, **hparams) -> SolveResult:
    from ..exact.soft import regularized_bandit_optimum

    reject_unknown("regularized_optimum", hparams, ())
    star = regularized_bandit_optimum(problem)
    shape = np.shape(problem.mu)
    pi0 = np.array(problem.mu, dtype=np.float64) if init is None else as_float_array("init", init)
    if pi0.shape != shape:
        raise ValueError(f"init must have shape {shape}, got {pi0.shape}")
    # J* - J(pi) >= 0 exactly; the clip removes only the round-off of two logsumexps (~1e-16)
    certs = LazyCertificates({
        "suboptimality": lambda: np.maximum(np.array([star.value - _regularized_objective(problem, pi0),
                                                      star.value - _regularized_objective(problem, star.policy)]),
                                            0.0),
    })
    return SolveResult(
        policy=star.policy,
        iterates=np.stack([pi0, star.policy]),
        value=star.value,
        optimum=Optimum(star.policy, star.value),
        certificates=certs,
        status=CONVERGED,
        method="regularized_optimum",
        hparams={},
        num_iter=1,
        problem=problem,
    )
