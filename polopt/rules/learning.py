"""Learning rules with regret guarantees: UCRL-VTR, UCRL-VTR+ (linear mixture MDPs), UCRL2 (average reward).

A learning rule is a :class:`~polopt.rules.Rule` whose oracle is an environment that samples transitions
(:mod:`polopt.oracles.episodes`): ``update(state, env)`` plays one episode (UCRL-VTR, UCRL-VTR+) or
one step (UCRL2) in every seed of the batch and returns the new state. States carry a leading seed
axis ``B`` and no log-policy: the policies are deterministic (``commit.policy`` / ``policy`` hold action
indices). NumPy float64 only (the episode loop samples and branches per seed).
The regret and the proof events are measured by :func:`polopt._methods.learning.run_episodes` against
the exact model the learner never sees.

Confidence radii are ``rad`` (the papers' beta_k), ridge regularisation ``lam``, variance weights
``sigma2``, ``B`` the bound on ``||theta*||_2``, ``delta`` the failure probability. Per-step rewards are
in ``[0, 1]`` and values are capped at ``vmax_h = H - h`` (0-based step ``h``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._core import Rule, coefficient, hparams, probability
from ._vtr import Commit, Ridge, bernstein_sigma2, plan, put_regression, ridge, ridge_update, take_regression

__all__ = [
    "EVI_MAX_ITER",
    "EVIResult",
    "UCRL2State",
    "VTRState",
    "extended_value_iteration",
    "l1_ball_max",
    "ucrl2",
    "ucrl2_radii",
    "ucrl_vtr",
    "ucrl_vtr_plus",
    "ucrl_vtr_radius",
    "ucrl_vtr_plus_radii",
]


def _common(rule: str, delta, lam, B, rad_scale):
    delta = probability(rule, "delta", delta)
    lam = coefficient(rule, "lam", lam, low_open=True)
    B = coefficient(rule, "B", B, low_open=True)
    rad_scale = coefficient(rule, "rad_scale", rad_scale)
    return float(delta), float(lam), float(B), float(rad_scale)


# --------------------------------------------------------------------------- linear mixture: shared loop
class VTRState(NamedTuple):
    """State of UCRL-VTR / UCRL-VTR+ (seed axis ``B``, ``R`` regressions: one per step or one shared).

    ``t``: episodes played; ``ridge``: the value-targeted regression ``[B, R]`` (:class:`~polopt.rules._vtr.Ridge`);
    ``moment``: UCRL-VTR+'s second-moment regression ``[B, R]`` (None for UCRL-VTR); ``commit``: the
    :class:`~polopt.rules._vtr.Commit` of the last episode played (at ``t = 0``: the plan the learner would
    play first, from the prior).
    """

    t: int
    ridge: Ridge
    moment: Ridge | None
    commit: Commit


def _layout(env):
    H = env.horizon
    R = H if env.step_dependent else 1
    step_reg = np.arange(H) if env.step_dependent else np.zeros(H, dtype=np.int64)
    vmax = np.arange(H, 0, -1, dtype=np.float64)  # H - h remaining steps, rewards in [0, 1]
    return H, R, step_reg, vmax


def _target_half_range(env) -> np.ndarray:
    """``R_j``: half the range of the targets ``V_{h+1}(s') in [0, H - h - 1]`` of regression j (sub-Gaussian scale)."""
    H, R, step_reg, vmax = _layout(env)
    upper = np.append(vmax[1:], 0.0)  # cap of V_{h+1}
    return upper / 2.0 if R == H else np.array([upper.max() / 2.0])


def _plan(env, rg: Ridge, rad):
    H, R, step_reg, vmax = _layout(env)
    p = plan(env.phi, env.r, rg.theta[:, step_reg], rg.Sigma_inv[:, step_reg], rad[:, step_reg], vmax)
    return Commit(p.policy, p.V[:, 0] @ env.rho, rg.theta, rg.Sigma, rad, step_reg, p.width, vmax), p


def _visited(env, h: int, traj, V_next):
    """``(x, y, x2, y2)``: ``phi_{V_{h+1}}(s_h, a_h)``, ``V_{h+1}(s_{h+1})`` and the same for ``V^2``; [B, d], [B]."""
    phi = env.phi if env.phi.ndim == 4 else env.phi[h]
    rows = np.arange(V_next.shape[0])
    phi_sa = phi[traj.states[:, h], traj.actions[:, h]]  # [B, S', d]
    nxt = traj.states[:, h + 1]
    x = np.einsum("btd,bt->bd", phi_sa, V_next)
    x2 = np.einsum("btd,bt->bd", phi_sa, V_next**2)
    y = V_next[rows, nxt]
    return x, y, x2, y * y


# --------------------------------------------------------------------------- UCRL-VTR
def ucrl_vtr_radius(logdet, d: int, lam: float, B: float, delta: float, half_range, num_regressions: int):
    """``rad = sqrt(lam) B + R_j sqrt(2 log(n / delta) + logdet Sigma - d log lam)`` per regression.

    Abbasi-Yadkori, Pal, Szepesvari (2011), Thm 2, for ``R_j``-sub-Gaussian noise (targets in an interval
    of length ``2 R_j``), with a union bound over the ``n`` regressions so that all of them hold at every
    episode with probability ``>= 1 - delta`` (the same formula as the public UCRL-VTR code, ``Beta``).
    """
    log_term = 2.0 * np.log(num_regressions / delta) + logdet - d * np.log(lam)
    return np.sqrt(lam) * B + half_range * np.sqrt(np.maximum(log_term, 0.0))


def ucrl_vtr(*, delta=0.1, lam=1.0, B=1.0, rad_scale=1.0) -> Rule:
    """UCRL-VTR (Ayoub, Jia, Szepesvari, Wang, Yang, arXiv 2006.01107): optimism with value-targeted regression.

    Episode ``k`` (one update): ``rad_{k,j} = rad_scale * ucrl_vtr_radius(logdet Sigma_{k,j})``; plan
    ``V^k, pi_k = PLAN(theta_k, Sigma_k, r, rad_k)`` (:func:`polopt.rules._vtr.plan`); play ``pi_k``; for
    ``h = 0..H-1`` add ``x = phi_{V^k_{h+1}}(s_h, a_h)``, ``y = V^k_{h+1}(s_{h+1})``, ``sigma2 = 1`` to the
    regression of step h (one per step when ``theta`` is step-dependent, else one shared).

    Guarantee: ``Reg(K) = O~(d sqrt(H^3 T))``, ``T = KH`` (paper: abstract; constant not given: theorem
    ``ucrl_vtr.regret``, shape only). With probability ``>= 1 - delta`` every episode has
    ``theta* in C_k`` (``ucrl_vtr.confidence``), and on that event optimism and the planning lemma hold
    (``learning.optimism``). ``rad_scale < 1`` voids the guarantee (used to show the checks can fail).

    Args: ``delta`` in (0, 1); ``lam > 0``; ``B > 0`` a bound on ``||theta*_h||_2``; ``rad_scale >= 0``.
    """
    delta, lam, B, rad_scale = _common("ucrl_vtr", delta, lam, B, rad_scale)

    def radius(env, rg):
        half = _target_half_range(env)
        R = half.shape[0]
        return rad_scale * ucrl_vtr_radius(rg.logdet, env.dim, lam, B, delta, half[None, :], R)

    def init(env) -> VTRState:
        H, R, _, _ = _layout(env)
        rg = ridge(env.dim, lam, (env.batch, R))
        commit, _ = _plan(env, rg, radius(env, rg))
        return VTRState(0, rg, None, commit)

    def update(state: VTRState, env) -> VTRState:
        rg = state.ridge
        commit, p = _plan(env, rg, radius(env, rg))
        traj = env.sim.rollout(commit.policy)
        for h in range(env.horizon):
            j = int(commit.step_reg[h])
            x, y, _, _ = _visited(env, h, traj, p.V[:, h + 1])
            rg = put_regression(rg, j, ridge_update(take_regression(rg, j), x, y, np.ones(env.batch)))
        return VTRState(state.t + 1, rg, None, commit)

    return Rule("ucrl_vtr", init, update, 1, False,
                hparams("ucrl_vtr", delta=delta, lam=lam, B=B, rad_scale=rad_scale))


# --------------------------------------------------------------------------- UCRL-VTR+
def ucrl_vtr_plus_radii(k, d: int, H: int, lam: float, B: float, delta: float):
    """``(rad_hat, rad_breve, rad_tilde)`` of UCRL-VTR+ at episode ``k >= 1`` [recalled, arXiv 2012.08507]::

        L = log(4 k^2 H / delta)
        rad_hat   = 8 sqrt(d log(1 + k / lam) L)          + 4 sqrt(d) L  + sqrt(lam) B
        rad_breve = 8 d sqrt(log(1 + k / lam) L)          + 4 sqrt(d) L  + sqrt(lam) B
        rad_tilde = 8 H^2 sqrt(d log(1 + k H^4 / (d lam)) L) + 4 H^2 L  + sqrt(lam) B
    """
    L = np.log(4.0 * k * k * H / delta)
    tail = np.sqrt(lam) * B
    rad_hat = 8.0 * np.sqrt(d * np.log1p(k / lam) * L) + 4.0 * np.sqrt(d) * L + tail
    rad_breve = 8.0 * d * np.sqrt(np.log1p(k / lam) * L) + 4.0 * np.sqrt(d) * L + tail
    rad_tilde = 8.0 * H**2 * np.sqrt(d * np.log1p(k * H**4 / (d * lam)) * L) + 4.0 * H**2 * L + tail
    return rad_hat, rad_breve, rad_tilde


def ucrl_vtr_plus(*, delta=0.1, lam=None, B=1.0, rad_scale=1.0) -> Rule:
    """UCRL-VTR+ (Zhou, Gu, Szepesvari, arXiv 2012.08507): Bernstein-weighted value-targeted regression.

    Episode ``k`` (one update): plan with ``PLAN(theta_hat, Sigma_hat, r, rad_hat_k)``; play; for each step
    ``h`` with ``x = phi_V(s_h, a_h)``, ``x2 = phi_{V^2}(s_h, a_h)`` (``V = V^k_{h+1}``), using the estimates
    frozen at the start of the episode::

        Vbar   = [<x2, theta_tilde>]_[0, H^2] - [<x, theta_hat>]^2_[0, H]
        E      = min(H^2, rad_tilde ||x2||_{Sigma_tilde^-1}) + min(H^2, 2 H rad_breve ||x||_{Sigma_hat^-1})
        sigma2 = max(H^2 / d, Vbar + E)

    then add ``(x, V(s_{h+1}), sigma2)`` to the main regression and ``(x2, V^2(s_{h+1}), 1)`` to the
    second-moment one. Radii: :func:`ucrl_vtr_plus_radii` (times ``rad_scale``), ``lam = 1 / B^2`` by default.

    Guarantee: ``Reg(K) = O~(d H sqrt(T))``, matching the ``Omega(d H sqrt(T))`` lower bound (paper:
    abstract; constants recalled: theorem ``ucrl_vtr_plus.regret`` is shape only). It assumes
    ``||phi_V||_2 <= H`` for every ``V: S -> [0, H]`` (``polopt.problems.linear_mixture.normalization``).
    """
    B_given = coefficient("ucrl_vtr_plus", "B", B, low_open=True)
    delta, lam, B, rad_scale = _common("ucrl_vtr_plus", delta, 1.0 / B_given**2 if lam is None else lam, B,
                                       rad_scale)

    def radii(env, k: int):
        rh, rb, rt = ucrl_vtr_plus_radii(k, env.dim, env.horizon, lam, B, delta)
        return rad_scale * rh, rad_scale * rb, rad_scale * rt

    def init(env) -> VTRState:
        H, R, _, _ = _layout(env)
        rg = ridge(env.dim, lam, (env.batch, R))
        rh, _, _ = radii(env, 1)
        commit, _ = _plan(env, rg, np.full((env.batch, R), rh))
        return VTRState(0, rg, ridge(env.dim, lam, (env.batch, R)), commit)

    def update(state: VTRState, env) -> VTRState:
        H, d, Bn = env.horizon, env.dim, env.batch
        rh, rb, rt = radii(env, state.t + 1)
        rg, mo = state.ridge, state.moment
        R = rg.theta.shape[1]
        commit, p = _plan(env, rg, np.full((Bn, R), rh))
        traj = env.sim.rollout(commit.policy)
        frozen, frozen_mo = rg, mo
        for h in range(H):
            j = int(commit.step_reg[h])
            x, y, x2, y2 = _visited(env, h, traj, p.V[:, h + 1])
            sigma2 = bernstein_sigma2(x, x2, take_regression(frozen, j), take_regression(frozen_mo, j), rb, rt, H, d)
            rg = put_regression(rg, j, ridge_update(take_regression(rg, j), x, y, sigma2))
            mo = put_regression(mo, j, ridge_update(take_regression(mo, j), x2, y2, np.ones(Bn)))
        return VTRState(state.t + 1, rg, mo, commit)

    return Rule("ucrl_vtr_plus", init, update, 1, False,
                hparams("ucrl_vtr_plus", delta=delta, lam=lam, B=B, rad_scale=rad_scale))


# --------------------------------------------------------------------------- UCRL2 and extended value iteration
#: Extended value iteration stops when ``sp(u_{i+1} - u_i) < 1/sqrt(t_k)``; it converges on the
#: extended MDP of a communicating model (Jaksch et al. 2010, §3.1.2). The cap only guards a run whose
#: plausible set makes the extended MDP periodic; capped runs are counted in ``UCRL2State.evi_capped``.
EVI_MAX_ITER = 20000


def l1_ball_max(p_hat, eps, u):
    """``max { p . u : p in simplex, ||p - p_hat||_1 <= eps }`` and its maximiser, by the sorting construction.

    Put ``min(1, p_hat(s*) + eps/2)`` on ``s* = argmax u`` and remove the excess mass from the states
    of lowest ``u`` first (Jaksch, Ortner, Auer, JMLR 11, 2010, Fig. 2). Exact (checked against an LP).

    Args:
        p_hat: ``[..., S]`` distributions; eps: ``[...]`` radii ``>= 0``; u: ``[..., S]`` (broadcast).

    Returns:
        ``(value [...], p [..., S])``.
    """
    p_hat, eps, u = np.asarray(p_hat, float), np.asarray(eps, float), np.asarray(u, float)
    shape = np.broadcast_shapes(p_hat.shape, eps.shape + (1,), u.shape)
    order = np.broadcast_to(np.argsort(-u, axis=-1, kind="stable"), shape)  # sorted once per distinct u
    us = np.take_along_axis(np.broadcast_to(u, shape), order, axis=-1)
    ps = np.take_along_axis(np.broadcast_to(p_hat, shape), order, axis=-1)
    eps = np.broadcast_to(eps, shape[:-1])
    top = np.minimum(1.0, ps[..., 0] + eps / 2.0)
    rest = ps[..., 1:]
    excess = np.maximum(top + rest.sum(axis=-1) - 1.0, 0.0)
    tail_after = np.cumsum(rest[..., ::-1], axis=-1)[..., ::-1] - rest  # mass strictly below each state
    rest = rest - np.clip(excess[..., None] - tail_after, 0.0, rest)
    sorted_p = np.concatenate([top[..., None], rest], axis=-1)
    p = np.empty_like(sorted_p)
    np.put_along_axis(p, order, sorted_p, axis=-1)
    return np.sum(sorted_p * us, axis=-1), p


class EVIResult(NamedTuple):
    """Output of :func:`extended_value_iteration` for a batch ``[b]``: ``policy`` int [b, S] (greedy on the
    last ``u``), ``u`` [b, S], ``gain_lower`` / ``gain_upper`` [b] = ``min`` / ``max`` of ``T u - u``,
    ``num_iter`` [b], ``capped`` bool [b] (stopped by :data:`EVI_MAX_ITER`)."""

    policy: np.ndarray
    u: np.ndarray
    gain_lower: np.ndarray
    gain_upper: np.ndarray
    num_iter: np.ndarray
    capped: np.ndarray


def extended_value_iteration(p_hat, r_tilde, eps, tol, max_iter: int = EVI_MAX_ITER) -> EVIResult:
    """Extended value iteration on the plausible set ``{p : ||p - p_hat(s, a)||_1 <= eps(s, a)}``, batched.

    ``u_{i+1}(s) = max_a { r_tilde(s, a) + max_p p . u_i }`` (inner max: :func:`l1_ball_max`) from ``u_0 = 0``,
    until ``sp(u_{i+1} - u_i) < tol``; ``min_s (u_{i+1} - u_i)(s) <= g~ <= max_s (u_{i+1} - u_i)(s)``
    brackets the optimal gain of the extended MDP (Jaksch et al. 2010, §3.1.2, Thm 7).

    Args:
        p_hat: ``[b, S, A, S]``; r_tilde: optimistic rewards ``[b, S, A]``; eps: ``[b, S, A]``; tol: ``[b]``.
    """
    b, S, A, _ = p_hat.shape
    u = np.zeros((b, S))
    out_pol = np.zeros((b, S), dtype=np.int64)
    out_u, lo, hi = np.zeros((b, S)), np.zeros(b), np.zeros(b)
    iters, capped = np.full(b, max_iter), np.ones(b, dtype=bool)
    active = np.ones(b, dtype=bool)
    for i in range(1, max_iter + 1):
        val, _ = l1_ball_max(p_hat, eps, u[:, None, None, :])
        q = r_tilde + val
        Tu = q.max(axis=-1)
        diff = Tu - u
        done = active & (diff.max(axis=-1) - diff.min(axis=-1) < tol)
        if done.any():
            out_pol[done] = q[done].argmax(axis=-1)
            out_u[done], lo[done], hi[done] = Tu[done], diff[done].min(-1), diff[done].max(-1)
            iters[done], capped[done] = i, False
            active &= ~done
        if not active.any():
            break
        u = Tu - Tu.min(axis=-1, keepdims=True)  # the span, the differences and the greedy policy are unchanged
    if active.any():
        out_pol[active] = q[active].argmax(axis=-1)
        out_u[active], lo[active], hi[active] = Tu[active], diff[active].min(-1), diff[active].max(-1)
    return EVIResult(out_pol, out_u, lo, hi, iters, capped)


def ucrl2_radii(N, t_k, S: int, A: int, delta: float):
    """``(conf_r, conf_p)`` of UCRL2 at episode start ``t_k`` with counts ``N [..., S, A]``::

        conf_r = sqrt(7 log(2 S A t_k / delta) / (2 max(1, N))),  conf_p = sqrt(14 S log(2 A t_k / delta) / max(1, N))

    (Jaksch, Ortner, Auer 2010, eqs. (3)-(4); the constants 7/2, 14 S, 2A as in the public UCRL code.)
    """
    n = np.maximum(1.0, N)
    t = np.asarray(t_k, dtype=np.float64)[..., None, None]
    conf_r = np.sqrt(7.0 * np.log(2.0 * S * A * t / delta) / (2.0 * n))
    return conf_r, np.sqrt(14.0 * S * np.log(2.0 * A * t / delta) / n)


class UCRL2State(NamedTuple):
    """State of UCRL2, batched over seeds ``B`` (all seeds step together; episodes end per seed).

    ``t`` steps taken; ``s`` int [B] current state; ``s_prev`` int [B] the state of the last step;
    ``N [B, S, A]`` counts before the current episode; ``nu [B, S, A]`` counts within it; ``R [B, S, A]``
    reward sums; ``C [B, S, A, S]`` transition counts; ``policy`` int [B, S]; ``episodes`` int [B];
    ``t_k`` [B] start time of the current episode (1-based); ``p_hat`` / ``r_hat`` / ``conf_p`` /
    ``conf_r`` the plausible set of the current episode; ``gain_lower`` / ``gain_upper`` [B] its EVI
    bracket; ``started`` bool [B] (an episode started at the last step); ``reward`` [B] the last reward;
    ``evi_capped`` int [B] EVI runs stopped by the cap.
    """

    t: int
    s: np.ndarray
    s_prev: np.ndarray
    N: np.ndarray
    nu: np.ndarray
    R: np.ndarray
    C: np.ndarray
    policy: np.ndarray
    episodes: np.ndarray
    t_k: np.ndarray
    p_hat: np.ndarray
    r_hat: np.ndarray
    conf_p: np.ndarray
    conf_r: np.ndarray
    gain_lower: np.ndarray
    gain_upper: np.ndarray
    started: np.ndarray
    reward: np.ndarray
    evi_capped: np.ndarray


def ucrl2(*, delta=0.1, evi_max_iter=EVI_MAX_ITER) -> Rule:
    """UCRL2 (Jaksch, Ortner, Auer, "Near-optimal regret bounds for reinforcement learning", JMLR 11, 2010).

    One update = one step ``t``. An episode starts at ``t_k`` when the count of the current pair within
    the episode reaches ``max(1, N_k(s, a))`` (doubling): then ``N_k`` absorbs the episode's counts, the
    plausible set is ``|r~ - r^| <= conf_r``, ``||p~ - p^||_1 <= conf_p`` (:func:`ucrl2_radii`), and
    :func:`extended_value_iteration` with ``r~ = min(1, r^ + conf_r)`` and ``tol = 1/sqrt(t_k)`` gives the
    policy played until the next episode.

    Guarantee (recalled: JMLR Thm 2): with probability ``>= 1 - delta``,
    ``T g* - sum_t r_t <= 34 D S sqrt(A T log(T / delta))`` for a communicating MDP of diameter ``D``
    (theorem ``ucrl2.regret``); the true model is plausible in every episode with probability
    ``>= 1 - delta`` (``ucrl2.confidence``) and then ``max_s (T~u - u)(s) >= g*`` (``learning.optimism``).
    """
    delta = probability("ucrl2", "delta", delta)
    if isinstance(evi_max_iter, bool) or not isinstance(evi_max_iter, (int, np.integer)) or evi_max_iter < 1:
        raise ValueError(f"ucrl2: evi_max_iter must be an int >= 1, got {evi_max_iter!r}")
    evi_max_iter = int(evi_max_iter)

    def init(env) -> UCRL2State:
        B, S, A = env.batch, env.num_states, env.num_actions
        s0 = np.asarray(env.s0, dtype=np.int64)
        z = np.zeros((B, S, A))
        return UCRL2State(0, s0.copy(), s0.copy(), z, z.copy(), z.copy(), np.zeros((B, S, A, S)),
                          np.zeros((B, S), dtype=np.int64), np.zeros(B, dtype=np.int64), np.zeros(B),
                          np.zeros((B, S, A, S)), z.copy(), z.copy(), z.copy(), np.zeros(B), np.zeros(B),
                          np.zeros(B, dtype=bool), np.zeros(B), np.zeros(B, dtype=np.int64))

    def update(st: UCRL2State, env) -> UCRL2State:
        B, S, A = env.batch, env.num_states, env.num_actions
        rows = np.arange(B)
        N, nu, R, C = st.N.copy(), st.nu.copy(), st.R.copy(), st.C.copy()
        policy, episodes, t_k = st.policy.copy(), st.episodes.copy(), st.t_k.copy()
        p_hat, r_hat, conf_p, conf_r = st.p_hat.copy(), st.r_hat.copy(), st.conf_p.copy(), st.conf_r.copy()
        lo, hi, capped = st.gain_lower.copy(), st.gain_upper.copy(), st.evi_capped.copy()
        a_cur = policy[rows, st.s]
        start = nu[rows, st.s, a_cur] >= np.maximum(1.0, N[rows, st.s, a_cur])
        if st.t == 0:
            start[:] = True
        idx = np.flatnonzero(start)
        if idx.size:
            N[idx] += nu[idx]
            nu[idx] = 0.0
            t_k[idx] = st.t + 1
            n = np.maximum(1.0, N[idx])
            p_hat[idx] = C[idx] / n[..., None]
            r_hat[idx] = R[idx] / n
            conf_r[idx], conf_p[idx] = ucrl2_radii(N[idx], t_k[idx], S, A, delta)
            evi = extended_value_iteration(p_hat[idx], np.minimum(1.0, r_hat[idx] + conf_r[idx]), conf_p[idx],
                                           1.0 / np.sqrt(t_k[idx]), evi_max_iter)
            policy[idx], lo[idx], hi[idx] = evi.policy, evi.gain_lower, evi.gain_upper
            episodes[idx] += 1
            capped[idx] += evi.capped
        a = policy[rows, st.s]
        s1, reward = env.sim.step(st.s, a)
        nu[rows, st.s, a] += 1.0
        R[rows, st.s, a] += reward
        C[rows, st.s, a, s1] += 1.0
        return UCRL2State(st.t + 1, s1, st.s.copy(), N, nu, R, C, policy, episodes, t_k, p_hat, r_hat, conf_p,
                          conf_r, lo, hi, start, reward, capped)

    return Rule("ucrl2", init, update, 1, False, hparams("ucrl2", delta=delta, evi_max_iter=evi_max_iter))
