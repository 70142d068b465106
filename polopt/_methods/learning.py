"""The learning runner: exact pseudo-regret and proof events of learning rules, and their table rows.

:func:`run_episodes` runs a learning :class:`~polopt.rules.Rule` (:mod:`polopt.rules.learning`) through the
one driver :func:`polopt.solve.run_rule`, batched over seeds, and measures it against the exact model the
learner never sees. **Only the learner's data is random**: every certificate is an exact function of the
policies it committed to.

Linear mixture MDP (finite horizon ``H``, undiscounted, rewards in [0, 1]), episode ``k``:

* ``suboptimality[k] = rho . (V*_0 - V^{pi_k}_0)``: ``V*`` by :func:`polopt.exact.backward_induction` on the
  true model, ``V^{pi_k}`` by exact evaluation of the committed policy (batched recursion
  ``V_h = r_h(s, pi_h(s)) + P_h(s, pi_h(s)) . V_{h+1}``, checked against :func:`polopt.exact.evaluate`);
  ``regret[k] = sum_{j <= k} suboptimality[j]``, ``regret[0] = 0``;
* proof events (per episode, for the confidence sets the learner planned with):
  E1 ``confidence``: ``||theta_{k,j} - theta*_j||_{Sigma_{k,j}} <= rad_{k,j}`` for every regression j;
  E2 ``optimism``: ``rho . V^k_0 >= rho . V*_0``;
  E3 ``planning``: ``rho . (V^k_0 - V^{pi_k}_0) <= rho . W^{pi_k}_0`` where ``W^{pi_k}`` is the exact value of
  ``pi_k`` for the bonus reward ``min(vmax_h, 2 rad_{k,h} ||phi_{V^k_{h+1}}(s, a)||_{Sigma_{k,h}^{-1}})``
  (W. Zhang, UCLA dissertation 2024, Lemma 2.8.1). E1 implies E2 and E3 (theorem ``learning.optimism``).

Average-reward MDP (``gamma = 1``), step ``t`` (UCRL2): ``regret[t] = sum_{u <= t} (g* - g^{pi_u}(s_u))`` with the
exact gains of :func:`polopt.exact.gain_bias` and ``g* = max_s g*(s)`` of :func:`polopt.exact.average_reward_lp`
(constant on the communicating models UCRL2's theorem is about);
``sampled_regret[t] = t g* - sum_{u <= t} r_u`` (the paper's regret); events at each episode start:
E1 ``confidence`` the true ``(P, r)`` lies in the plausible set, E2 ``optimism`` ``max_s (T~u - u)(s) >= g*``.

Rows of the method table (family ``"learning"``): ``ucrl_vtr``, ``ucrl_vtr_plus`` (LinearMixtureMDP with a
horizon) and ``ucrl2`` (average-reward TabularMDP); ``po.solve(problem, method=..., iters=K, seed=0)``.

A new learner reuses the pieces: its oracle is :func:`mixture_env` / :func:`average_env` (features, known
rewards, simulator over a batch of seeds), its regressions :class:`polopt.rules._vtr.Ridge`, its planner
:func:`polopt.rules._vtr.plan`; a linear-mixture learner whose state carries ``commit`` (a
:class:`polopt.rules._vtr.Commit`) gets the exact regret and the events E1-E3 from :func:`run_episodes`
unchanged. Other objectives (reward-free exploration: the suboptimality of a planned policy for a battery
of rewards) evaluate committed policies exactly with :func:`evaluate_policies`.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

from .._validation import as_positive_int
from ..exact import average as _avg
from ..exact import dp as _dp
from ..exact import one_hot
from ..exact.hitting import diameter
from ..oracles.episodes import AverageRewardEnv, EpisodeSimulator, LinearMixtureEnv, StepSimulator
from ..problems import LinearMixtureMDP, TabularMDP
from ..problems.linear_mixture import NORMALIZATION_MAX_STATES, normalization
from ..result import COMPLETED, LazyCertificates, OneHotIterates, Optimum, SolveResult
from ..rules import learning as _learning
from . import reject_unknown, runner_for

__all__ = ["FAMILY", "LearningRun", "NormalizationWarning", "average_env", "evaluate_policies", "mixture_env", "rows",
           "run_episodes"]

FAMILY = "learning"
#: Events compare values that are sums of at most H (or a few) float64 products of numbers <= H: their
#: round-off is ~1e-15 H; this slack (times max(1, H)) is far above it and far below any gap the tests read.
EVENT_ATOL = 1e-9
#: ``||phi_V||_2 <= 1`` for ``V`` in [0, 1]^S is checked with this relative slack (the enumeration is exact;
#: the slack absorbs the round-off of a feature scaled to meet the bound with equality).
NORMALIZATION_RTOL = 1e-9


class NormalizationWarning(UserWarning):
    """The features (or ``B``) violate the normalization a theorem assumes: the theorem is marked not applicable."""


class LearningRun(NamedTuple):
    """What :func:`run_episodes` returns, batched over seeds ``B``; ``n`` = episodes (or steps for UCRL2).

    ``regret [B, n+1]`` cumulative exact pseudo-regret (``regret[:, 0] = 0``); ``suboptimality [B, n+1]``
    per-episode (per-step) exact gap of the committed policy (index 0: the learner's first plan);
    ``events``: ``name -> bool [B, n+1]`` (True = the event held); ``checked``: bool [B, n+1] where the
    events were checked (all for the linear-mixture learners, episode starts for UCRL2);
    ``policies``: int [n+1, B, ...] committed policies (None unless kept); ``optimum``: ``rho . V*_0`` or
    ``g*``; ``seeds``; ``info``: ``optimistic_value`` / ``rad`` (linear mixture), ``sampled_regret`` /
    ``episodes`` / ``evi_capped`` (UCRL2).
    """

    regret: np.ndarray
    suboptimality: np.ndarray
    events: dict
    checked: np.ndarray
    policies: np.ndarray | None
    optimum: float
    seeds: tuple
    info: dict


# --------------------------------------------------------------------------- validation of the problem
def _is_episodic_mixture(problem) -> bool:
    return (isinstance(problem, LinearMixtureMDP) and problem.criterion == "finite_horizon"
            and problem.gamma == 1.0 and bool(np.all((problem.r >= 0.0) & (problem.r <= 1.0))))


def _is_average_mdp(problem) -> bool:
    return (isinstance(problem, TabularMDP) and problem.criterion == "average" and not problem.is_sparse
            and bool(np.all((problem.r >= 0.0) & (problem.r <= 1.0))))


def _check_rewards(problem) -> None:
    r = np.asarray(problem.r)
    bad = np.flatnonzero(((r < 0.0) | (r > 1.0)).ravel())
    if bad.size:
        idx = np.unravel_index(int(bad[0]), r.shape)
        raise ValueError(f"problem.r{list(map(int, idx))} is {r[idx]:g}: the learners' guarantees assume rewards "
                         "in [0, 1] (rescale r)")


def _check_problem(problem, kind: str) -> None:
    if kind == "mixture":
        if not isinstance(problem, LinearMixtureMDP):
            raise TypeError(f"problem must be a LinearMixtureMDP for a linear-mixture learner, "
                            f"got {type(problem).__name__}")
        if problem.criterion != "finite_horizon" or problem.gamma != 1.0:
            raise ValueError(f"problem must be episodic and undiscounted (horizon=H, gamma=1), got {problem!r} "
                             f"with gamma={problem.gamma:g}")
    else:
        if not isinstance(problem, TabularMDP) or problem.criterion != "average":
            raise TypeError(f"problem must be an average-reward TabularMDP (gamma=1.0, no horizon) for ucrl2, "
                            f"got {problem!r}")
        if problem.is_sparse:
            raise ValueError("problem must have a dense kernel for ucrl2 (the plausible sets are dense [S, A, S])")
    _check_rewards(problem)


def _kind(rule) -> str:
    return "average" if rule.name == "ucrl2" else "mixture"


def _seeds(seed) -> tuple:
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        gen = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        return (int(gen.integers(2**63 - 1)),)
    if isinstance(seed, (list, tuple, np.ndarray, range)):
        return tuple(int(s) for s in seed) if len(seed) else ()
    return (seed,)


# --------------------------------------------------------------------------- exact evaluation (batched)
def evaluate_policies(P, r, policy, reward=None) -> np.ndarray:
    """Exact finite-horizon values ``V [B, H+1, S]`` of deterministic policies ``policy`` int [B, H, S].

    ``V_H = 0``, ``V_h(s) = c_h(s, pi_h(s)) + sum_s' P_h(s'|s, pi_h(s)) V_{h+1}(s')`` with ``c = r [H, S, A]``
    or a per-seed ``reward [B, H, S, A]``; ``P [S, A, S]`` or ``[H, S, A, S]``.
    """
    policy = np.asarray(policy)
    B, H, S = policy.shape
    P = np.asarray(P)
    rows = np.arange(S)[None, :]
    V = np.zeros((B, H + 1, S))
    for h in range(H - 1, -1, -1):
        a = policy[:, h]
        Ph = P if P.ndim == 3 else P[h]
        c = r[h][rows, a] if reward is None else np.take_along_axis(reward[:, h], a[..., None], axis=-1)[..., 0]
        V[:, h] = c + np.einsum("bst,bt->bs", Ph[rows, a], V[:, h + 1])
    return V


def _theta_star(problem, R: int) -> np.ndarray:
    theta = np.atleast_2d(problem.theta)
    return theta if R == theta.shape[0] else np.broadcast_to(theta[0], (R, theta.shape[-1]))


def _mixture_recorder(problem, keep: bool):
    H = problem.horizon
    rho = np.asarray(problem.rho)
    r = np.broadcast_to(problem.r, (H,) + problem.r.shape[-2:])
    P = problem.P
    v_star = float(rho @ _dp.backward_induction(problem).V[0])
    atol = EVENT_ATOL * max(1.0, H)

    def record(state) -> np.ndarray:
        c = state.commit
        B, R = c.rad.shape
        V_pi = evaluate_policies(P, r, c.policy)[:, 0] @ rho
        diff = c.theta - _theta_star(problem, R)[None]
        dist = np.sqrt(np.maximum(np.einsum("bji,bjik,bjk->bj", diff, c.Sigma, diff), 0.0))
        e1 = np.all(dist <= c.rad + atol, axis=-1)
        e2 = c.value >= v_star - atol
        bonus = np.minimum(c.vmax[None, :, None, None], 2.0 * c.rad[:, c.step_reg, None, None] * c.width)
        W = evaluate_policies(P, r, c.policy, reward=bonus)[:, 0] @ rho
        e3 = c.value - V_pi <= W + atol
        parts = [v_star - V_pi, c.value, V_pi, e1, e2, e3, c.rad.reshape(B * R)]
        if keep:
            parts.append(c.policy.reshape(-1))
        return np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in parts])

    return record, v_star


def mixture_env(problem, seeds) -> LinearMixtureEnv:
    """The oracle a linear-mixture learner receives for ``problem``: features, known rewards [H, S, A], rho and
    an :class:`~polopt.oracles.episodes.EpisodeSimulator` of the true kernel over ``seeds``."""
    H = problem.horizon
    r = np.broadcast_to(problem.r, (H,) + problem.r.shape[-2:])
    sim = EpisodeSimulator(problem.P, r, problem.rho, H, seeds)
    return LinearMixtureEnv(problem.phi, r, np.asarray(problem.rho), np.ndim(problem.theta) == 2, sim)


def _run_mixture(problem, rule, K: int, seeds: tuple, keep: bool) -> LearningRun:
    from ..solve import run_rule

    env = mixture_env(problem, seeds)
    record, v_star = _mixture_recorder(problem, keep)
    state = rule.init(env)
    traj = run_rule(rule, env, state, K, record_of=record)
    rec = traj.records  # [K+1, n]
    B, H, S = env.batch, env.horizon, problem.num_states
    R = state.commit.rad.shape[1]
    cols = np.split(rec[:, :6 * B], 6, axis=1)
    gap, opt, V_pi, e1, e2, e3 = (c.T for c in cols)  # [B, K+1]
    rad = rec[:, 6 * B:6 * B + B * R].reshape(-1, B, R).transpose(1, 0, 2)
    policies = rec[:, 6 * B + B * R:].reshape(-1, B, H, S).astype(np.int64) if keep else None
    regret = np.concatenate([np.zeros((B, 1)), np.cumsum(gap[:, 1:], axis=1)], axis=1)
    events = {"confidence": e1 > 0.5, "optimism": e2 > 0.5, "planning": e3 > 0.5}
    info = {"optimistic_value": opt, "policy_value": V_pi, "rad": rad, "num_regressions": R}
    return LearningRun(regret, gap, events, np.ones_like(regret, dtype=bool), policies, v_star, seeds, info)


# --------------------------------------------------------------------------- average reward
def _plausible(problem, st) -> np.ndarray:
    """E1 of UCRL2: ``|r - r^| <= conf_r`` and ``||P - p^||_1 <= conf_p`` at every ``(s, a)`` [B]."""
    P, r = np.asarray(problem.P), np.asarray(problem.r)
    ok_r = np.abs(r[None] - st.r_hat) <= st.conf_r + EVENT_ATOL
    ok_p = np.abs(P[None] - st.p_hat).sum(axis=-1) <= st.conf_p + EVENT_ATOL
    return np.all(ok_r & ok_p, axis=(1, 2))


def average_env(problem, seeds) -> AverageRewardEnv:
    """The oracle an average-reward learner receives: state / action counts, ``s_1 ~ rho`` per seed, and a
    :class:`~polopt.oracles.episodes.StepSimulator` of the true model over ``seeds``."""
    sim = StepSimulator(problem.P, problem.r, seeds)
    return AverageRewardEnv(problem.num_states, problem.num_actions, sim.start(problem.rho), sim)


def _run_average(problem, rule, T: int, seeds: tuple, keep: bool) -> LearningRun:
    from ..solve import run_rule

    S = problem.num_states
    env = average_env(problem, seeds)
    g_star = float(np.max(_avg.average_reward_lp(problem).gain))
    cache: dict[bytes, np.ndarray] = {}

    def gain(sigma: np.ndarray) -> np.ndarray:
        key = sigma.astype(np.int16).tobytes()
        if key not in cache:
            cache[key] = _avg.gain_bias(problem, sigma).gain
        return cache[key]

    def record(st) -> np.ndarray:
        B = st.s.shape[0]
        g = np.array([gain(st.policy[b])[st.s_prev[b]] for b in range(B)])
        e1 = _plausible(problem, st)
        e2 = st.gain_upper >= g_star - EVENT_ATOL
        e2b = st.gain_lower >= g_star - 1.0 / np.sqrt(np.maximum(st.t_k, 1.0)) - EVENT_ATOL
        parts = [g_star - g, st.reward, st.started & (st.t > 0), e1, e2, e2b, st.episodes, st.evi_capped]
        if keep:
            parts.append(st.policy.reshape(-1))
        return np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in parts])

    state = rule.init(env)
    traj = run_rule(rule, env, state, T, record_of=record)
    rec = traj.records
    B = env.batch
    gap, reward, started, e1, e2, e2b, episodes, capped = (c.T for c in np.split(rec[:, :8 * B], 8, axis=1))
    gap[:, 0] = 0.0  # the initial record describes no step
    reward[:, 0] = 0.0
    regret = np.cumsum(gap, axis=1)
    sampled = np.cumsum(np.where(np.arange(T + 1) > 0, g_star - reward, 0.0), axis=1)
    checked = started > 0.5
    events = {"confidence": (e1 > 0.5) | ~checked, "optimism": (e2 > 0.5) | ~checked,
              "optimism_tolerance": (e2b > 0.5) | ~checked}
    policies = rec[:, 8 * B:].reshape(-1, B, S).astype(np.int64) if keep else None
    info = {"sampled_regret": sampled, "episodes": episodes[:, -1].astype(np.int64),
            "evi_capped": capped[:, -1].astype(np.int64)}
    return LearningRun(regret, gap, events, checked, policies, g_star, seeds, info)


def run_episodes(problem, rule, K: int, seed=0, *, keep_policies: bool = False) -> LearningRun:
    """Run the learning ``rule`` for ``K`` episodes (UCRL2: ``K`` steps) in every seed; exact regret and events.

    Args:
        problem: a LinearMixtureMDP with a horizon (``gamma = 1``, rewards in [0, 1]) for ``ucrl_vtr`` /
            ``ucrl_vtr_plus``-like rules, an average-reward dense TabularMDP for ``ucrl2`` (start ``s_1 ~ rho``).
        rule: a learning :class:`~polopt.rules.Rule` (:mod:`polopt.rules.learning`, or any rule whose state
            has a ``commit`` of :class:`~polopt.rules._vtr.Commit`).
        K: episodes (steps), ``>= 1``.
        seed: a non-negative int (one run) or a sequence of them (a batch: one generator each; seed b's
            run is the same alone or in a batch).
        keep_policies: keep the committed policies (``LearningRun.policies``).

    Returns:
        :class:`LearningRun`.

    Raises:
        ValueError: ``K < 1``, rewards outside [0, 1], a discounted problem; TypeError: the wrong problem kind.
    """
    K = as_positive_int("episodes", K)
    kind = _kind(rule)
    _check_problem(problem, kind)
    seeds = _seeds(seed)
    if kind == "mixture":
        return _run_mixture(problem, rule, K, seeds, keep_policies)
    return _run_average(problem, rule, K, seeds, keep_policies)


# --------------------------------------------------------------------------- method-table rows
def _normalization(problem):
    if problem.num_states > NORMALIZATION_MAX_STATES:
        return None
    return normalization(problem)


def _applicability(name: str, problem, hp: dict, norm) -> dict[str, bool]:
    """Which of the rule's theorems apply (warns with :class:`NormalizationWarning` for those that do not)."""
    out = {}
    if name == "ucrl2":
        return {"ucrl2.regret": bool(_avg.is_communicating(problem))}
    theta_norm = float(np.max(np.linalg.norm(np.atleast_2d(problem.theta), axis=-1)))
    ok_B = theta_norm <= hp["B"] * (1.0 + NORMALIZATION_RTOL)
    if not ok_B:
        warnings.warn(f"{name}: ||theta*|| = {theta_norm:.6g} exceeds B = {hp['B']:.6g}: the confidence sets "
                      "assume ||theta*|| <= B; confidence and regret theorems marked not applicable",
                      NormalizationWarning, stacklevel=4)
    ok_phi = norm is not None and norm[1] <= 1.0 + NORMALIZATION_RTOL
    if norm is not None and not ok_phi:
        warnings.warn(f"{name}: max ||phi_V||_2 over V in [0, 1]^S is {norm[1]:.6g} > 1, violating the "
                      "normalization ||phi_V|| <= H for V in [0, H] that the regret theorems assume; "
                      f"{name}.regret marked not applicable", NormalizationWarning, stacklevel=4)
    if norm is None:
        warnings.warn(f"{name}: the normalization ||phi_V|| <= 1 on [0, 1]^S is checked by enumerating 2^S vertices, "
                      f"refused for S = {problem.num_states} > {NORMALIZATION_MAX_STATES}: the regret theorems are "
                      "marked not applicable (unchecked)", NormalizationWarning, stacklevel=4)
    out[f"{name}.confidence"] = ok_B and (name == "ucrl_vtr" or ok_phi)
    out[f"{name}.regret"] = ok_B and ok_phi
    out["learning.optimism"] = True  # deterministic implication: holds whatever the features
    return out


def _mixture_defaults(problem, iters: int, given: dict) -> dict:
    """``B`` = the model's ``max_h ||theta_h||_2`` (the tightest valid bound)."""
    return {"B": float(np.max(np.linalg.norm(np.atleast_2d(problem.theta), axis=-1)))}


def _run_row(name: str, problem, *, iters, init, seed, **hparams) -> SolveResult:
    from ..methods import lookup

    row = lookup(name)
    reject_unknown(name, hparams, row.hparam_names())
    if init is not None:
        raise ValueError(f"{name} starts from its prior (no data): init must be None, got {type(init).__name__}")
    K = as_positive_int("iters (episodes)" if name != "ucrl2" else "iters (steps)", iters)
    given = {k: v for k, v in hparams.items() if v is not None}
    if row.defaults is not None:
        for k, v in row.defaults(problem, K, given).items():
            given.setdefault(k, v)
    rule = row.rule(**given)
    hp = rule.hparams._asdict()
    norm = None if name == "ucrl2" else _normalization(problem)
    applicable = _applicability(name, problem, hp, norm)
    seeds = _seeds(seed)[:1]
    run = run_episodes(problem, rule, K, seeds, keep_policies=True)
    A = problem.num_actions
    pols = run.policies[:, 0]  # [K+1, ...]
    certs: dict[str, Any] = {"regret": run.regret[0], "suboptimality": run.suboptimality[0]}
    certs.update({f"event_{k}": v[0].astype(np.float64) for k, v in run.events.items()})
    info: dict[str, Any] = {"seed": seeds[0], "theorem_applicable": applicable, "checked": run.checked[0],
                            "optimum": run.optimum}
    info.update({k: v[0] for k, v in run.info.items() if k != "num_regressions"})
    if name == "ucrl2":
        certs["sampled_regret"] = run.info["sampled_regret"][0]
        lp = _avg.average_reward_lp(problem)
        last = _avg.gain_bias(problem, pols[-1])
        optimum = Optimum(one_hot(lp.policy, A), lp.gain, lp.bias)
        value, bias = last.gain, last.bias
        info["diameter"] = diameter(problem)
    else:
        bi = _dp.backward_induction(problem)
        optimum = Optimum(one_hot(bi.policy, A), bi.V[:problem.horizon])
        H = problem.horizon
        r = np.broadcast_to(problem.r, (H,) + problem.r.shape[-2:])
        value, bias = evaluate_policies(problem.P, r, pols[-1][None])[0, :H], None
        info["normalization"] = norm
        info["num_regressions"] = run.info["num_regressions"]
    return SolveResult(
        policy=one_hot(pols[-1], A), iterates=OneHotIterates(pols, A), value=value, optimum=optimum,
        certificates=LazyCertificates(certs), status=COMPLETED, method=name, hparams=hp, num_iter=K,
        bias=bias, info=info, problem=problem,
    )


def runner(name: str):
    """The table's ``run`` for row ``name``."""
    return runner_for(name, _run_row)


def rows():
    """The method-table rows of the learning family (added by :func:`polopt.methods._load`)."""
    from ..methods import Method

    mixture = "an episodic LinearMixtureMDP (horizon=H, gamma=1) with rewards in [0, 1]"
    average = "an average-reward dense TabularMDP (gamma=1.0) with rewards in [0, 1]"
    return (
        Method("ucrl_vtr", _is_episodic_mixture, runner("ucrl_vtr"),
               "UCRL-VTR: optimistic planning on value-targeted ridge regression (arXiv 2006.01107)",
               _learning.ucrl_vtr, (), _mixture_defaults, (), FAMILY, mixture),
        Method("ucrl_vtr_plus", _is_episodic_mixture, runner("ucrl_vtr_plus"),
               "UCRL-VTR+: Bernstein-weighted value-targeted regression (arXiv 2012.08507)",
               _learning.ucrl_vtr_plus, (), _mixture_defaults, (), FAMILY, mixture),
        Method("ucrl2", _is_average_mdp, runner("ucrl2"),
               "UCRL2: extended value iteration on L1 confidence sets, doubling episodes (Jaksch et al. 2010)",
               _learning.ucrl2, (), None, (), FAMILY, average),
    )
