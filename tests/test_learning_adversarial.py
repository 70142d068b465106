"""Log-barrier FTRL on adversarial MDPs with linear Q (arXiv 2301.12942): the step, the estimator, the
exact regret and its bound."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import polopt as po
from polopt._methods import adversarial as adv
from polopt.problems.adversarial import AdversarialMDP, random_adversarial_mdp, switching_losses
from polopt.rules.adversarial import ftrl_log_barrier, linear_q_estimate, log_barrier_argmin
from polopt.testing.strategies import SETTINGS, mdps
from polopt.testing.tolerances import BACKEND, EXACT_F64, IDENTITY_F64

#: Brent's root of the KKT condition is accurate to its xtol/rtol (1e-14 / 1e-15) in nu; p = 1/(eta (L + nu))
#: inherits that relative accuracy times the condition number nu/(L + nu) <= A of the map, so 1e-11 is ample
BRENT = 1e-11

_LOSS = st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False)


@st.composite
def adversarial_mdps(draw, max_episodes=12):
    mdp = draw(mdps(min_states=1, max_states=3, min_actions=1, max_actions=3, horizon=st.integers(1, 3)))
    K = draw(st.integers(1, max_episodes))
    H, S, A = mdp.horizon, mdp.num_states, mdp.num_actions
    losses = draw(hnp.arrays(np.float64, (K, H, S, A), elements=_LOSS))
    return AdversarialMDP(mdp.dense_P(), losses, rho=mdp.rho)


# --------------------------------------------------------------------------- the FTRL step
def test_log_barrier_step_by_hand():
    # L = (0, 1), eta = 1: p_a = 1/(L_a + nu) with 1/nu + 1/(1 + nu) = 1, i.e. nu^2 - nu - 1 = 0
    nu = (1.0 + np.sqrt(5.0)) / 2.0
    p = np.exp(log_barrier_argmin(np.array([0.0, 1.0]), 1.0))
    np.testing.assert_allclose(p, [1.0 / nu, 1.0 / (1.0 + nu)], atol=EXACT_F64)


def test_log_barrier_step_is_uniform_at_zero_and_shift_invariant():
    L = np.array([[0.3, -2.0, 5.0], [0.0, 0.0, 0.0]])
    p = np.exp(log_barrier_argmin(L, 0.7))
    np.testing.assert_allclose(p[1], np.full(3, 1.0 / 3.0), atol=EXACT_F64)
    np.testing.assert_allclose(np.exp(log_barrier_argmin(L + 123.0, 0.7)), p, atol=EXACT_F64)


@settings(SETTINGS, max_examples=20)
@given(hnp.arrays(np.float64, st.integers(2, 5), elements=st.floats(-20, 20)), st.floats(0.05, 5.0))
def test_log_barrier_step_solves_the_convex_program(L, eta):
    from scipy.optimize import brentq

    # independent solve of the KKT condition sum_a 1/(eta (L_a + nu)) = 1 by bracketing (Brent; the root lies
    # in [lo + 1/eta, lo + A/eta], equal to the right end for equal L, hence 2A/eta for a strict sign change), then
    # optimality: no point of the simplex has a smaller objective
    A, lo = L.shape[0], -L.min()
    nu = brentq(lambda v: np.sum(1.0 / (eta * (L + v))) - 1.0, lo + 1.0 / eta, lo + 2.0 * A / eta,
                xtol=1e-14, rtol=1e-15)
    p = np.exp(log_barrier_argmin(L, eta))
    np.testing.assert_allclose(p, 1.0 / (eta * (L + nu)), rtol=BRENT)

    def objective(q):
        return q @ L - np.sum(np.log(q), axis=-1) / eta

    others = np.random.default_rng(0).dirichlet(np.ones(A), size=200)
    assert np.all(objective(others) >= objective(p) - IDENTITY_F64 * (1 + np.abs(L).sum() + A / eta))


def test_log_barrier_step_is_finite_at_extreme_values():
    L = np.array([[0.0, 1e12, -1e12], [1e-300, 0.0, 1e300], [0.0, np.inf, 1.0]])
    for eta in (1e-6, 1.0, 1e3):
        p = np.exp(log_barrier_argmin(L, eta))
        assert np.all(np.isfinite(p)) and np.allclose(p.sum(-1), 1.0, atol=IDENTITY_F64)
        assert p[2, 1] == 0.0  # +inf loss: the action is never played


# --------------------------------------------------------------------------- the estimator
def _trajectories(prob, pi, loss):
    """Every trajectory of ``pi`` with its probability (exact enumeration, tiny instances)."""
    H, S, A = prob.horizon, prob.num_states, prob.num_actions
    for path in itertools.product(range(S * A), repeat=H):
        s_, a_ = np.array([x // A for x in path]), np.array([x % A for x in path])
        w = prob.rho[s_[0]]
        for h in range(H):
            w *= pi[h, s_[h], a_[h]] * (prob.P[s_[h], a_[h], s_[h + 1]] if h + 1 < H else 1.0)
        yield w, s_, a_, loss[np.arange(H), s_, a_]


def test_linear_q_estimator_is_unbiased_by_enumeration():
    prob = random_adversarial_mdp(2, horizon=2, num_states=2, num_actions=2, seed=3)
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(2), size=(2, 2))
    loss = prob.losses[1]
    cov = np.einsum("hsa,sad,sae->hde", adv.occupancy(prob, pi), prob.phi, prob.phi)
    mean = sum(w * linear_q_estimate(prob.phi, s_, a_, l_, cov, 0.0) for w, s_, a_, l_ in _trajectories(prob, pi, loss))
    _, Q = adv.evaluate_losses(prob, pi, loss)
    np.testing.assert_allclose(mean, Q, atol=IDENTITY_F64)


def test_one_hot_estimator_is_importance_weighting():
    prob = random_adversarial_mdp(1, horizon=2, num_states=2, num_actions=3, seed=1)
    pi = np.full((2, 2, 3), 1.0 / 3.0)
    d = adv.occupancy(prob, pi)
    cov = np.einsum("hsa,sad,sae->hde", d, prob.phi, prob.phi)
    s_, a_, l_ = np.array([1, 0]), np.array([2, 1]), np.array([0.25, 0.5])
    q = linear_q_estimate(prob.phi, s_, a_, l_, cov, 0.1)
    want = np.zeros((2, 2, 3))
    want[0, 1, 2] = 0.75 / (d[0, 1, 2] + 0.1)  # loss-to-go from step 0
    want[1, 0, 1] = 0.5 / (d[1, 0, 1] + 0.1)
    np.testing.assert_allclose(q, want, atol=EXACT_F64)


# --------------------------------------------------------------------------- exact regret
def test_two_episode_regret_by_hand():
    # one state, two actions, H = 1, eta = 1: pi_1 uniform pays 1/2; L = (1, 0) gives pi_2 = (1/(1+nu), 1/nu)
    prob = AdversarialMDP(np.ones((1, 2, 1)), np.array([[[[1.0, 0.0]]], [[[0.0, 1.0]]]]))
    res = po.solve(prob, method="ftrl_log_barrier", iters=2, eta=1.0)
    nu = (1.0 + np.sqrt(5.0)) / 2.0
    np.testing.assert_allclose(res.certificates["regret"], [0.0, 0.5, 0.5 + 1.0 / nu - 1.0], atol=EXACT_F64)
    assert res.info["oracle_calls"] == 2 and res.status == "completed"


@SETTINGS
@given(adversarial_mdps())
def test_exact_evaluation_agrees_with_polopt_exact(prob):
    K, H, S, A = prob.losses.shape
    pi = np.full((H, S, A), 1.0 / A)
    for k in range(K):
        mdp = po.TabularMDP(prob.P, -prob.losses[k], horizon=H, rho=prob.rho)
        V, Q = adv.evaluate_losses(prob, pi, prob.losses[k])
        np.testing.assert_allclose(V[:H], -po.exact.evaluate(mdp, pi).V, atol=IDENTITY_F64)
    best, policy = adv.best_in_hindsight(prob)
    summed = po.TabularMDP(prob.P, -prob.losses.sum(0), horizon=H, rho=prob.rho)
    np.testing.assert_allclose(best[-1], -prob.rho @ po.exact.backward_induction(summed).V[0], atol=IDENTITY_F64)
    V, _ = adv.evaluate_losses(prob, policy, prob.losses.sum(0))
    np.testing.assert_allclose(V[0] @ prob.rho, best[-1], atol=IDENTITY_F64)


@SETTINGS
@given(adversarial_mdps(), st.floats(0.05, 3.0))
def test_regret_is_the_performance_difference_sum(prob, eta):
    # Regret_K = sum_h E_{s ~ d*_h} sum_k <pi_k - pi*, Q^{pi_k}_k>: an independent route to the same number
    K = prob.num_episodes
    res = po.solve(prob, method="ftrl_log_barrier", iters=K, eta=eta)
    played = np.asarray(res.iterates)[:-1]
    star = res.info["best_policy"]
    _, Q = adv.evaluate_losses(prob, played, prob.losses)
    d_star = adv.occupancy(prob, star).sum(-1)  # [H, S]
    pdl = np.einsum("hs,khsa->", d_star, (played - star[None]) * Q)
    np.testing.assert_allclose(res.certificates["regret"][-1], pdl, atol=IDENTITY_F64 * max(1, K))


# --------------------------------------------------------------------------- theorems
@SETTINGS
@given(adversarial_mdps(max_episodes=30), st.one_of(st.none(), st.floats(0.01, 10.0)))
def test_full_information_regret_bound_holds(prob, eta):
    hp = {} if eta is None else {"eta": eta}
    res = po.solve(prob, method="ftrl_log_barrier", iters=prob.num_episodes, **hp)
    verdict = po.theory.check(res, "ftrl_log_barrier.full_info_regret")
    assert verdict.holds, verdict


def test_full_information_bound_refuses_bandit_results():
    prob = random_adversarial_mdp(10, seed=0)
    res = po.solve(prob, method="ftrl_log_barrier", iters=10, seed=0, feedback="bandit")
    with pytest.raises(ValueError, match="feedback='full' only"):
        po.theory.check(res, "ftrl_log_barrier.full_info_regret")


def test_bandit_regret_stays_in_the_sqrt_k_envelope_and_full_information_is_smaller():
    prob = random_adversarial_mdp(600, seed=2, period=50)
    full = po.solve(prob, method="ftrl_log_barrier", iters=600)
    bandit = po.solve(prob, method="ftrl_log_barrier", iters=600, seed=5, feedback="bandit")
    assert po.theory.check(bandit, "ftrl_log_barrier.linear_q_sqrt_k").holds
    assert full.certificates["regret"][-1] < bandit.certificates["regret"][-1]
    with pytest.raises(ValueError, match="feedback='bandit' only"):
        po.theory.check(full, "ftrl_log_barrier.linear_q_sqrt_k")


def test_the_envelope_is_the_derived_bound_at_the_runs_step():
    from polopt.theory.adversarial import full_info_bound

    prob = random_adversarial_mdp(300, seed=2, period=300)
    for eta in (1e-3, 0.1, 50.0):  # the bound holds for every eta: large H C/eta at small eta, large eta t at large
        res = po.solve(prob, method="ftrl_log_barrier", iters=300, eta=eta, seed=0, feedback="bandit")
        verdict = po.theory.check(res, "ftrl_log_barrier.linear_q_sqrt_k")
        reg = res.certificates["regret"]
        t = np.arange(1, 301)
        assert verdict.holds
        assert verdict.worst_ratio == pytest.approx(np.max(reg[1:] / full_info_bound(3, 3, eta, t)), rel=1e-12)


# --------------------------------------------------------------------------- the rule: backends, purity, cost
class _TableOracle:
    """Full-information oracle on a fixed Q table per episode (works with NumPy or jax.numpy)."""

    def __init__(self, q):
        self.q = q

    def q_values(self, pi, k):
        return self.q[k]


def test_numpy_and_jax_agree():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    rule = ftrl_log_barrier(eta=0.8)
    qs = np.random.default_rng(0).uniform(-1.0, 3.0, size=(3, 6, 2, 2, 3))  # [batch, K, H, S, A]
    log_pi0 = np.log(np.random.default_rng(1).dirichlet(np.ones(3), size=(3, 2, 2)))

    def run(q, lp, steps=6):
        s = rule.init(lp, None)
        for _ in range(steps):
            s = rule.update(s, _TableOracle(q))
        return s

    ref = [run(qs[b], log_pi0[b]) for b in range(3)]

    def run_jax(q, lp):
        return jax.lax.fori_loop(0, 6, lambda i, s: rule.update(s, _TableOracle(q)), rule.init(lp, None))

    out = jax.jit(jax.vmap(run_jax))(jnp.asarray(qs), jnp.asarray(log_pi0))
    np.testing.assert_allclose(np.exp(np.asarray(out.log_pi)), np.stack([np.exp(s.log_pi) for s in ref]),
                               atol=BACKEND)


def test_init_starts_at_the_given_policy_and_zero_losses_keep_it():
    rule = ftrl_log_barrier(eta=2.0)
    pi0 = np.array([[[0.2, 0.8], [0.5, 0.5]]])
    s = rule.init(np.log(pi0), None)
    np.testing.assert_allclose(np.exp(s.log_pi), pi0, atol=EXACT_F64)
    s = rule.update(s, _TableOracle(np.zeros((1, 1, 2, 2))))
    np.testing.assert_allclose(np.exp(s.log_pi), pi0, atol=EXACT_F64)


def test_the_committed_policy_of_episode_k_is_iterate_k_minus_1():
    prob = random_adversarial_mdp(20, seed=4)
    res = po.solve(prob, method="ftrl_log_barrier", iters=20, seed=1, feedback="bandit")
    it = np.asarray(res.iterates)
    V, _ = adv.evaluate_losses(prob, it[6], prob.losses[6])
    assert res.info["episode_loss"][6] == pytest.approx(V[0] @ prob.rho, abs=EXACT_F64)
    assert res.info["oracle_calls"] == 20 == res.num_iter
    assert res.info["covariance"] == adv.COVARIANCE


def test_episodes_are_capped_by_the_loss_sequence():
    prob = random_adversarial_mdp(15, seed=0)
    res = po.solve(prob, method="ftrl_log_barrier")  # solve's default iters = 1000 > K = 15
    assert res.num_iter == 15 and res.info["episodes"] == 15


def test_default_solve_is_the_best_fixed_policy():
    prob = random_adversarial_mdp(30, seed=6)
    res = po.solve(prob)
    assert res.method == "best_fixed_policy"
    V, _ = adv.evaluate_losses(prob, res.policy, prob.losses.sum(0))
    assert res.value == pytest.approx(V[0] @ prob.rho, abs=IDENTITY_F64)


# --------------------------------------------------------------------------- bad input
def test_bad_problems_are_refused_by_name():
    P = np.full((2, 2, 2), 0.5)
    with pytest.raises(ValueError, match=r"losses must have shape \[K, H, S, A\]"):
        AdversarialMDP(P, np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match=r"losses\[1, 0, 1, 0\] is 1.5, expected a loss in \[0, 1\]"):
        bad = np.zeros((2, 1, 2, 2))
        bad[1, 0, 1, 0] = 1.5
        AdversarialMDP(P, bad)
    with pytest.raises(ValueError, match=r"P must have shape \[3, 2, 3\]"):
        AdversarialMDP(P, np.zeros((2, 1, 3, 2)))
    with pytest.raises(ValueError, match=r"phi must have shape \[S, A, d\]"):
        AdversarialMDP(P, np.zeros((2, 1, 2, 2)), phi=np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"P\[0, 1, :\] sums to"):
        AdversarialMDP(np.array([[[0.5, 0.5], [0.5, 0.6]]] * 2), np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="num_episodes must be >= 1"):
        switching_losses(0, 1, 1, 1)


def test_bad_hyper_parameters_are_refused_by_name():
    prob = random_adversarial_mdp(5, seed=0)
    with pytest.raises(ValueError, match=r"iters \(episodes\) must be >= 1, got 0"):
        po.solve(prob, method="ftrl_log_barrier", iters=0)
    for eta in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="ftrl_log_barrier: eta"):
            ftrl_log_barrier(eta=eta)
    with pytest.raises(ValueError, match="feedback must be one of"):
        ftrl_log_barrier(eta=1.0, feedback="semi")
    with pytest.raises(ValueError, match="ftrl_log_barrier: lam must lie in"):
        ftrl_log_barrier(eta=1.0, feedback="bandit", lam=0.0)
    with pytest.raises(TypeError, match="unknown hyper-parameter"):
        po.solve(prob, method="ftrl_log_barrier", gamma=0.9)
    with pytest.raises(ValueError, match="does not apply"):
        po.solve(po.TabularMDP(np.full((1, 1, 1), 1.0), np.zeros((1, 1)), horizon=2), method="ftrl_log_barrier")


def test_the_callers_arrays_are_not_mutated():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(2), size=(2, 2))
    losses = rng.uniform(size=(4, 2, 2, 2))
    P0, l0 = P.copy(), losses.copy()
    prob = AdversarialMDP(P, losses)
    po.solve(prob, method="ftrl_log_barrier", iters=4, seed=0, feedback="bandit")
    np.testing.assert_array_equal(P, P0)
    np.testing.assert_array_equal(losses, l0)
    assert not prob.losses.flags.writeable
