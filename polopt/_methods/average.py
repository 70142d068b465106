"""``solve`` adapters: relative value iteration (average reward) and soft value iteration.

* ``"relative_value_iteration"`` — average-reward :class:`~polopt.problems.TabularMDP`
  (``gamma = 1``). Hyper-parameters: ``omega`` in (0, 1] (relaxation / aperiodicity weight, default 0.5; ``tau=``
  is its deprecated name),
  ``tol`` (> 0, stop when ``sp(T h - h) < tol``; default ``SOLVER_TOL``), ``ref_state``.
  ``init``: initial relative values ``h0`` [S], or a policy ([S, A] or int [S]) whose bias is
  used as ``h0``. Certificates [T+1]: ``"span"`` = ``sp(T h_t - h_t)`` and
  ``"suboptimality"`` = ``max_s (g* - g^{pi_t})(s)`` of the greedy policy ``pi_t`` of ``h_t``.
  ``res.value`` is the exact gain [S] of ``res.policy``, ``res.bias`` its bias (``P* h = 0``);
  ``info``: ``gain_lower`` / ``gain_upper`` [T+1] (bounds on ``g*``), ``h`` (final relative
  values), ``gain`` (midpoint estimate). Optimum: :func:`~polopt.exact.average_reward_lp`.
* ``"soft_value_iteration"`` — discounted TabularMDP. Hyper-parameters: ``beta > 0``
  (required, KL coefficient), ``reference`` ([S, A] or [A], default uniform), ``tol``; an MDP built
  with ``beta > 0`` supplies both (and it is then ``solve(mdp)``'s default method).
  ``init``: initial value [S] or a policy [S, A] (its regularized value is ``v_0``).
  Certificates [T+1]: ``"bellman_residual"`` = ``||T_beta v_t - v_t||_inf``,
  ``"value_error"`` = ``||v_t - v*||_inf``, ``"kl_to_optimum"`` = ``KL(pi* || pi_t)``
  (state-averaged) with ``pi_t = gibbs(q(v_t))``. ``res.value`` is the regularized value of
  ``res.policy``; ``info["v"]`` the last iterate. Optimum: :func:`soft_policy_iteration`
  (exact evaluations + Gibbs improvement; independent of the value-iteration sweeps).
"""

from __future__ import annotations

import numpy as np

from .._base import SOLVER_TOL
from .._deprecation import renamed
from .._validation import as_float_array, as_positive_int, as_scalar
from ..certificates import kl_to_optimum, suboptimality
from ..exact import average as _avg
from ..exact import one_hot
from ..exact import soft as _soft
from ..problems import TabularMDP
from ..result import CONVERGED, MAX_ITER, NONFINITE, Optimum, SolveResult
from ..solve import register
from . import reject_unknown


def _is_average_mdp(problem) -> bool:
    return isinstance(problem, TabularMDP) and problem.criterion == "average"


def _is_discounted_mdp(problem) -> bool:
    return isinstance(problem, TabularMDP) and problem.criterion == "discounted"



def _rvi_h0(problem, init):
    if init is None:
        return None
    arr = np.asarray(init)
    S, A = problem.num_states, problem.num_actions
    if arr.shape == (S, A) or (arr.shape == (S,) and np.issubdtype(arr.dtype, np.integer)):
        return _avg.gain_bias(problem, arr).bias
    h0 = as_float_array("init", init, ndim=1)
    if h0.shape != (S,):
        raise ValueError(f"init must be relative values [{S}] or a policy [{S}, {A}], got shape {h0.shape}")
    return h0


@register(
    "relative_value_iteration",
    applies=_is_average_mdp,
    summary="relative value iteration with the aperiodicity transform (average reward)",
)
@renamed(tau="omega")
def _relative_value_iteration(problem, *, iters, init, seed, **hparams) -> SolveResult:
    """Relative value iteration with the aperiodicity transform (average reward)."""
    reject_unknown("relative_value_iteration", hparams, ("omega", "tol", "ref_state"))
    omega = hparams.get("omega", 0.5)
    tol = hparams.get("tol", SOLVER_TOL)
    ref_state = hparams.get("ref_state", 0)
    h0 = _rvi_h0(problem, init)
    omega, tol, max_iter, ref_state, h0 = _avg.check_rvi_args(problem, omega, tol, iters, ref_state, h0)
    trace = _avg.rvi_trace(problem, omega, tol, max_iter, ref_state, h0, record=True)
    res = trace.result
    A = problem.num_actions

    opt = _avg.average_reward_lp(problem)
    optimum = Optimum(one_hot(opt.policy, A), opt.gain, opt.bias)
    # policies change rarely: evaluate each distinct greedy policy once
    cache: dict[bytes, _avg.GainBias] = {}

    def evaluate(sigma):
        key = sigma.tobytes()
        if key not in cache:
            cache[key] = _avg.gain_bias(problem, sigma)
        return cache[key]

    subopt = np.array([suboptimality(evaluate(sigma).gain, opt.gain) for sigma in trace.policies])
    final = evaluate(res.policy)
    if not np.isfinite(trace.spans[-1]):
        status = NONFINITE
    else:
        status = CONVERGED if res.converged else MAX_ITER
    return SolveResult(
        policy=one_hot(res.policy, A),
        iterates=one_hot(trace.policies, A),
        value=final.gain,
        optimum=optimum,
        certificates={"span": trace.spans, "suboptimality": subopt},
        status=status,
        method="relative_value_iteration",
        hparams={"omega": omega, "tol": tol, "ref_state": ref_state},
        num_iter=res.num_iter,
        bias=final.bias,
        info={"gain_lower": trace.lower, "gain_upper": trace.upper, "h": res.bias, "gain": res.gain},
        problem=problem,
    )


def _soft_v0(problem, init, beta, mu):
    if init is None:
        return None
    arr = as_float_array("init", init)
    S, A = problem.num_states, problem.num_actions
    if arr.shape == (S, A):
        return _soft.regularized_policy_evaluation(problem, arr, beta, mu)
    if arr.shape != (S,):
        raise ValueError(f"init must be a value [{S}] or a policy [{S}, {A}], got shape {arr.shape}")
    return arr


def _problem_regularizer(problem, hparams: dict) -> dict:
    """``beta`` / ``reference`` from an MDP that carries them (``beta > 0``: the RLHF objective is the
    problem's); giving them again is allowed only with the same values."""
    if getattr(problem, "beta", 0.0) == 0.0:  # a problem saved before MDPs carried beta has none
        return hparams
    out = dict(hparams)
    for name, own in (("beta", problem.beta), ("reference", problem.mu)):
        given = out.get(name)
        if given is None:
            out[name] = own
            continue
        given_arr = np.broadcast_to(np.asarray(given, dtype=np.float64), np.shape(own))
        if not np.array_equal(given_arr, own):
            raise ValueError(f"soft_value_iteration: {name} is the problem's ({problem!r} has beta={problem.beta:g} "
                             f"and its reference); got a different {name} = {given!r}")
    return out


@register(
    "soft_value_iteration",
    applies=_is_discounted_mdp,
    summary="KL-regularized (soft) value iteration; hparam beta > 0, optional reference",
)
def _soft_value_iteration(problem, *, iters, init, seed, **hparams) -> SolveResult:
    """KL-regularized (soft) value iteration; hparam beta > 0, optional reference."""
    reject_unknown("soft_value_iteration", hparams, ("beta", "reference", "tol"))
    hparams = _problem_regularizer(problem, hparams)
    if "beta" not in hparams:
        raise TypeError("soft_value_iteration requires the hyper-parameter beta (KL coefficient > 0)")
    beta = as_scalar("beta", hparams["beta"], low=0.0, low_open=True)
    tol = as_scalar("tol", hparams.get("tol", SOLVER_TOL), low=0.0, low_open=True)
    max_iter = as_positive_int("iters", iters, minimum=0)
    mu = _soft.reference_policy(hparams.get("reference"), problem.num_states, problem.num_actions)
    v0 = _soft_v0(problem, init, beta, mu)

    opt = _soft.soft_policy_iteration(problem, beta, mu)
    values, policies, residuals = [], [], []

    def record(v, q, delta):
        values.append(v)
        policies.append(_soft.gibbs_policy(q, beta, mu))
        residuals.append(delta)

    v, q, _, n, converged = _soft.soft_vi_loop(problem, beta, mu, tol, max_iter, v0, callback=record)
    values = np.array(values)
    policies = np.array(policies)
    residuals = np.array(residuals)
    policy = policies[-1]
    finite = bool(np.all(np.isfinite(residuals)))
    status = CONVERGED if converged else (MAX_ITER if finite else NONFINITE)
    return SolveResult(
        policy=policy,
        iterates=policies,
        value=_soft.regularized_policy_evaluation(problem, policy, beta, mu) if finite else v,
        optimum=Optimum(opt.policy, opt.v, None),
        certificates={
            "bellman_residual": residuals,
            "value_error": np.max(np.abs(values - opt.v[None, :]), axis=1),
            "kl_to_optimum": np.array([kl_to_optimum(pi, opt.policy) for pi in policies]),
        },
        status=status,
        method="soft_value_iteration",
        hparams={"beta": beta, "reference": mu, "tol": tol},
        num_iter=n,
        info={"v": v, "values": values},
        problem=problem,
    )
