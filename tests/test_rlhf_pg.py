"""The RLHF objective E r - beta KL(pi || mu) with the policy-gradient rules (bandits, contextual bandits, MDPs).

Hand-derived steps on a 2-arm bandit, limits against the closed-form Gibbs optimum and soft value / policy
iteration, the reduction to entropy-regularized NPG, beta -> 0 continuity, zero-probability reference
actions, bad input, the theorem npg.regularized_linear, PPO's finding, and po.compare of PG vs DPO / GRPO.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import polopt as po
from polopt.exact.soft import (
    regularized_bandit_optimum,
    regularized_policy_evaluation,
    soft_policy_iteration,
    soft_value_iteration,
)
from polopt.oracles.mdp import MDPOracle, evaluate
from polopt.problems.random import random_mdp
from polopt.rules import pg as rpg
from polopt.testing import strategies as pst
from polopt.testing.tolerances import EXACT_F64, IDENTITY_F64

pytestmark = pytest.mark.filterwarnings("ignore::polopt._base.NotConvergedWarning")  # fixed budgets on purpose

RULES = ("npg", "softmax_pg", "ppo", "policy_mirror_descent", "mdpo")
#: Steps of the hand-derived two-arm instance: r = (1, 0), mu = (1/4, 3/4), beta = 1/2, pi_0 = (1/2, 1/2).
R2, MU2, BETA2, PI0 = np.array([1.0, 0.0]), np.array([0.25, 0.75]), 0.5, np.array([0.5, 0.5])
#: Finite differences of V_beta with step 1e-6 (central): truncation O(h^2 V''') ~ 1e-12, round-off
#: O(eps |V| / h) ~ 1e-10 for |V| <= 10.
FD_H, FD_TOL = 1e-6, 1e-8


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)  # fixed budgets on purpose
        return fn(*args, **kw)


def _reg_mdp(seed=0, S=4, A=3, gamma=0.9, beta=0.2, zeros=False):
    m = random_mdp(S, A, gamma=gamma, seed=seed)
    mu = np.random.default_rng(seed).dirichlet(np.ones(A), size=S)
    if zeros:  # one reference zero per state, on a different action each time
        mu[np.arange(S), np.arange(S) % A] = 0.0
        mu /= mu.sum(axis=1, keepdims=True)
    return po.TabularMDP(m.P, m.r, gamma=gamma, rho=m.rho, reference=mu, beta=beta)


def _objective(b, pi):
    """E_pi r - beta KL(pi || mu) of a bandit, computed here from the definition."""
    on = pi > 0
    return float(pi @ b.r - b.beta * np.sum(np.where(on, pi * np.log(np.where(on, pi / b.mu, 1.0)), 0.0)))


# --------------------------------------------------------------------------- the method list and po.compare
def test_methods_of_a_regularized_bandit_list_pg_beside_dpo_grpo_rloo():
    names = po.methods(po.Bandit([1.0, 0.0, 0.5], reference=[0.5, 0.3, 0.2], beta=0.1))
    assert set(RULES) | {"dpo", "grpo", "rloo", "regularized_optimum"} <= set(names)
    assert not {"entropy_npg", "trpo", "projected_pg", "log_barrier_pg", "bounded_ratio", "bpo"} & set(names)
    mdp_names = po.methods(_reg_mdp())
    assert set(RULES) <= set(mdp_names) and "soft_value_iteration" in mdp_names
    assert not {"value_iteration", "solve_mdp", "policy_iteration", "mirror_prox"} & set(mdp_names)


def test_compare_runs_ppo_dpo_grpo_on_one_problem():
    b = po.Bandit([1.0, 0.0, 0.5, 0.2], reference=[0.4, 0.3, 0.2, 0.1], beta=0.1)
    methods = ["npg", "softmax_pg", ("ppo", {"eps": 0.05}), "policy_mirror_descent", "dpo", "grpo", "rloo"]
    frame = _quiet(po.compare, b, methods=methods, iters=60, certificates=["suboptimality", "kl_to_optimum"])
    names = [m if isinstance(m, str) else m[0] for m in methods]
    assert set(frame.method) == set(names)
    star = regularized_bandit_optimum(b)
    for name in names:
        sub = frame[(frame.method == name) & (frame.certificate == "suboptimality")].sort_values("iterate")
        assert 2 <= len(sub) <= 61 and np.all(np.isfinite(sub.value))  # dpo may stop early on its own rule
        assert sub.value.min() >= -IDENTITY_F64  # J* is the maximum of the one objective every method reports
    last = frame[frame.certificate == "suboptimality"].groupby("method").value.last()
    # NPG / PMD at eta = 1, gamma = 0, beta = 0.1: rate 1 - alpha = 1/1.1 per step on log pi: 60 steps ~ 3e-3
    assert last["npg"] <= 1e-4 and last["policy_mirror_descent"] <= 1e-4
    res = po.solve(b, method="npg", iters=400)
    assert res.certificates["suboptimality"][-1] <= IDENTITY_F64
    np.testing.assert_allclose(res.policy, star.policy, atol=EXACT_F64)


# --------------------------------------------------------------------------- hand-derived steps (2 arms)
def _two_arm():
    return po.Bandit(R2, reference=MU2, beta=BETA2)


def test_npg_pmd_mdpo_step_by_hand():
    # gamma = 0, eta = 1: x = eta beta = 1/2, pi+ ∝ pi^(2/3) mu^(1/3) exp(2 r / 3)
    w0 = 0.5 ** (2 / 3) * 0.25 ** (1 / 3) * math.exp(2 / 3)
    w1 = 0.5 ** (2 / 3) * 0.75 ** (1 / 3)
    want = np.array([w0, w1]) / (w0 + w1)
    np.testing.assert_allclose(want[0], 0.5745555921056746, atol=IDENTITY_F64)
    for name in ("npg", "policy_mirror_descent", "mdpo"):
        res = _quiet(po.solve, _two_arm(), method=name, iters=1, init=PI0, eta=1.0)
        np.testing.assert_allclose(res.iterates[1], want, atol=IDENTITY_F64, err_msg=name)


def test_softmax_pg_step_by_hand():
    # J(pi0) = 1/2 - beta KL(pi0 || mu) = 1/2 - (1/4) log(4/3); A(0) = 1 - beta log 2 - J = -A(1)
    a0 = 0.5 - 0.5 * math.log(2.0) + 0.25 * math.log(4.0 / 3.0)
    res = _quiet(po.solve, _two_arm(), method="softmax_pg", iters=1, init=PI0, eta=1.0)
    # theta += pi A = (a0/2, -a0/2): pi+(0) = sigmoid(a0)
    np.testing.assert_allclose(res.iterates[1][0], 1.0 / (1.0 + math.exp(-a0)), atol=IDENTITY_F64)
    np.testing.assert_allclose(res.iterates[1][0], 0.5560995323322653, atol=IDENTITY_F64)


def test_ppo_step_by_hand():
    # the regularized advantage at pi0 is (a0, -a0) with a0 > 0: the clipped maximizer puts ratio 1 + eps on arm 0
    res = _quiet(po.solve, _two_arm(), method="ppo", iters=1, init=PI0, eps=0.2)
    np.testing.assert_allclose(res.iterates[1], [0.6, 0.4], atol=IDENTITY_F64)


def test_softmax_pg_gradient_is_the_gradient_of_v_beta():
    mdp = _reg_mdp(seed=3, beta=0.3)
    theta = np.random.default_rng(5).normal(size=(4, 3))
    oracle = MDPOracle(mdp.P, mdp.r, mdp.gamma, mdp.rho, 0.0, np.log(mdp.mu), mdp.beta)
    lp = rpg.log_policy(po.rules.softmax(theta))
    grad = rpg.softmax_pg_gradient(lp, oracle.evaluate(np.exp(lp)), mdp.gamma)

    def J(th):
        return mdp.rho @ regularized_policy_evaluation(mdp, po.rules.softmax(th), mdp.beta, mdp.mu)

    fd = np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        e = np.zeros_like(theta)
        e[idx] = FD_H
        fd[idx] = (J(theta + e) - J(theta - e)) / (2 * FD_H)
    np.testing.assert_allclose(grad, fd, atol=FD_TOL)


def test_oracle_is_the_regularized_evaluation():
    mdp = _reg_mdp(seed=1, beta=0.4, zeros=True)
    pi = np.random.default_rng(2).dirichlet(np.ones(3), size=4) * (mdp.mu > 0)
    pi /= pi.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        o = evaluate(mdp.P, mdp.r, mdp.gamma, pi, mdp.rho, 0.0, np.log(mdp.mu), mdp.beta)
    v = regularized_policy_evaluation(mdp, pi, mdp.beta, mdp.mu)
    np.testing.assert_allclose(o.v, v, atol=1e-10)  # two dense solves of a gamma = 0.9 system: cond <= 19
    on = pi > 0
    kl_term = mdp.beta * np.log(np.where(on, pi / np.where(on, mdp.mu, 1.0), 1.0))
    np.testing.assert_allclose(np.where(on, o.adv, 0.0), np.where(on, o.q - o.v[:, None] - kl_term, 0.0), atol=1e-10)
    assert np.all(np.abs((pi * o.adv).sum(axis=1)) <= 1e-10)  # E_pi A_beta = 0 per state


# --------------------------------------------------------------------------- limits = the regularized optimum
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(pst.bandits(min_actions=2, max_actions=5, beta=st.floats(0.05, 1.0), random_reference=True))
def test_npg_limit_is_the_gibbs_optimum(b):
    # gamma = 0, eta = 10, beta >= 0.05: log-policy error contracts by 1 - alpha <= 2/3 a step; 150 steps < 1e-26
    res = po.solve(b, method="npg", iters=150, eta=10.0)
    star = regularized_bandit_optimum(b)
    np.testing.assert_allclose(res.policy, star.policy, atol=EXACT_F64)
    assert abs(res.value - star.value) <= EXACT_F64
    # the bandit identity J* - J(pi) = beta KL(pi || pi*), an independent form of the certificate
    pi = res.iterates[3]
    on = pi > 0
    kl = np.sum(np.where(on, pi * np.log(np.where(on, pi / np.where(on, star.policy, 1.0), 1.0)), 0.0))
    np.testing.assert_allclose(res.certificates["suboptimality"][3], b.beta * kl, atol=IDENTITY_F64)
    np.testing.assert_allclose(res.certificates["suboptimality"][3], star.value - _objective(b, pi), atol=IDENTITY_F64)


def test_contextual_bandit_limit():
    cb = po.ContextualBandit([[1.0, 0.0, 0.3], [0.2, 0.9, 0.1]], contexts=[0.3, 0.7],
                             reference=[[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]], beta=0.25)
    star = regularized_bandit_optimum(cb)
    for name in ("npg", "policy_mirror_descent", "mdpo"):
        res = po.solve(cb, method=name, iters=200, eta=5.0)
        np.testing.assert_allclose(res.policy, star.policy, atol=EXACT_F64, err_msg=name)
        assert abs(float(cb.rho @ res.value) - star.value) <= EXACT_F64


@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(pst.mdps(min_states=1, max_states=4, min_actions=2, max_actions=3, gamma=st.floats(0.0, 0.9)),
       st.floats(0.1, 1.0), st.data())
def test_npg_limit_is_soft_vi_and_soft_pi(m, beta, data):
    mu = data.draw(pst.policies(m.num_states, m.num_actions))
    mdp = po.TabularMDP(m.P, m.r, gamma=m.gamma, rho=m.rho, reference=mu, beta=beta)
    # eta = 10 (NPG units): alpha >= 10 beta / (1 + 10 beta) >= 1/2, rate <= 1 - (1-gamma)/2 <= 0.95: 600 steps ~ 1e-13
    res = po.solve(mdp, method="npg", iters=600, eta=10.0)
    svi, spi = soft_value_iteration(mdp, beta, mu), soft_policy_iteration(mdp, beta, mu)
    np.testing.assert_allclose(res.policy, svi.policy, atol=EXACT_F64)
    np.testing.assert_allclose(res.policy, spi.policy, atol=EXACT_F64)
    np.testing.assert_allclose(res.value, spi.v, atol=EXACT_F64 * max(1.0, np.abs(spi.v).max()))
    default = po.solve(mdp)
    assert default.method == "soft_value_iteration"
    np.testing.assert_allclose(default.value, spi.v, atol=EXACT_F64 * max(1.0, np.abs(spi.v).max()))


def test_every_regularized_rule_converges_on_an_mdp_but_ppo():
    mdp = _reg_mdp(seed=2, beta=0.3)
    star_v = soft_policy_iteration(mdp, mdp.beta, mdp.mu).v
    # softmax PG: the AKM default (1-gamma)^3/8 needs ~1e5 steps here; eta = 1 converges linearly (~400 steps),
    # while eta = 5 stalls at a gap ~3e-2 (above the smoothness step: the ascent lemma no longer applies)
    hp = {"softmax_pg": {"eta": 1.0}}
    for name in ("npg", "softmax_pg", "policy_mirror_descent", "mdpo"):
        res = po.solve(mdp, method=name, iters=5000, tol=1e-10, **hp.get(name, {}))
        assert res.status == "converged", (name, res.num_iter)
        assert mdp.rho @ (star_v - res.value) <= 1e-10 + IDENTITY_F64


# --------------------------------------------------------------------------- reductions and continuity
def test_uniform_reference_is_entropy_npg():
    # KL(pi || uniform) = log A - H(pi): npg on beta with the uniform reference = entropy_npg with tau = beta
    m = random_mdp(4, 3, gamma=0.8, seed=6)
    beta, eta = 0.2, 0.5
    mdp = po.TabularMDP(m.P, m.r, gamma=0.8, rho=m.rho, reference=np.full(3, 1 / 3), beta=beta)
    a = po.solve(mdp, method="npg", iters=30, eta=eta, init=np.full((4, 3), 1 / 3))
    x = eta * beta / (1 - 0.8)
    b = _quiet(po.solve, m, method="entropy_npg", iters=30, tau=beta, eta=eta * beta / (1 + x) / beta)
    np.testing.assert_allclose(a.iterates, b.iterates, atol=IDENTITY_F64)
    va, vb = po.theory.check(a, "npg.regularized_linear"), po.theory.check(b, "entropy_npg.linear")
    assert va.holds and vb.holds and abs(va.worst_ratio - vb.worst_ratio) <= 1e-9


def test_any_reference_is_entropy_npg_on_shifted_rewards():
    # -beta KL(p || mu) = beta H(p) + beta <p, log mu>: (r, mu, beta) is (r + beta log mu, tau = beta)
    mdp = _reg_mdp(seed=4, gamma=0.7, beta=0.3)
    shifted = po.TabularMDP(mdp.P, mdp.r + mdp.beta * np.log(mdp.mu), gamma=0.7, rho=mdp.rho)
    eta = 0.4
    a = po.solve(mdp, method="npg", iters=25, eta=eta, init=np.full((4, 3), 1 / 3))
    x = eta * mdp.beta / 0.3
    b = _quiet(po.solve, shifted, method="entropy_npg", iters=25, tau=mdp.beta, eta=eta / (1 + x))
    np.testing.assert_allclose(a.iterates, b.iterates, atol=IDENTITY_F64)


def test_beta_to_zero_is_continuous():
    m = random_mdp(4, 3, gamma=0.9, seed=8)
    mu = np.random.default_rng(8).dirichlet(np.ones(3), size=4)
    v_star = po.solve(m).value
    a_star = np.argmax(po.solve(m).policy, axis=1)
    gaps = []
    for beta in (1e-1, 1e-2, 1e-3, 1e-4):
        mdp = po.TabularMDP(m.P, m.r, gamma=0.9, rho=m.rho, reference=mu, beta=beta)
        v_beta = po.solve(mdp).value
        # sandwich: V* - beta max_s (-log mu(a*(s)|s)) / (1 - gamma) <= V_beta^{pi*} <= V*_beta <= V*
        slack = beta * np.max(-np.log(mu[np.arange(4), a_star])) / (1 - 0.9)
        assert np.all(v_beta <= v_star + EXACT_F64) and np.all(v_beta >= v_star - slack - EXACT_F64)
        gaps.append(np.max(v_star - v_beta))
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] <= 1e-2
    # the rule: its beta -> 0 step tends to the plain NPG step
    o = evaluate(m.P, m.r, 0.9, mu, m.rho)
    plain = po.rules.kl_prox(np.log(mu), o.adv, 1.0 / 0.1)
    tiny = MDPOracle(m.P, m.r, 0.9, m.rho, 0.0, np.log(np.full((4, 3), 1 / 3)), 1e-13)
    reg = rpg.regularized_prox(np.log(mu), tiny.evaluate(mu), tiny, 1.0 / 0.1)
    # the magnet moves the logits by eta beta |log mu - log pi| ~ 1e-11 here
    np.testing.assert_allclose(np.exp(reg), np.exp(plain), atol=1e-10)


# --------------------------------------------------------------------------- zero-probability reference actions
def test_a_zero_probability_reference_action_is_never_played():
    b = po.Bandit([0.0, 1.0, 0.5], reference=[0.5, 0.0, 0.5], beta=0.2)  # the best arm is forbidden by mu
    star = regularized_bandit_optimum(b)
    assert star.policy[1] == 0.0
    for name in RULES:
        res = _quiet(po.solve, b, method=name, iters=50, **({"eps": 0.05} if name == "ppo" else {}))
        assert np.all(res.iterates[:, 1] == 0.0), name
        assert np.all(np.isfinite(res.certificates["suboptimality"])), name
    mdp = _reg_mdp(seed=5, beta=0.3, zeros=True)
    for name in ("npg", "softmax_pg", "policy_mirror_descent", "mdpo"):
        res = _quiet(po.solve, mdp, method=name, iters=40)
        assert np.all(res.iterates[:, mdp.mu == 0] == 0.0), name
    res = po.solve(mdp, method="npg", eta=np.inf, iters=60)  # soft policy iteration
    np.testing.assert_allclose(res.policy, soft_policy_iteration(mdp, mdp.beta, mdp.mu).policy, atol=EXACT_F64)


# --------------------------------------------------------------------------- the theorem
@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.floats(0.02, 1.0), st.sampled_from([0.05, 0.5, 5.0, math.inf]),
       st.sampled_from(["npg", "policy_mirror_descent", "mdpo"]), st.floats(0.0, 0.95))
def test_regularized_linear_rate_holds(seed, beta, eta, method, gamma):
    if method == "mdpo" and math.isinf(eta):
        eta = 50.0  # mdpo takes finite steps only
    mdp = _reg_mdp(seed=seed % 1000, S=3, A=3, gamma=gamma, beta=beta)
    res = po.solve(mdp, method=method, iters=40, eta=eta, init=np.full((3, 3), 1 / 3))
    verdict = po.theory.check(res, "npg.regularized_linear")
    assert verdict.holds, verdict


def test_regularized_linear_refuses_what_it_does_not_cover():
    res = _quiet(po.solve, random_mdp(3, 2, seed=0), method="npg", iters=3)
    with pytest.raises(ValueError, match="beta > 0"):
        po.theory.check(res, "npg.regularized_linear")
    res = _quiet(po.solve, _reg_mdp(), method="policy_mirror_descent", iters=3, schedule="geometric")
    with pytest.raises(ValueError, match="schedule='constant'"):
        po.theory.check(res, "npg.regularized_linear")


# --------------------------------------------------------------------------- PPO: a finding
def test_ppo_does_not_converge_to_the_regularized_optimum():
    # The exact clipped maximizer moves every ratio to 1 +- eps by the sign of A_beta, however small |A_beta|:
    b = po.Bandit([1.0, 0.0, 0.5], reference=[0.5, 0.3, 0.2], beta=0.5)
    star = regularized_bandit_optimum(b).policy  # (0.814, 0.066, 0.120)
    # eps = 0.2: once arm 0 holds mass >= 1/(1 + eps) = 0.833 with A > 0 it takes everything, for ever
    res = _quiet(po.solve, b, method="ppo", iters=300, eps=0.2)
    np.testing.assert_array_equal(res.policy, [1.0, 0.0, 0.0])
    assert res.certificates["suboptimality"][-1] > 0.1 and np.isinf(res.certificates["kl_to_optimum"][-1])
    # eps = 0.01: no collapse, a cycle of width O(eps) around pi*
    res = _quiet(po.solve, b, method="ppo", iters=3000, eps=0.01)
    dist = np.abs(res.iterates[-300:] - star).max(axis=1)
    assert 1e-4 < dist.max() < 0.02
    # exactly at a zero advantage (r = 0, mu = pi*) the step keeps pi: the fixed point of exact arithmetic
    res = po.solve(po.Bandit([0.0, 0.0], reference=[0.3, 0.7], beta=0.1), method="ppo", iters=5, tol=0.0)
    np.testing.assert_array_equal(res.policy, [0.3, 0.7])


# --------------------------------------------------------------------------- bad input
def test_bad_input_is_refused_clearly():
    b = po.Bandit([0.0, 1.0, 0.5], reference=[0.5, 0.0, 0.5], beta=0.2)
    with pytest.raises(ValueError, match=r"init\[1\] is 0.2 > 0 where the reference is 0"):
        po.solve(b, method="npg", init=[0.4, 0.2, 0.4])
    mdp = _reg_mdp(zeros=True)
    with pytest.raises(ValueError, match=r"init\[0, 0\]"):
        po.solve(mdp, method="softmax_pg", init=np.full((4, 3), 1 / 3))
    with pytest.raises(ValueError, match="regularize twice"):
        po.solve(_reg_mdp(), method="softmax_pg", tau=0.1)
    with pytest.raises(ValueError, match="bregman='kl'"):
        po.solve(_reg_mdp(), method="policy_mirror_descent", bregman="euclidean", iters=2)
    with pytest.raises(ValueError, match="does not apply"):
        po.solve(_reg_mdp(), method="entropy_npg", tau=0.1)
    with pytest.raises(ValueError, match="does not apply"):
        po.solve(_reg_mdp(), method="value_iteration")
    with pytest.raises(ValueError, match="beta is the problem's"):
        po.solve(_reg_mdp(beta=0.2), method="soft_value_iteration", beta=0.3)
    oracle = MDPOracle(mdp.P, mdp.r, mdp.gamma, mdp.rho, 0.0, np.log(np.full((4, 3), 1 / 3)), 0.1)
    with pytest.raises(ValueError, match="trpo: the rule is defined for the unregularized objective"):
        rpg.trpo().update(rpg.policy_init(np.full((4, 3), 1 / 3)), oracle)


def test_the_mdp_constructor_validates_and_copies():
    m = random_mdp(3, 2, seed=0)
    with pytest.raises(ValueError, match="needs the discounted criterion"):
        po.TabularMDP(m.P, m.r, gamma=1.0, beta=0.1)
    with pytest.raises(ValueError, match="needs the discounted criterion"):
        po.TabularMDP(m.P, m.r, horizon=3, beta=0.1)
    with pytest.raises(ValueError, match="beta"):
        po.TabularMDP(m.P, m.r, beta=-0.1)
    with pytest.raises(ValueError, match=r"reference\[1, :\]"):
        po.TabularMDP(m.P, m.r, reference=[[0.5, 0.5], [0.5, 0.6], [1.0, 0.0]], beta=0.1)
    with pytest.raises(ValueError, match="reference"):
        po.TabularMDP(m.P, m.r, reference=[0.2, 0.3, 0.5], beta=0.1)
    ref = np.array([0.25, 0.75])
    mdp = po.TabularMDP(m.P, m.r, gamma=0.9, reference=ref, beta=0.1)
    ref[0] = 0.9  # the caller's array is the caller's
    np.testing.assert_array_equal(mdp.mu, [[0.25, 0.75]] * 3)
    assert not mdp.mu.flags.writeable and mdp.reference is mdp.mu
    assert mdp.with_gamma(0.5).beta == 0.1 and "beta=0.1" in repr(mdp)
    with pytest.raises(ValueError, match="no KL term"):
        mdp.to_quantecon()
    plain = po.TabularMDP(m.P, m.r, gamma=0.9)  # backward compatible: beta 0, uniform reference
    assert plain.beta == 0.0 and po.solve(plain).method == "solve_mdp"
