"""Reward-free exploration for linear mixture MDPs: UCRL-RFE, UCRL-RFE+ and HF-UCRL-RFE++.

Zhang, Zhang, Gu, "Optimal Horizon-Free Reward-Free Exploration for Linear Mixture MDPs" (arXiv 2303.10165),
as carried by W. Zhang's UCLA dissertation (2024), ch. 2: UCRL-RFE (Alg. 2, Hoeffding), UCRL-RFE+ (Alg. 3,
Bernstein weights) and HF-UCRL-RFE++ (Alg. 4 with the high-order moment estimator HOME, Alg. 5).
The exploration phase sees no reward: ``update(state, env)`` plays one episode in every seed of the batch
(``env``: :class:`polopt.oracles.episodes.LinearMixtureEnv`, its rewards unused) and regresses on what it saw.
After K episodes, :func:`estimate` gives the model the planning phase uses for any reward
(:func:`polopt._methods.reward_free.plan_for`). NumPy float64, seed axis ``B`` first.

Notation: ``phi_f(s, a) = sum_s' phi(s'|s, a) f(s')``, ``||x||_M = sqrt(x^T M x)``; ``rad`` the papers'
beta (a confidence radius), ``lam`` ridge, ``sigma2`` variance weights, ``B`` the bound on ``||theta*||_2``,
``delta`` the failure probability, ``episodes`` the exploration budget K (the radii depend on it).

* **UCRL-RFE**: exploration reward ``r^k_h(s, a) = min(1, (2 rad / H) max_{f: S -> [0, H-h-1]}
  ||phi_f(s, a)||_{Sigma_k^{-1}})`` (0-based h; ``f`` is the next-step value). The norm is convex in
  ``f``, so the maximum over the box is at a vertex ``f = (H-h-1) 1_U``: :func:`vertex_widths` enumerates
  the ``2^S`` subsets ``U`` (exact). The policy is ``PLAN(theta_k, Sigma_k, r^k, rad)``
  (:func:`polopt.rules._vtr.plan`: optimistic for the exploration reward, values capped at ``H - h``);
  the regression target is the maximising vertex ``u``: ``x = phi_u(s_h, a_h)``, ``y = u(s_{h+1})``.
  ``rad = H sqrt(d log(3 (1 + K H^3 B^2) / delta)) + 1``, ``lam = 1 / B^2``.
* **UCRL-RFE+**: the same exploration with UCRL-VTR+'s Bernstein weights (:func:`bernstein_sigma2`): a
  second-moment regression on ``(phi_{u^2}, u(s')^2)`` and ``sigma2 = max(H^2/d, Vbar + E)``; radii of
  the dissertation's Thm 2.5.1 (:func:`rfe_plus_radii`).
* **HF-UCRL-RFE++** (horizon-free, ``sum_h r_h <= 1``): two HOME chains, each with M moment regressions
  on ``(phi_{V^{2^m}}, V^{2^m}(s'))``: the pseudo-values ``V~ = V(.; theta_k, pi_k, r_k)`` and the
  uncertainty values ``V^`` of eq. (2.6.2). Line 5 of Alg. 4 (``argmax`` over policies, models in the
  confidence set and rewards) is an oracle the paper assumes; it is **approximated** (``oracle approx.``):
  ``theta`` at the centre of the confidence set (the ``V~`` chain's ``m = 0`` estimate), ``r`` over a finite
  battery (:func:`exploration_rewards`), ``pi`` by one round of alternating maximisation (the greedy
  policy of ``r``, then the policy maximising eq. (2.6.2) given its ``V~``).

Guarantees (``polopt.theory.reward_free``): with probability ``>= 1 - delta`` the true ``theta*`` stays in
every confidence ellipsoid (checked per episode, exactly), and after ``K = O~(H^5 d^2 / eps^2)``
(UCRL-RFE), ``O~(H^4 d (H + d) / eps^2)`` (UCRL-RFE+) or ``O~(d^2 / eps^2)`` (HF, rewards summing to at most
1) episodes the planned policy of every reward is eps-optimal (constants hidden: shape only).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._validation import as_positive_int
from ._core import Rule, coefficient, count, hparams, probability
from ._vtr import (
    Ridge,
    bernstein_sigma2,
    ellipsoid_norm,
    phi_values,
    plan,
    put_regression,
    ridge,
    ridge_update,
    take_regression,
)

__all__ = [
    "HOMEState",
    "MAX_STATES",
    "RFEState",
    "bernstein_sigma2",
    "estimate",
    "exploration_rewards",
    "hf_radius",
    "hf_ucrl_rfe",
    "home_sigma2",
    "rfe_plus_radii",
    "subsets",
    "ucrl_rfe",
    "ucrl_rfe_plus",
    "ucrl_rfe_radius",
    "vertex_widths",
]

#: Vertex enumeration visits 2^S subsets per state-action pair; beyond this many states it is refused.
MAX_STATES = 12


# --------------------------------------------------------------------------- shared pieces
def subsets(S: int) -> np.ndarray:
    """The indicator vectors of every subset of ``{0..S-1}``, ``[2^S, S]`` (row ``u`` has bit ``s`` of ``u``)."""
    if S > MAX_STATES:
        raise ValueError(f"vertex enumeration visits 2^S subsets: S must be <= {MAX_STATES}, got S={S}")
    return ((np.arange(2**S)[:, None] >> np.arange(S)) & 1).astype(np.float64)


def vertex_widths(phi, Sigma_inv, U) -> tuple[np.ndarray, np.ndarray]:
    """``(max_u ||phi_{1_u}(s, a)||_{Sigma^{-1}} [B, S, A], argmax u int [B, S, A])`` over subsets ``U [n, S]``.

    ``phi [S, A, S, d]``, ``Sigma_inv [B, d, d]``. ``max_{f in [0, c]^S} ||phi_f|| = c * max_u ||phi_{1_u}||``
    (a convex function of ``f`` is maximised at a vertex of the box), so one enumeration serves every scale c.
    """
    phiU = np.einsum("ut,satd->usad", U, phi)  # [n, S, A, d]
    w2 = np.einsum("usad,bde,usae->busa", phiU, Sigma_inv, phiU)
    best = np.argmax(w2, axis=1)
    return np.sqrt(np.maximum(np.take_along_axis(w2, best[:, None], axis=1)[:, 0], 0.0)), best


def _layout(env):
    H = env.horizon
    R = H if env.step_dependent else 1
    step_reg = np.arange(H) if env.step_dependent else np.zeros(H, dtype=np.int64)
    return H, R, step_reg


def _phi_at(env, h: int):
    return env.phi if env.phi.ndim == 4 else env.phi[h]


class RFEState(NamedTuple):
    """State of UCRL-RFE / UCRL-RFE+ (seed axis ``B``, ``R`` regressions: one per step or one shared).

    ``t`` episodes played; ``ridge`` the main regression ``[B, R]``; ``moment`` the second-moment regression
    (UCRL-RFE+; None for UCRL-RFE); ``policy`` int [B, H, S] the last exploration policy; ``value`` [B] its
    planned exploration value ``rho . V_0`` (an upper estimate of the remaining uncertainty); ``rad`` [B, R]
    the radii it planned with; ``frozen`` the regression it planned with (``theta``, ``Sigma`` of the
    confidence ellipsoid checked by the runner).
    """

    t: int
    ridge: Ridge
    moment: Ridge | None
    policy: np.ndarray
    value: np.ndarray
    rad: np.ndarray
    frozen: Ridge


def ucrl_rfe_radius(d: int, H: int, K: int, B: float, delta: float) -> float:
    """``rad = H sqrt(d log(3 (1 + K H^3 B^2) / delta)) + 1`` (dissertation Thm 2.4.3, ``lam = 1/B^2``)."""
    return float(H * np.sqrt(d * np.log(3.0 * (1.0 + K * H**3 * B**2) / delta)) + 1.0)


def rfe_plus_radii(d: int, H: int, K: int, B: float, delta: float) -> tuple[float, float, float]:
    """``(rad_hat, rad_breve, rad_tilde)`` of UCRL-RFE+ (dissertation Thm 2.5.1, ``lam = 1/B^2``)::

        L = log(48 K^2 H^2 / delta),  l = log(1 + K H B^2)
        rad_hat = 8 sqrt(d l L) + 4 sqrt(d) L + 1,   rad_breve = 8 d sqrt(l L) + 4 sqrt(d) L + 1,
        rad_tilde = 8 H^2 sqrt(d l L) + 4 H^2 L + 1
    """
    L = np.log(48.0 * K**2 * H**2 / delta)
    ell = np.log1p(K * H * B**2)
    return (float(8.0 * np.sqrt(d * ell * L) + 4.0 * np.sqrt(d) * L + 1.0),
            float(8.0 * d * np.sqrt(ell * L) + 4.0 * np.sqrt(d) * L + 1.0),
            float(8.0 * H**2 * np.sqrt(d * ell * L) + 4.0 * H**2 * L + 1.0))


def _rfe(name: str, *, delta, episodes, B, lam, rad_scale, bernstein: bool) -> Rule:
    delta = probability(name, "delta", delta)
    K = count(name, "episodes", episodes, "the exploration budget K >= 1; the radii depend on it")
    B = float(coefficient(name, "B", B, low_open=True))
    lam = float(1.0 / B**2 if lam is None else coefficient(name, "lam", lam, low_open=True))
    rad_scale = float(coefficient(name, "rad_scale", rad_scale))

    def radii(env):
        d, H = env.dim, env.horizon
        if bernstein:
            return tuple(rad_scale * r for r in rfe_plus_radii(d, H, K, B, delta))
        return (rad_scale * ucrl_rfe_radius(d, H, K, B, delta),) * 3

    def explore(env, rg: Ridge):
        """``(policy, value, widths [B, R, S, A], best vertices [B, R, S, A], rad [B, R])`` of the exploration plan."""
        H, R, step_reg = _layout(env)
        Bn, S = env.batch, env.phi.shape[-2]
        U = subsets(S)
        rad = radii(env)[0]
        widths, best = zip(*(vertex_widths(_phi_at(env, j if R == H else 0), rg.Sigma_inv[:, j], U)
                             for j in range(R)), strict=True)
        widths, best = np.stack(widths, 1), np.stack(best, 1)
        hi = np.arange(H - 1, -1, -1, dtype=np.float64)  # next-step value range [0, H-h-1]
        scaled = hi[:, None, None, None] * widths[:, step_reg].transpose(1, 0, 2, 3)  # [H, B, S, A]
        r_explore = np.minimum(1.0, (2.0 * rad / H) * scaled)
        radB = np.full((Bn, R), rad)
        p = plan(env.phi, r_explore, rg.theta[:, step_reg], rg.Sigma_inv[:, step_reg], radB[:, step_reg],
                 np.arange(H, 0, -1, dtype=np.float64))
        return p.policy, p.V[:, 0] @ env.rho, best, radB, U, hi

    def init(env) -> RFEState:
        H, R, _ = _layout(env)
        if env.phi.shape[-2] > MAX_STATES:
            raise ValueError(f"{name}: vertex enumeration needs S <= {MAX_STATES}, got S={env.phi.shape[-2]}")
        rg = ridge(env.dim, lam, (env.batch, R))
        policy, value, _, rad, _, _ = explore(env, rg)
        return RFEState(0, rg, ridge(env.dim, lam, (env.batch, R)) if bernstein else None, policy, value, rad, rg)

    def update(state: RFEState, env) -> RFEState:
        H, R, step_reg = _layout(env)
        Bn, d = env.batch, env.dim
        rg, mo = state.ridge, state.moment
        policy, value, best, rad, U, hi = explore(env, rg)
        _, rad_breve, rad_tilde = radii(env)
        traj = env.sim.rollout(policy)
        frozen, frozen_mo = rg, mo
        rows = np.arange(Bn)
        for h in range(H - 1):  # the last step's next value is 0: no information
            j = int(step_reg[h])
            s, a, s1 = traj.states[:, h], traj.actions[:, h], traj.states[:, h + 1]
            u = U[best[rows, j, s, a]] * hi[h]  # [B, S] the maximising vertex
            phi_sa = _phi_at(env, h)[s, a]  # [B, S', d]
            x = np.einsum("btd,bt->bd", phi_sa, u)
            y = u[rows, s1]
            if bernstein:
                x2 = np.einsum("btd,bt->bd", phi_sa, u * u)
                sigma2 = bernstein_sigma2(x, x2, take_regression(frozen, j), take_regression(frozen_mo, j),
                                          rad_breve, rad_tilde, float(H), d)
                mo = put_regression(mo, j, ridge_update(take_regression(mo, j), x2, y * y, np.ones(Bn)))
            else:
                sigma2 = np.ones(Bn)
            rg = put_regression(rg, j, ridge_update(take_regression(rg, j), x, y, sigma2))
        return RFEState(state.t + 1, rg, mo, policy, value, rad, frozen)

    return Rule(name, init, update, 1, False,
                hparams(name, delta=delta, episodes=K, B=B, lam=lam, rad_scale=rad_scale))


def ucrl_rfe(*, delta=0.1, episodes=None, B=1.0, lam=None, rad_scale=1.0) -> Rule:
    """UCRL-RFE (dissertation Alg. 2, Thm 2.4.3; module docstring): Hoeffding value-targeted regression on the
    maximally uncertain vertex, exploration reward ``min(1, (2 rad/H) max_f ||phi_f||_{Sigma^-1}})``.

    Args: ``delta`` in (0, 1); ``episodes`` the budget K >= 1; ``B > 0`` bound on ``||theta*||``;
    ``lam > 0`` (default ``1/B^2``); ``rad_scale >= 0`` multiplies the radius (< 1 voids the guarantee).
    """
    return _rfe("ucrl_rfe", delta=delta, episodes=episodes, B=B, lam=lam, rad_scale=rad_scale, bernstein=False)


def ucrl_rfe_plus(*, delta=0.1, episodes=None, B=1.0, lam=None, rad_scale=1.0) -> Rule:
    """UCRL-RFE+ (dissertation Alg. 3, Thm 2.5.1): UCRL-RFE with Bernstein weights (:func:`bernstein_sigma2`)."""
    return _rfe("ucrl_rfe_plus", delta=delta, episodes=episodes, B=B, lam=lam, rad_scale=rad_scale, bernstein=True)


# --------------------------------------------------------------------------- HF-UCRL-RFE++ (HOME)
class HOMEState(NamedTuple):
    """State of HF-UCRL-RFE++: ``ridge`` ``[B, 2, M]`` regressions (chain 0: pseudo-values ``V~``, chain 1:
    uncertainty values ``V^``; moment m regresses ``V^{2^m}``); ``policy`` int [B, H, S] and ``value`` [B]
    (``rho . V^_0``, the approximate oracle's maximum) of the last episode; ``rad`` [B, 2 M] its radius
    (one for every ellipsoid); ``frozen`` the regressions it planned with; ``reward`` int [B] the battery
    index the oracle picked."""

    t: int
    ridge: Ridge
    policy: np.ndarray
    value: np.ndarray
    rad: np.ndarray
    frozen: Ridge
    reward: np.ndarray


def hf_constants(d: int, H: int, K: int, B: float):
    """``(M, alpha, gamma_w, lam)`` of HF-UCRL-RFE++ (dissertation Thm 2.6.3): ``M = ceil(log2(7 K H))``,
    ``alpha = H^{-1/2}``, ``gamma_w = d^{-1/4}``, ``lam = d / B^2``."""
    return max(1, int(np.ceil(np.log2(7.0 * K * H)))), H**-0.5, d**-0.25, d / B**2


def hf_radius(k, d: int, H: int, B: float, delta: float, alpha: float, gamma_w: float, lam: float):
    """``rad_k = 12 sqrt(d ell_1 ell_2) + 30 ell_2 / gamma_w^2 + sqrt(lam) B`` with
    ``ell_1 = log(1 + k H / (alpha^2 d lam))``, ``ell_2 = log(32 (log(gamma_w^2 / alpha) + 1) k^2 H^2 / delta)``
    (dissertation Thm 2.6.3, where the two log terms are written eta and tau; ``k >= 1``).
    ``log(gamma_w^2/alpha) + 1`` is floored at 1 (it is ``< 1`` when ``gamma_w^2 < alpha``, i.e. ``H < d``)."""
    k = np.maximum(np.asarray(k, dtype=np.float64), 1.0)
    ell_1 = np.log1p(k * H / (alpha**2 * d * lam))
    ell_2 = np.log(32.0 * max(np.log(gamma_w**2 / alpha) + 1.0, 1.0) * k**2 * H**2 / delta)
    return 12.0 * np.sqrt(d * ell_1 * ell_2) + 30.0 * ell_2 / gamma_w**2 + np.sqrt(lam) * B


def home_sigma2(X, theta, Sigma_inv_now, frozen_inv, rad, gamma_w: float, alpha: float):
    """HOME's weights (dissertation Alg. 5) for moments ``m = 0..M-1`` at one step, ``[..., M]``::

        m <= M-2: Vbar_m = [<X_{m+1}, theta_{m+1}>]_[0,1] - [<X_m, theta_m>]^2_[0,1]
                  E_m = [2 rad ||X_m||_{frozen_m^-1}]_[0,1] + [rad ||X_{m+1}||_{frozen_{m+1}^-1}]_[0,1]
                  sigma2_m = max(gamma_w^2 ||X_m||_{Sigma_m^-1}, Vbar_m + E_m, alpha^2)
        m = M-1:  sigma2_m = max(gamma_w^2 ||X_m||_{Sigma_m^-1}, 1, alpha^2)

    ``X [..., M, d]``, ``theta [..., M, d]`` and ``frozen_inv`` from the start of the episode, ``Sigma_inv_now``
    the current ones (the uncertainty-aware first term uses the unsquared current norm).
    """
    pred = np.clip(np.einsum("...md,...md->...m", X, theta), 0.0, 1.0)
    wid = np.clip(rad * ellipsoid_norm(frozen_inv, X), 0.0, 1.0)
    now = gamma_w**2 * ellipsoid_norm(Sigma_inv_now, X)
    var = np.concatenate([pred[..., 1:] - pred[..., :-1] ** 2 + np.minimum(2.0 * wid[..., :-1], 1.0) + wid[..., 1:],
                          np.ones_like(pred[..., :1])], axis=-1)
    return np.maximum(np.maximum(now, var), alpha**2)


def exploration_rewards(S: int, A: int, H: int, num_random: int = 4, seed: int = 0) -> np.ndarray:
    """The finite reward battery of the approximate oracle, ``[n, H, S, A]`` with ``sum_h r_h <= 1``: the ``S``
    rewards ``1/H`` in one state (any action) and ``num_random`` seeded uniform ones scaled by ``1/H``."""
    one_hot = np.repeat(np.eye(S)[:, None, :, None], H, axis=1) * np.ones((1, 1, 1, A)) / H
    rand = np.random.default_rng(seed).random((num_random, H, S, A)) / H
    return np.concatenate([one_hot, rand])


def _policy_values(phi, theta, policy, r, H):
    """Values ``[B, H+1, S]`` of deterministic ``policy`` int [B, H, S] for rewards ``r [B, H, S, A]`` under the
    estimated model ``theta [B, d]`` (``[P V] ~ <phi_V, theta>``), clipped to [0, 1] at every step."""
    Bn, _, S = policy.shape
    V = np.zeros((Bn, H + 1, S))
    for h in range(H - 1, -1, -1):
        q = r[:, h] + np.einsum("bsad,bd->bsa", phi_values(phi, V[:, h + 1]), theta)
        V[:, h] = np.clip(np.take_along_axis(q, policy[:, h][..., None], axis=-1)[..., 0], 0.0, 1.0)
    return V


def _uncertainty(phi, theta, Sinv_tilde, Sinv_hat, rad, Vt, H, policy=None):
    """Eq. (2.6.2): ``V^_h(s) = [u_h(s, a) + 2 rad ||phi_{V^_{h+1}}||_{Sinv_hat} + <phi_{V^_{h+1}}, theta>]_[0, 1]``
    with ``u_h = min(1, rad ||phi_{V~_{h+1}}(s, a)||_{Sinv_tilde})``, at ``a = policy[h, s]`` or (policy None) the
    maximising action. Returns ``(V^ [B, H+1, S], policy int [B, H, S])``."""
    Bn, _, S = Vt.shape
    V = np.zeros((Bn, H + 1, S))
    out = np.zeros((Bn, H, S), dtype=np.int64)
    radb = rad[:, None, None]
    for h in range(H - 1, -1, -1):
        u = np.minimum(1.0, radb * ellipsoid_norm(Sinv_tilde[:, None, None], phi_values(phi, Vt[:, h + 1])))
        pv = phi_values(phi, V[:, h + 1])
        q = u + 2.0 * radb * ellipsoid_norm(Sinv_hat[:, None, None], pv) + np.einsum("bsad,bd->bsa", pv, theta)
        out[:, h] = np.argmax(q, axis=-1) if policy is None else policy[:, h]
        V[:, h] = np.clip(np.take_along_axis(q, out[:, h][..., None], axis=-1)[..., 0], 0.0, 1.0)
    return V, out


def hf_ucrl_rfe(*, delta=0.1, episodes=None, B=1.0, rad_scale=1.0, num_random: int = 4) -> Rule:
    """HF-UCRL-RFE++ (dissertation Alg. 4 with HOME, Alg. 5; Thm 2.6.3), with line 5's oracle approximated.

    Episode k: for every battery reward ``r`` (:func:`exploration_rewards`) and ``theta`` = the centre of
    ``U_k``, the greedy policy of ``r`` and the policy maximising eq. (2.6.2) given the greedy policy's
    pseudo-values are candidates; the candidate of largest ``rho . V^_0`` is played. Then, for each step,
    HOME updates the M moment regressions of both chains with :func:`home_sigma2` weights. Constants:
    :func:`hf_constants`, :func:`hf_radius` (times ``rad_scale``). Homogeneous models only (one ``theta*``).

    Args: ``delta`` in (0, 1); ``episodes`` K >= 1; ``B > 0``; ``rad_scale >= 0``; ``num_random`` random
    battery rewards besides the S one-state ones.
    """
    name = "hf_ucrl_rfe"
    delta = probability(name, "delta", delta)
    K = count(name, "episodes", episodes, "the exploration budget K >= 1; the radii depend on it")
    B = float(coefficient(name, "B", B, low_open=True))
    rad_scale = float(coefficient(name, "rad_scale", rad_scale))
    num_random = as_positive_int("num_random", num_random, minimum=0)

    def setup(env):
        if env.step_dependent or env.phi.ndim == 5:
            raise ValueError(f"{name}: the horizon-free analysis needs a homogeneous model "
                             "(one theta*, phi [S, A, S, d])")
        d, H = env.dim, env.horizon
        M, alpha, gamma_w, lam = hf_constants(d, H, K, B)
        S, A = env.phi.shape[0], env.phi.shape[1]
        return d, H, M, alpha, gamma_w, lam, exploration_rewards(S, A, H, num_random)

    def choose(env, rg: Ridge, rad):
        """The approximate oracle, batched over (seed, battery reward): ``(policy, value, reward index, V~, V^)``."""
        d, H, M, alpha, gamma_w, lam, battery = setup(env)
        Bn, n = env.batch, battery.shape[0]
        th = np.repeat(rg.theta[:, 0, 0], n, axis=0)  # the centre of U_k, one row per (seed, reward)
        St, Sh, rr = (np.repeat(x, n, axis=0) for x in (rg.Sigma_inv[:, 0, 0], rg.Sigma_inv[:, 1, 0], rad))
        r_all = np.tile(battery, (Bn, 1, 1, 1))  # [Bn n, H, S, A]
        greedy = plan(env.phi, r_all.transpose(1, 0, 2, 3), np.repeat(th[:, None], H, 1),
                      np.repeat(St[:, None], H, 1), np.zeros((Bn * n, H)), np.ones(H)).policy
        Vt = _policy_values(env.phi, th, greedy, r_all, H)
        cands = [_uncertainty(env.phi, th, St, Sh, rr, Vt, H, pol) for pol in (greedy, None)]
        vals = np.stack([c[0][:, 0] @ env.rho for c in cands]).reshape(2, Bn, n)
        flat = vals.transpose(1, 0, 2).reshape(Bn, 2 * n).argmax(axis=1)
        which, ridx = flat // n, flat % n
        rows = np.arange(Bn) * n + ridx
        pol = np.stack([cands[w][1][i] for w, i in zip(which, rows, strict=True)])
        best = rg.theta[:, 0, 0]
        # the pseudo-values of the chosen (pi, r) and its uncertainty values: the two chains' targets
        Vt = _policy_values(env.phi, best, pol, battery[ridx], H)
        Vh, _ = _uncertainty(env.phi, best, rg.Sigma_inv[:, 0, 0], rg.Sigma_inv[:, 1, 0], rad, Vt, H, pol)
        return pol, Vh[:, 0] @ env.rho, ridx, Vt, Vh

    def init(env) -> HOMEState:
        d, H, M, alpha, gamma_w, lam, _ = setup(env)
        rg = ridge(d, lam, (env.batch, 2, M))
        rad = np.full(env.batch, rad_scale * float(hf_radius(1, d, H, B, delta, alpha, gamma_w, lam)))
        pol, val, ridx, _, _ = choose(env, rg, rad)
        return HOMEState(0, rg, pol, val, np.repeat(rad[:, None], 2 * M, 1), rg, ridx)

    def update(state: HOMEState, env) -> HOMEState:
        d, H, M, alpha, gamma_w, lam, _ = setup(env)
        Bn = env.batch
        rad = np.full(Bn, rad_scale * float(hf_radius(state.t + 1, d, H, B, delta, alpha, gamma_w, lam)))
        rg = state.ridge
        pol, val, ridx, Vt, Vh = choose(env, rg, rad)
        traj = env.sim.rollout(pol)
        frozen = rg
        rows = np.arange(Bn)
        powers = 2.0 ** np.arange(M)
        for h in range(H - 1):
            s, a, s1 = traj.states[:, h], traj.actions[:, h], traj.states[:, h + 1]
            nxt = np.stack([Vt[:, h + 1], Vh[:, h + 1]], 1)  # [B, 2, S]
            targets = nxt[..., None, :] ** powers[:, None]  # [B, 2, M, S]
            X = np.einsum("btd,bcmt->bcmd", env.phi[s, a], targets)
            Y = targets[rows, :, :, s1]  # [B, 2, M]
            sigma2 = home_sigma2(X, frozen.theta, rg.Sigma_inv, frozen.Sigma_inv, rad[:, None, None], gamma_w, alpha)
            rg = ridge_update(rg, X, Y, sigma2)
        return HOMEState(state.t + 1, rg, pol, val, np.repeat(rad[:, None], 2 * M, 1), frozen, ridx)

    return Rule(name, init, update, 1, False,
                hparams(name, delta=delta, episodes=K, B=B, rad_scale=rad_scale, num_random=num_random))


# --------------------------------------------------------------------------- what planning uses
def estimate(state, H: int) -> np.ndarray:
    """The model estimate ``theta [B, H, d]`` (step-aligned) the planning phase uses after exploration."""
    if isinstance(state, HOMEState):
        return np.repeat(state.ridge.theta[:, 0, 0][:, None], H, axis=1)
    R = state.ridge.theta.shape[1]
    idx = np.arange(H) if R == H else np.zeros(H, dtype=np.int64)
    return state.ridge.theta[:, idx]


def ellipsoids(state):
    """``(theta [B, n, d], Sigma [B, n, d, d], rad [B, n])``: the confidence ellipsoids
    ``||theta - theta_j||_{Sigma_j} <= rad_j`` the last episode planned with (E1 checks ``theta*`` in all)."""
    f = state.frozen
    if isinstance(state, HOMEState):
        Bn, _, M, d = f.theta.shape
        return f.theta.reshape(Bn, 2 * M, d), f.Sigma.reshape(Bn, 2 * M, d, d), state.rad
    return f.theta, f.Sigma, state.rad
