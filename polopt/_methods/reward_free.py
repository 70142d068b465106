"""Reward-free exploration runner: exploration through the driver, exact planning suboptimality for test rewards.

``po.solve(lmdp, method="ucrl_rfe" | "ucrl_rfe_plus" | "hf_ucrl_rfe", iters=K, seed=0 (one run) or
seeds=[0, 1, ...] (a batch), eps=..., delta=..., num_rewards=..., reward_seed=...)`` on an episodic
:class:`~polopt.problems.LinearMixtureMDP` (``gamma = 1``): the rule (:mod:`polopt.rules.reward_free`) explores
for K episodes in every seed with no reward (the simulator's rewards are zero), through
:func:`polopt.solve.run_rule`. Only the learner's data is
random; everything measured is exact:

* per episode, E1 ``confidence``: ``theta*`` in every confidence ellipsoid the episode planned with;
* at checkpoints ``K_c`` (powers of two and K), for ``num_rewards`` reward functions drawn at test time
  (``reward_seed``; :func:`test_rewards`, every one with ``sum_h max r_h <= 1``): the planned policy
  ``pi^_r`` (:func:`plan_for`: certainty-equivalent backward induction on the estimated model, values
  clipped to the reward's range) and its exact suboptimality ``V*_0(rho; r) - V^{pi^_r}_0(rho; r)``
  (backward induction and exact evaluation on the true model).

Result: ``certificates["event_confidence"]`` [K+1] (fraction of seeds with E1 at each episode);
``info``: ``"checkpoints"`` int [n_c], ``"suboptimality"`` [B, n_c, n_r], ``"max_suboptimality"`` [B, n_c],
``"eps"``, ``"delta"``, ``"frequency"`` (fraction of seeds whose planned policies are eps-optimal for every
test reward after K episodes), ``"confidence_failures"`` (fraction of seeds with an E1 failure at some
episode), ``"exploration_value"`` [B, K+1], ``"oracle"`` (how HF-UCRL-RFE++'s line-5 oracle is approximated,
None for the exact algorithms), ``"seeds"``. ``policy``: the last exploration policy of the first seed;
``value``: its planned exploration value; status ``"completed"`` once the episodes are played.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_positive_int, as_scalar
from ..exact import dp as _dp
from ..exact import one_hot
from ..oracles.episodes import EpisodeSimulator, LinearMixtureEnv
from ..problems import LinearMixtureMDP, TabularMDP
from ..result import COMPLETED, LazyCertificates, OneHotIterates, Optimum, SolveResult
from ..rules import reward_free as _rf
from ..rules._vtr import plan
from . import reject_unknown, runner_for
from .learning import EVENT_ATOL, _check_problem, _seeds, evaluate_policies

FAMILY = "reward_free"
#: Hyper-parameters the runner takes besides the factories'.
COMMON = ("eps", "num_rewards", "reward_seed", "seeds")
ORACLE_APPROX = ("oracle approx.: theta at the centre of U_k, r over a finite battery (S one-state rewards + "
                 "random ones), pi by one round of alternating maximisation (greedy for r, then eq. 2.6.2)")


def is_reward_free_problem(problem) -> bool:
    return (isinstance(problem, LinearMixtureMDP) and problem.criterion == "finite_horizon"
            and problem.gamma == 1.0 and problem.num_states <= _rf.MAX_STATES)


def is_homogeneous_problem(problem) -> bool:
    return is_reward_free_problem(problem) and np.ndim(problem.theta) == 1 and np.ndim(problem.phi) == 4


def test_rewards(S: int, A: int, H: int, num: int, seed) -> np.ndarray:
    """``num`` reward functions ``[num, H, S, A]`` drawn at test time, each with ``sum_h max_{s,a} r_h <= 1``:
    alternately a uniform ``r_h(s, a) ~ U(0, 1) / H`` and a sparse one (``1/H`` on a random state-action pair
    per step, else 0), seeded by ``seed`` (independent of the learner's seeds)."""
    rng = np.random.default_rng(seed)
    out = rng.random((num, H, S, A)) / H
    for i in range(1, num, 2):
        sparse = np.zeros((H, S * A))
        sparse[np.arange(H), rng.integers(S * A, size=H)] = 1.0 / H
        out[i] = sparse.reshape(H, S, A)
    return out


def plan_for(problem, theta, rewards) -> np.ndarray:
    """Planned policies int ``[B, n, H, S]``: backward induction on the estimated model ``theta [B, H, d]`` for each
    reward of ``rewards [n, H, S, A]`` (:func:`polopt.rules._vtr.plan` with radius 0; values clipped to
    ``[0, sum_{h' >= h} max r_h']``, the range of the true values)."""
    B, H, _ = theta.shape
    Sinv = np.broadcast_to(np.eye(theta.shape[-1]), (B, H) + (theta.shape[-1],) * 2)
    out = []
    for r in rewards:
        vmax = np.cumsum(r.max(axis=(1, 2))[::-1])[::-1]
        out.append(plan(problem.phi, r, theta, Sinv, np.zeros((B, H)), vmax).policy)
    return np.stack(out, axis=1)


def suboptimality(problem, policies, rewards) -> np.ndarray:
    """Exact ``V*_0(rho; r) - V^{pi}_0(rho; r)`` ``[B, n]`` of ``policies`` int [B, n, H, S] for
    ``rewards [n, H, S, A]``."""
    H, rho, P = problem.horizon, np.asarray(problem.rho), problem.P
    out = np.empty(policies.shape[:2])
    for i, r in enumerate(rewards):
        v_star = float(rho @ _dp.backward_induction(TabularMDP(P, r, horizon=H, rho=rho)).V[0])
        out[:, i] = v_star - evaluate_policies(P, r, policies[:, i])[:, 0] @ rho
    return out


def checkpoints(K: int) -> np.ndarray:
    """Powers of two below K, and K."""
    return np.unique(np.append(2 ** np.arange(int(np.log2(K)) + 1), K)).astype(np.int64)


def _env(problem, seeds) -> LinearMixtureEnv:
    H = problem.horizon
    zero = np.zeros((H, problem.num_states, problem.num_actions))  # reward-free: nothing is observed
    sim = EpisodeSimulator(problem.P, zero, problem.rho, H, seeds)
    return LinearMixtureEnv(problem.phi, zero, np.asarray(problem.rho), np.ndim(problem.theta) == 2, sim)


def run_exploration(problem, rule, K: int, seed=0, *, num_rewards: int = 20, reward_seed=12345, eps=None,
                    keep_policies: bool = False) -> dict[str, Any]:
    """Explore for ``K`` episodes in every seed, then plan for test rewards at the checkpoints (module docstring).

    Returns a dict with ``"confidence"`` bool [B, K+1], ``"exploration_value"`` [B, K+1], ``"checkpoints"``,
    ``"suboptimality"`` [B, n_c, n_r], ``"max_suboptimality"`` [B, n_c], ``"rewards"`` and, with
    ``keep_policies``, the exploration ``"policies"`` int [K+1, B, H, S].
    """
    from ..solve import run_rule

    _check_problem(problem, "mixture")
    K = as_positive_int("episodes", K)
    seeds = _seeds(seed)
    env = _env(problem, seeds)
    H, d, B = problem.horizon, problem.dim, env.batch
    theta_star = np.atleast_2d(problem.theta)
    cps = checkpoints(K)
    atol = EVENT_ATOL * max(1.0, H)

    def record(state) -> np.ndarray:
        th, Sig, rad = _rf.ellipsoids(state)
        # step-dependent models: regression j is step j's theta*; homogeneous: one theta* for every ellipsoid
        star = theta_star[np.arange(th.shape[1]) % theta_star.shape[0]]
        diff = th - star
        dist = np.sqrt(np.maximum(np.einsum("bji,bjik,bjk->bj", diff, Sig, diff), 0.0))
        e1 = np.all(dist <= rad + atol, axis=-1)
        parts = [e1, state.value, _rf.estimate(state, H).reshape(-1)]
        if keep_policies:
            parts.append(state.policy.reshape(-1))
        return np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in parts])

    traj = run_rule(rule, env, rule.init(env), K, record_of=record)
    rec = traj.records
    e1, value = rec[:, :B].T > 0.5, rec[:, B:2 * B].T
    thetas = rec[:, 2 * B:2 * B + B * H * d].reshape(-1, B, H, d)
    rewards = test_rewards(problem.num_states, problem.num_actions, H, num_rewards, reward_seed)
    sub = np.stack([suboptimality(problem, plan_for(problem, thetas[k], rewards), rewards) for k in cps], axis=1)
    out = {"confidence": e1, "exploration_value": value, "checkpoints": cps, "suboptimality": sub,
           "max_suboptimality": sub.max(axis=-1), "rewards": rewards, "seeds": seeds, "state": traj.state}
    if keep_policies:
        out["policies"] = rec[:, 2 * B + B * H * d:].reshape(-1, B, H, problem.num_states).astype(np.int64)
    return out


def _defaults(problem, iters: int, given: dict) -> dict:
    """``episodes = iters`` (the radii depend on the budget); ``B`` = the model's ``max_h ||theta_h||_2``."""
    return {"episodes": int(iters), "B": float(np.max(np.linalg.norm(np.atleast_2d(problem.theta), axis=-1)))}


def _run_row(name: str, problem, *, iters, init, seed, **hparams) -> SolveResult:
    from ..methods import lookup

    row = lookup(name)
    reject_unknown(name, hparams, row.hparam_names())
    if init is not None:
        raise ValueError(f"{name} starts from its prior (no data): init must be None, got {type(init).__name__}")
    K = as_positive_int("iters (episodes)", iters)
    hp = {k: v for k, v in hparams.items() if v is not None}
    eps = hp.pop("eps", None)
    eps = None if eps is None else as_scalar("eps", eps, low=0.0, low_open=True)
    num_rewards = as_positive_int("num_rewards", hp.pop("num_rewards", 20))
    reward_seed = hp.pop("reward_seed", 12345)
    seeds = hp.pop("seeds", None)
    if seeds is not None and seed is not None:
        raise ValueError(f"{name}: give seed (one run) or seeds (a batch of runs), not both")
    for k, v in _defaults(problem, K, hp).items():
        hp.setdefault(k, v)
    rule = row.rule(**hp)
    run = run_exploration(problem, rule, K, seed if seeds is None else seeds, num_rewards=num_rewards,
                          reward_seed=reward_seed, keep_policies=True)
    A = problem.num_actions
    pols = run["policies"][:, 0]
    final = run["max_suboptimality"][:, -1]
    delta = float(rule.hparams.delta)
    info = {k: run[k] for k in ("checkpoints", "suboptimality", "max_suboptimality", "rewards", "seeds")}
    info.update({
        "eps": eps, "delta": delta,
        "frequency": None if eps is None else float(np.mean(final <= eps)),
        "confidence_failures": float(np.mean(~np.all(run["confidence"], axis=1))),
        "exploration_value": run["exploration_value"],
        "oracle": ORACLE_APPROX if name == "hf_ucrl_rfe" else None,
        "planning": "certainty-equivalent backward induction on the final estimate (radius 0)",
    })
    bi = _dp.backward_induction(problem)
    return SolveResult(
        policy=one_hot(pols[-1], A), iterates=OneHotIterates(pols, A), value=float(run["exploration_value"][0, -1]),
        optimum=Optimum(one_hot(bi.policy, A), bi.V[:problem.horizon]),
        certificates=LazyCertificates({"event_confidence": run["confidence"].mean(axis=0)}),
        status=COMPLETED, method=name, hparams=rule.hparams._asdict(), num_iter=K, info=info, problem=problem,
    )


def runner(name: str):
    """The table's ``run`` for row ``name``."""
    return runner_for(name, _run_row)


def rows():
    """The method-table rows of the reward-free learners (family ``"reward_free"``)."""
    from ..methods import Method

    needs = f"an episodic LinearMixtureMDP (horizon=H, gamma=1) with at most {_rf.MAX_STATES} states"
    return (
        Method("ucrl_rfe", is_reward_free_problem, runner("ucrl_rfe"),
               "UCRL-RFE: reward-free exploration on the maximally uncertain value vertex (arXiv 2303.10165, Alg. 2)",
               _rf.ucrl_rfe, (), None, COMMON, FAMILY, needs),
        Method("ucrl_rfe_plus", is_reward_free_problem, runner("ucrl_rfe_plus"),
               "UCRL-RFE+: reward-free exploration with Bernstein weights (arXiv 2303.10165, Alg. 3)",
               _rf.ucrl_rfe_plus, (), None, COMMON, FAMILY, needs),
        Method("hf_ucrl_rfe", is_homogeneous_problem, runner("hf_ucrl_rfe"),
               "HF-UCRL-RFE++: horizon-free reward-free exploration with HOME; its oracle approximated "
               "(arXiv 2303.10165, Alg. 4)",
               _rf.hf_ucrl_rfe, ("hf_ucrl_rfe_pp",), None, COMMON, FAMILY, needs + ", homogeneous (one theta*)"),
    )
