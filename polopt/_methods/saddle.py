"""``solve`` runner for mirror prox on the MDP saddle point (``po.solve(mdp, method="mirror_prox")``).

On a discounted :class:`~polopt.problems.TabularMDP` (or a discounted LinearMixtureMDP through
``as_tabular()``) or an average-reward one (``gamma = 1``), ``mirror_prox`` runs the rule of
:mod:`polopt.rules.saddle` through :func:`polopt.solve.run_rule` with the oracle of
:mod:`polopt.oracles.saddle`; on a preference game the same name is Nash-MP (the table's row
dispatches on the problem kind, :func:`polopt.methods._mirror_prox_row`). Finite horizons are refused
(no saddle point is set up for them).

Hyper-parameters (all optional):

* ``eta_v``, ``eta_d`` — steps; default the balanced pair ``eta_v = sqrt(D_v / D_d) / L``,
  ``eta_d = sqrt(D_d / D_v) / L``; one given, the other is ``1 / (L^2 eta_given)`` (the largest the
  step condition allows). ``eta_v eta_d > 1 / L^2`` raises ValueError. ``eta_mu=`` is the deprecated
  name of ``eta_d`` (the occupancy is ``d``; ``mu`` is the reference policy).
* ``box = (lo, hi)`` — the value player's box; default ``[min r, max r] / (1 - gamma)`` (it contains
  every policy's value, so theorem ``mp_mdp.policy`` holds without its slack term) and, at ``gamma = 1``,
  ``[-M, M]`` with ``M = max(sp(h*), sp(r))`` read from the exact solution the certificates use
  (``sp(h*) <= 2 M`` keeps the optimal bias, shifted to its midrange, inside the box).
* ``num_samples`` — None: the exact oracle; an int ``m``: the sampled oracle of Jin & Sidford
  (``2 m`` transitions per operator call, seeded by ``seed``; no registered rate).
* ``tol`` — stop during the run at the first recorded average with ``duality_gap <= tol``;
  ``record`` — keep every ``record``-th iterate.

``init``: a policy ``[S, A]`` (the start occupancy is ``pi(a|s) / S``); default the uniform occupancy.
The value player starts at the box centre.

Result: ``policy`` = ``pi_bar_T`` read from the averaged occupancy (the point the guarantee is
about); ``average`` ``[T+1, S, A]`` the policies of the averaged occupancies (row 0 = the start);
``iterates`` ``[T+1, S, A]`` the policies of the prox centres ``d_t`` (no guarantee); ``value``
``V^{pi_bar_T}`` [S] (discounted) or its gain [S] with ``bias``. ``optimum``: the cached certified
:func:`polopt.exact.solve_mdp` (discounted) or :func:`polopt.exact.average_reward_lp`. Certificates
``[T+1]``, lazy:

* ``"duality_gap"`` — :func:`polopt.certificates.saddle_gap` of ``(v_bar_t, d_bar_t)``;
* ``"suboptimality"`` — of ``pi_bar_t``: ``rho . (V* - V^pi)`` (discounted) or ``max_s (g* - g^pi)(s)``
  (average reward, as the other average-reward rows);
* ``"lp_suboptimality"`` — the LP objective's gap of ``pi_bar_t``: ``(1 - gamma) rho . (V* - V^pi)``, or
  ``max_s g*(s) - nu^T g^pi`` with ``nu(s) = sum_a d_bar(s, a)`` (theorem ``mp_mdp.policy``);
* ``"duality_gap_last"``, ``"suboptimality_last"`` — the same for the prox centres;
* ``"bellman_residual"`` of ``v_bar_t`` (discounted) or ``"span"`` ``sp(T h_bar - h_bar)`` (average).

``info`` (lazy): ``"box"``, ``"L"``, ``"D_v"``, ``"D_d"``, ``"gamma"``, ``"box_slack"`` [T+1] (the
a-posteriori term of ``mp_mdp.policy``, 0 when the box contains ``V^pi_bar``), ``"v_avg"`` [T+1, S],
``"occupancy_avg"`` [T+1, S, A], ``"oracle_calls"`` [T+1] (operator calls; sampled: transitions).
"""

from __future__ import annotations

import math
import weakref
from typing import NamedTuple

import numpy as np

from .. import certificates
from .._deprecation import renamed
from .._threads import single_threaded
from .._validation import as_distribution, as_positive_int, as_scalar, fits_dense
from ..exact import average as _avg
from ..exact import evaluation as _ev
from ..exact import one_hot
from ..oracles import as_generator
from ..oracles.saddle import SaddleOracle, SampledSaddleOracle, grad_v, operator_norm
from ..problems import LinearMixtureMDP, TabularMDP
from ..result import LazyCertificates, Optimum, SolveResult
from ..rules import saddle as _saddle
from ..rules._core import step_size
from . import once_per_problem, reject_unknown
from .mdp import optimum as _discounted_optimum
from .pg import _lazy  # computed once, on first read, with one BLAS thread

HPARAMS = ("eta_v", "eta_d", "box", "num_samples", "tol", "record")
#: An operator norm below this is treated as this value when steps are chosen: every step pair
#: admissible for L_FLOOR is admissible for the smaller true L, and the default steps stay finite
#: (L = 0 happens when every action keeps every state in place at gamma = 1).
L_FLOOR = 1e-2


def is_saddle_mdp(problem) -> bool:
    """A discounted or average-reward tabular MDP whose dense kernel fits in memory (the oracle is dense)."""
    if isinstance(problem, LinearMixtureMDP):
        ok = problem.criterion == "discounted"
    else:
        # beta > 0 is the KL-regularized objective, not the LP saddle point this method solves; infeasible
        # pairs (r = -inf) would need the occupancy's simplex restricted to the feasible ones
        ok = (isinstance(problem, TabularMDP) and problem.criterion in ("discounted", "average")
              and getattr(problem, "beta", 0.0) == 0 and not problem.has_infeasible)
    return ok and fits_dense((problem.num_states, problem.num_actions, problem.num_states), copies=3)


NEEDS = ("a discounted or average-reward (gamma = 1) TabularMDP without infeasible actions whose dense kernel "
         "fits in memory (the MDP saddle point; finite horizons are not covered)")


class Instance(NamedTuple):
    """The saddle point of one MDP: arrays, box, operator norm and the optimum the certificates use."""

    mdp: TabularMDP
    P: np.ndarray  # [S, A, S] dense
    r: np.ndarray  # [S, A]
    gamma: float  # 1.0 = average reward
    rho: np.ndarray  # [S]
    lo: float
    hi: float
    L: float


_AVERAGE_OPTIMA: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def average_optimum(mdp) -> _avg.AverageLPResult:
    """:func:`polopt.exact.average_reward_lp` of ``mdp``, computed once per problem (problems are immutable)."""
    return once_per_problem(_AVERAGE_OPTIMA, mdp, lambda: _avg.average_reward_lp(mdp))


def _default_box(mdp, r: np.ndarray, average: bool) -> tuple[float, float]:
    if average:
        M = max(certificates.span(average_optimum(mdp).bias), certificates.span(r))
        M = M if M > 0 else 1.0  # constant rewards: every policy is optimal, any box works
        return -M, M
    lo, hi = float(r.min()), float(r.max())
    if hi == lo:  # constant rewards: V^pi = r / (1 - gamma) for all pi; widen so that the box has interior
        hi = lo + 1.0
    return lo / (1.0 - mdp.gamma), hi / (1.0 - mdp.gamma)


def instance(problem, box=None) -> Instance:
    """The saddle point of ``problem`` with the default box or ``box = (lo, hi)`` (lo < hi, finite)."""
    mdp = problem.as_tabular() if isinstance(problem, LinearMixtureMDP) else problem
    average = mdp.criterion == "average"
    P = np.asarray(mdp.dense_P(), dtype=np.float64)
    r = np.asarray(mdp.r, dtype=np.float64)
    if box is None:
        lo, hi = _default_box(mdp, r, average)
    else:
        if not isinstance(box, (tuple, list)) or len(box) != 2:
            raise ValueError(f"box must be a pair (lo, hi), got {box!r}")
        lo = as_scalar("box[0]", box[0])
        hi = as_scalar("box[1]", box[1])
        if not lo < hi:
            raise ValueError(f"box must have lo < hi, got box = ({lo:g}, {hi:g})")
    gamma = 1.0 if average else float(mdp.gamma)
    return Instance(mdp, P, r, gamma, np.asarray(mdp.rho, dtype=np.float64), float(lo), float(hi),
                    operator_norm(P, gamma))


def diameters(inst: Instance, v0: np.ndarray, d0: np.ndarray) -> tuple[float, float]:
    """``(D_v, D_d)``: ``max_{v in box} ||v - v0||^2 / 2`` and ``max_d KL(d || d0) = -log min d0``."""
    reach = np.maximum(v0 - inst.lo, inst.hi - v0)
    with np.errstate(divide="ignore"):
        return 0.5 * float(np.sum(reach**2)), float(-np.log(np.min(d0)))


def steps(L: float, D_v: float, D_d: float, eta_v=None, eta_d=None) -> tuple[float, float]:
    """The balanced steps ``sqrt(D_v/D_d)/L``, ``sqrt(D_d/D_v)/L``, or the partner of a given one (``1/(L^2 eta)``).

    They minimise the bound ``D_v/(eta_v T) + D_d/(eta_d T)`` under ``eta_v eta_d = 1/L^2``, where it
    equals ``2 L sqrt(D_v D_d) / T``.
    """
    L = max(L, L_FLOOR)
    if eta_v is None and eta_d is None:
        if not (0 < D_d < math.inf and D_v > 0):
            return 1.0 / L, 1.0 / L
        return math.sqrt(D_v / D_d) / L, math.sqrt(D_d / D_v) / L
    if eta_d is None:
        eta_v = step_size("mirror_prox", "eta_v", eta_v)
        return eta_v, 1.0 / (L * L * eta_v)
    if eta_v is None:
        eta_d = step_size("mirror_prox", "eta_d", eta_d)
        return 1.0 / (L * L * eta_d), eta_d
    return eta_v, eta_d


def _start(inst: Instance, init) -> np.ndarray:
    S, A = inst.r.shape
    if init is None:
        return np.full((S, A), 1.0 / (S * A))
    return np.array(as_distribution("init", init, (S, A))) / S


def _policy_values(inst: Instance, pols: np.ndarray):
    """Exact values of the policies ``[n, S, A]``: ``V [n, S]`` (discounted) or ``(gain [n, S], bias [n, S])``."""
    if inst.gamma < 1.0:
        return np.stack([_ev.policy_value(inst.mdp, p) for p in pols]), None
    evs = [_avg.gain_bias(inst.mdp, p) for p in pols]
    return np.stack([e.gain for e in evs]), np.stack([e.bias for e in evs])


def _box_slack(inst: Instance, d: np.ndarray, values: np.ndarray, bias) -> np.ndarray:
    """The a-posteriori term of ``mp_mdp.policy``: 0 when the box contains ``V^pi`` (discounted) / ``sp(h^pi)``."""
    e = grad_v(inst.P, inst.gamma, inst.rho, d)  # [n, S] flow residual of the occupancy
    if inst.gamma < 1.0:
        pos, neg = np.maximum(e, 0.0), np.maximum(-e, 0.0)
        return np.sum(pos * np.maximum(inst.lo - values, 0.0) + neg * np.maximum(values - inst.hi, 0.0), axis=-1)
    spans = np.max(bias, axis=-1) - np.min(bias, axis=-1)
    return 0.5 * np.maximum(spans - (inst.hi - inst.lo), 0.0) * np.sum(np.abs(e), axis=-1)


@renamed(where="mirror_prox", eta_mu="eta_d")
def run_mdp_mirror_prox(problem, *, iters: int, init, seed, **hparams) -> SolveResult:
    """Run mirror prox on the saddle point of ``problem`` and assemble its SolveResult (module docstring)."""
    from ..solve import run_rule

    reject_unknown("mirror_prox", hparams, HPARAMS)
    tol = hparams.get("tol")
    tol = None if tol is None else as_scalar("tol", tol, low=0.0)
    record = as_positive_int("record", hparams.get("record", 1))
    m = hparams.get("num_samples")
    m = None if m is None else as_positive_int("num_samples", m)
    inst = instance(problem, hparams.get("box"))
    S, A = inst.r.shape
    d0 = _start(inst, init)
    v0 = np.full(S, 0.5 * (inst.lo + inst.hi))
    D_v, D_d = diameters(inst, v0, d0)
    eta_v, eta_d = steps(inst.L, D_v, D_d, hparams.get("eta_v"), hparams.get("eta_d"))
    rule = _saddle.mdp_mirror_prox(eta_v=eta_v, eta_d=eta_d, L=max(inst.L, L_FLOOR))
    if m is None:
        oracle = SaddleOracle(inst.P, inst.r, inst.gamma, inst.rho, inst.lo, inst.hi)
    else:
        oracle = SampledSaddleOracle(inst.P, inst.r, inst.gamma, inst.rho, inst.lo, inst.hi, as_generator(seed), m)
    with np.errstate(divide="ignore"):  # a policy init with zeros: log 0 = -inf is a valid log-occupancy
        state = rule.init(np.log(d0), oracle, v0)
    n_v, n_d = S, S * A

    def record_of(s):
        return np.concatenate([s.v_avg, s.log_d_avg.reshape(-1), s.v, s.log_d.reshape(-1)])

    def split(block):
        k = block.shape[0]
        v_avg, rest = block[:, :n_v], block[:, n_v:]
        log_d_avg, rest = rest[:, :n_d].reshape(k, S, A), rest[:, n_d:]
        return v_avg, log_d_avg, rest[:, :n_v], rest[:, n_v:].reshape(k, S, A)

    def gaps(v, log_d):
        return certificates.saddle_gap(inst.P, inst.r, inst.gamma, inst.rho, inst.lo, inst.hi, v, np.exp(log_d))

    def stop(block):
        v_avg, log_d_avg, _, _ = split(block)
        return gaps(v_avg, log_d_avg)

    with single_threaded():
        traj = run_rule(rule, oracle, state, iters, record_of=record_of, stop=None if tol is None else stop,
                        tol=tol, record=record)
    v_avg, log_d_avg, v_last, log_d_last = split(traj.records)
    avg_pols = np.exp(_saddle.policy_of_occupancy(log_d_avg))
    last_pols = np.exp(_saddle.policy_of_occupancy(log_d_last))
    d_avg = np.exp(log_d_avg)

    average = inst.gamma == 1.0
    if average:
        lp = average_optimum(inst.mdp)
        opt = Optimum(one_hot(lp.policy, A), lp.gain, lp.bias)
        g_star = float(np.max(lp.gain))
    else:
        star = _discounted_optimum(inst.mdp)
        opt = Optimum(one_hot(star.policy, A), star.v)
    avg_values = _lazy(lambda: _policy_values(inst, avg_pols))
    last_values = _lazy(lambda: _policy_values(inst, last_pols))

    def subopt(values):
        if average:
            return np.array([certificates.suboptimality(g, lp.gain) for g in values])
        return np.array([certificates.suboptimality(v, star.v, inst.rho) for v in values])

    def lp_subopt():
        values = avg_values()[0]
        if average:
            return g_star - np.sum(d_avg.sum(-1) * values, axis=-1)
        return (1.0 - inst.gamma) * subopt(values)

    certs = {
        "duality_gap": traj.stop_values if traj.stop_values is not None else _lazy(lambda: gaps(v_avg, log_d_avg)),
        "suboptimality": _lazy(lambda: subopt(avg_values()[0])),
        "lp_suboptimality": _lazy(lp_subopt),
        "duality_gap_last": _lazy(lambda: gaps(v_last, log_d_last)),
        "suboptimality_last": _lazy(lambda: subopt(last_values()[0])),
    }
    if average:
        certs["span"] = _lazy(lambda: np.array([certificates.span((inst.r + inst.P @ h).max(-1) - h)
                                                for h in v_avg]))
    else:
        certs["bellman_residual"] = _lazy(lambda: np.array([
            certificates.bellman_residual(inst.mdp.P_sa, inst.r, inst.gamma, v) for v in v_avg]))
    calls = rule.oracle_calls * oracle.cost()
    info = {
        "box": (inst.lo, inst.hi), "L": inst.L, "D_v": D_v, "D_d": D_d, "gamma": inst.gamma,
        "box_slack": _lazy(lambda: _box_slack(inst, d_avg, *avg_values())),
        "v_avg": v_avg, "occupancy_avg": d_avg, "oracle_calls": (calls * traj.steps).astype(np.int64),
    }
    if record > 1:
        info["recorded"] = traj.steps
    with single_threaded():
        final_values, final_bias = _policy_values(inst, avg_pols[-1:])
    return SolveResult(
        policy=avg_pols[-1],
        iterates=last_pols,
        value=final_values[0],
        optimum=opt,
        certificates=LazyCertificates(certs),
        status=traj.status,
        method="mirror_prox",
        hparams={**rule.hparams._asdict(), "box": (inst.lo, inst.hi), "num_samples": m, "tol": tol},
        num_iter=traj.num_iter,
        average=avg_pols,
        bias=None if final_bias is None else final_bias[0],
        info=LazyCertificates(info),
        problem=problem,
    )
