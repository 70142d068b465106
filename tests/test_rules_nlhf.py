"""NLHF update rules (polopt.rules.nlhf): hand-derived steps, fixed points, identities, NumPy = JAX."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import log_softmax

from polopt import oracles
from polopt.exact import nash, regularized_nash
from polopt.problems import catalogue
from polopt.problems.random import random_intransitive
from polopt.rules import nlhf
from polopt.testing import strategies as pst
from polopt.testing.tolerances import BACKEND, EXACT_F64, IDENTITY_F64

jax.config.update("jax_enable_x64", True)
SETTINGS = settings(derandomize=True, max_examples=10, deadline=None)

#: A fixed point is reproduced to the accuracy of pi*_beta itself (Newton residual <= 1e-12 (1 + 1/beta)
#: in the logits, beta >= 0.05 here) amplified by one step of size <= 2.
FIXED_POINT = 1e-9
#: Two exact recursions that agree in exact arithmetic, after a handful of steps of float64 round-off.
STEPS_AGREE = 1e-12
#: scipy BFGS on the SPPO squared loss stops at gradient norm 1e-12: its minimiser is accurate to ~1e-8.
SCIPY_MIN = 1e-7
#: Monte-Carlo: the mean of n Bernoulli(p) has standard deviation <= 1/(2 sqrt n); 6 sigma never fails by chance.
SIX_SIGMA = 6.0
#: A linearly convergent rule whose logits move less than this per step is 1e-13 / (1 - rate) from its limit.
STALL = 1e-13

PI = np.array([0.2, 0.3, 0.5])
MU = np.array([0.5, 0.25, 0.25])
BETA, ETA = 0.1, 0.7


def _norm(w):
    return w / w.sum(axis=-1, keepdims=True)


@pytest.fixture
def rps():
    return catalogue.perturbed_rps(BETA, reference=MU).P


# --------------------------------------------------------------------------- hand-derived steps
def test_mirror_prox_hand_step(rps):
    r = rps @ PI
    e = ETA * BETA
    half = _norm((PI * MU**e * np.exp(ETA * r)) ** (1 / (1 + e)))
    new = _norm((PI * MU**e * np.exp(ETA * rps @ half)) ** (1 / (1 + e)))
    s = nlhf.mirror_prox_update(nlhf.mirror_prox_init(np.log(PI)), rps, np.log(MU), eta=ETA, beta=BETA)
    np.testing.assert_allclose(np.exp(s.log_half), half, atol=IDENTITY_F64)
    np.testing.assert_allclose(np.exp(s.log_pi), new, atol=IDENTITY_F64)
    assert s.t == 1


def test_extragradient_hand_step(rps):
    e = ETA * BETA
    half = _norm(PI ** (1 - e) * MU**e * np.exp(ETA * rps @ PI))
    new = _norm(PI ** (1 - e) * MU**e * np.exp(ETA * rps @ half))
    s = nlhf.extragradient_update(nlhf.extragradient_init(np.log(PI)), rps, np.log(MU), eta=ETA, beta=BETA)
    np.testing.assert_allclose(np.exp(s.log_pi), new, atol=IDENTITY_F64)


def test_nash_md_hand_step(rps):
    m = _norm(PI ** (1 - ETA * BETA) * MU ** (ETA * BETA))
    new = _norm(m * np.exp(ETA * rps @ m))
    s = nlhf.nash_md_update(nlhf.nash_md_init(np.log(PI)), rps, np.log(MU), eta=ETA, beta=BETA)
    np.testing.assert_allclose(np.exp(s.log_pi), new, atol=IDENTITY_F64)


def test_nash_md_decaying_first_step_is_gibbs_of_mu(rps):
    # eta_0 = 2 / (2 beta) = 1 / beta: the mixture is mu itself, then pi_1 ∝ mu exp(P mu / beta)
    s = nlhf.nash_md_update(nlhf.nash_md_init(np.log(PI)), rps, np.log(MU), beta=BETA, schedule="decaying")
    np.testing.assert_allclose(np.exp(s.log_pi), _norm(MU * np.exp(rps @ MU / BETA)), atol=IDENTITY_F64)
    assert nlhf.nash_md_step_size(3.0, BETA) == pytest.approx(2 / (BETA * 5), rel=IDENTITY_F64)


def test_nash_ema_hand_step(rps):
    alpha = 0.3
    opp = np.array([0.6, 0.1, 0.3])
    state = nlhf.nash_ema_init(np.log(PI))._replace(log_opp=np.log(opp))
    e = ETA * BETA
    new = _norm((PI * MU**e * np.exp(ETA * rps @ opp)) ** (1 / (1 + e)))
    new_opp = _norm(opp ** (1 - alpha) * new**alpha)
    s = nlhf.nash_ema_update(state, rps, np.log(MU), eta=ETA, beta=BETA, alpha=alpha)
    np.testing.assert_allclose(np.exp(s.log_pi), new, atol=IDENTITY_F64)
    np.testing.assert_allclose(np.exp(s.log_opp), new_opp, atol=IDENTITY_F64)


@pytest.mark.parametrize("rule", ["sppo", "dno"])
def test_mwu_hand_steps_and_average(rps, rule):
    init, update = getattr(nlhf, f"{rule}_init"), getattr(nlhf, f"{rule}_update")
    p1 = _norm(PI * np.exp(ETA * rps @ PI))
    p2 = _norm(p1 * np.exp(ETA * rps @ p1))
    s = update(update(init(np.log(PI)), rps, np.log(MU), eta=ETA), rps, np.log(MU), eta=ETA)
    np.testing.assert_allclose(np.exp(s.log_pi), p2, atol=IDENTITY_F64)
    np.testing.assert_allclose(np.exp(s.log_avg), (PI + p1 + p2) / 3, atol=IDENTITY_F64)


def test_inpo_hand_step_and_average(rps):
    e = ETA * BETA
    new = _norm(PI ** (1 - e) * MU**e * np.exp(ETA * rps @ PI))
    s = nlhf.inpo_update(nlhf.inpo_init(np.log(PI)), rps, np.log(MU), eta=ETA, beta=BETA)
    np.testing.assert_allclose(np.exp(s.log_pi), new, atol=IDENTITY_F64)
    np.testing.assert_allclose(np.exp(s.log_avg), (PI + new) / 2, atol=IDENTITY_F64)


def test_mmd_hand_step_with_magnet_update(rps):
    magnet_eta = 0.25
    e = ETA * BETA
    new = _norm((PI * MU**e * np.exp(ETA * rps @ PI)) ** (1 / (1 + e)))
    s = nlhf.mmd_update(nlhf.mmd_init(np.log(PI), np.log(MU)), rps, None, eta=ETA, beta=BETA, magnet_eta=magnet_eta)
    np.testing.assert_allclose(np.exp(s.log_pi), new, atol=IDENTITY_F64)
    np.testing.assert_allclose(np.exp(s.log_magnet), _norm(MU ** (1 - magnet_eta) * new**magnet_eta), atol=IDENTITY_F64)


def test_online_ipo_hand_step(rps):
    lr = 0.01
    d = np.log(PI / MU)
    theta = np.log(PI) - 4 * lr * PI * (d - PI @ d - (rps @ PI - 0.5) / BETA)
    s = nlhf.online_ipo_update(nlhf.online_ipo_init(np.log(PI)), rps, np.log(MU), eta=lr, beta=BETA)
    np.testing.assert_allclose(np.exp(s.log_pi), _norm(np.exp(theta)), atol=IDENTITY_F64)


# ---------------------------------------------------------------- loss forms = autodiff of the literal losses
def _online_ipo_loss(theta, log_mu, w, P, beta):
    d = jax.nn.log_softmax(theta) - log_mu
    h = d[:, None] - d[None, :]
    return jnp.sum(w[:, None] * w[None, :] * (h - (P - 0.5) / beta) ** 2)


@pytest.mark.parametrize("mixture", [None, 0.0, 0.3, 1.0])
def test_ipo_gradients_are_the_literal_losses(rps, mixture):
    log_pi, log_mu = np.log(PI), np.log(MU)
    log_w = log_pi if mixture is None else nlhf.geometric_mixture(log_pi, log_mu, mixture)
    w = np.exp(log_w)
    want = jax.grad(_online_ipo_loss)(jnp.asarray(log_pi), jnp.asarray(log_mu), jnp.asarray(w), jnp.asarray(rps), BETA)
    got = nlhf.online_ipo_gradient(log_pi, log_mu, log_w, rps @ w, BETA)
    np.testing.assert_allclose(got, np.asarray(want), atol=IDENTITY_F64)


def test_ipo_loss_gradient_is_the_literal_egpo_loss(rps):
    target = rps @ PI

    def loss(theta):
        e = jax.nn.log_softmax(theta) - jnp.log(MU) - target / BETA
        return jnp.mean((e[:, None] - e[None, :]) ** 2)

    np.testing.assert_allclose(nlhf.ipo_loss_gradient(np.log(PI), np.log(MU), target, BETA),
                               np.asarray(jax.grad(loss)(jnp.log(PI))), atol=IDENTITY_F64)


@SETTINGS
@given(game=pst.preference_games(min_actions=2, max_actions=6, random_reference=True),
       beta=st.floats(0.01, 1.0), lr=st.floats(1e-3, 0.2))
def test_egpo_loss_form_is_the_tabular_step(game, beta, lr):
    """One EGPO iteration in SGD-on-the-IPO-loss form = tabular EGPO with s = 4 lr / (beta K)."""
    K = game.num_actions
    s_eq = nlhf.egpo_step_size(lr, beta, K)
    if s_eq * beta >= 1:
        return  # outside the tabular rule's domain: nothing to compare
    mu = np.clip(game.mu, 1e-3, None)
    log_mu = np.log(mu / mu.sum())
    state = nlhf.extragradient_init(log_mu)
    a = nlhf.extragradient_ipo_loss_update(state, game.P, log_mu, eta=lr, beta=beta)
    b = nlhf.extragradient_update(state, game.P, log_mu, eta=s_eq, beta=beta)
    np.testing.assert_allclose(a.log_pi, b.log_pi, atol=STEPS_AGREE)


def test_sppo_squared_loss_one_step_is_mwu_and_many_steps_minimise(rps):
    state = nlhf.sppo_init(np.log(PI))
    one = nlhf.sppo_squared_loss_update(state, rps, eta=ETA, inner_steps=1)
    np.testing.assert_allclose(one.log_pi, nlhf.sppo_update(state, rps, eta=ETA).log_pi, atol=IDENTITY_F64)
    b = np.log(PI) + ETA * (rps @ PI - 0.5)
    res = minimize(lambda th: np.sum(PI * (log_softmax(th) - b) ** 2), np.log(PI), method="BFGS",
                   options={"gtol": 1e-12})
    many = nlhf.sppo_squared_loss_update(state, rps, eta=ETA, inner_steps=30)
    np.testing.assert_allclose(many.log_pi, log_softmax(res.x), atol=SCIPY_MIN)
    assert np.max(np.abs(many.log_pi - one.log_pi)) > SCIPY_MIN  # the least-squares step is not MWU


# --------------------------------------------------------------------------- identities
@SETTINGS
@given(game=pst.preference_games(min_actions=2, max_actions=8, random_reference=True),
       beta=st.floats(1e-3, 1.0), eta=st.floats(0.05, 8.0), init=st.integers(0, 2**31 - 1))
def test_nash_mp_is_egpo_and_mmd_is_omd(game, beta, eta, init):
    """Nash-MP(eta) = EGPO(eta / (1 + eta beta)); MMD(eta) = OMD/INPO(eta / (1 + eta beta))."""
    mu = np.clip(game.mu, 1e-3, None)
    log_mu = np.log(mu / mu.sum())
    log_pi0 = log_softmax(np.random.default_rng(init).standard_normal(game.num_actions))
    s = eta / (1 + eta * beta)
    mp, eg = nlhf.mirror_prox_init(log_pi0), nlhf.extragradient_init(log_pi0)
    mm, om = nlhf.mmd_init(log_pi0, log_mu), nlhf.inpo_init(log_pi0)
    for _ in range(5):
        mp = nlhf.mirror_prox_update(mp, game.P, log_mu, eta=eta, beta=beta)
        eg = nlhf.extragradient_update(eg, game.P, log_mu, eta=s, beta=beta)
        mm = nlhf.mmd_update(mm, game.P, log_mu, eta=eta, beta=beta)
        om = nlhf.inpo_update(om, game.P, log_mu, eta=s, beta=beta)
    np.testing.assert_allclose(np.exp(mp.log_pi), np.exp(eg.log_pi), atol=STEPS_AGREE)
    np.testing.assert_allclose(np.exp(mm.log_pi), np.exp(om.log_pi), atol=STEPS_AGREE)
    assert nlhf.omd_prox_eta(s, beta) == pytest.approx(eta, rel=IDENTITY_F64)


@SETTINGS
@given(game=pst.preference_games(min_actions=2, max_actions=6, random_reference=True),
       beta=st.floats(1e-3, 1.0), frac=st.floats(0.05, 0.95), init=st.integers(0, 2**31 - 1))
def test_rules_follow_the_papers_literal_logit_recursions(game, beta, frac, init):
    """Independent of kl_prox: EGPO, INPO/OMD, MMD and Nash-MP written as the papers' logit updates
   , with s = frac / beta so that s beta < 1."""
    mu = np.clip(game.mu, 1e-3, None)
    log_mu = np.log(mu / mu.sum())
    theta0 = log_softmax(np.random.default_rng(init).standard_normal(game.num_actions))
    P, s = game.P, frac / beta
    eta = s / (1 - s * beta)  # the Nash-MP / MMD step with the same dynamics

    def sm(th):
        e = np.exp(th - th.max())
        return e / e.sum()

    th_eg = th_omd = th_mmd = th_mp = theta0
    eg, om = nlhf.extragradient_init(theta0), nlhf.inpo_init(theta0)
    mm, mp = nlhf.mmd_init(theta0, log_mu), nlhf.mirror_prox_init(theta0)
    for _ in range(4):
        h = (1 - s * beta) * th_eg + s * beta * log_mu + s * P @ sm(th_eg)
        th_eg = (1 - s * beta) * th_eg + s * beta * log_mu + s * P @ sm(h)
        th_omd = (1 - s * beta) * th_omd + s * beta * log_mu + s * P @ sm(th_omd)
        th_mmd = (th_mmd + eta * beta * log_mu + eta * P @ sm(th_mmd)) / (1 + eta * beta)
        h = (th_mp + eta * beta * log_mu + eta * P @ sm(th_mp)) / (1 + eta * beta)
        th_mp = (th_mp + eta * beta * log_mu + eta * P @ sm(h)) / (1 + eta * beta)
        eg = nlhf.extragradient_update(eg, P, log_mu, eta=s, beta=beta)
        om = nlhf.inpo_update(om, P, log_mu, eta=s, beta=beta)
        mm = nlhf.mmd_update(mm, P, log_mu, eta=eta, beta=beta)
        mp = nlhf.mirror_prox_update(mp, P, log_mu, eta=eta, beta=beta)
    for th, st_ in ((th_eg, eg), (th_omd, om), (th_mmd, mm), (th_mp, mp)):
        np.testing.assert_allclose(np.exp(st_.log_pi), sm(th), atol=STEPS_AGREE)


# --------------------------------------------------------------------------- fixed points
def _fixed_point_rules(log_mu, beta):
    return {
        "mirror_prox": (nlhf.mirror_prox_init, lambda s, P: nlhf.mirror_prox_update(s, P, log_mu, eta=2.0, beta=beta)),
        "extragradient": (nlhf.extragradient_init,
                          lambda s, P: nlhf.extragradient_update(s, P, log_mu, eta=0.5, beta=beta)),
        "inpo": (nlhf.inpo_init, lambda s, P: nlhf.inpo_update(s, P, log_mu, eta=0.3, beta=beta)),
        "mmd": (lambda lp: nlhf.mmd_init(lp, log_mu), lambda s, P: nlhf.mmd_update(s, P, None, eta=0.4, beta=beta)),
        "nash_ema": (nlhf.nash_ema_init,
                     lambda s, P: nlhf.nash_ema_update(s, P, log_mu, eta=0.5, beta=beta, alpha=0.2)),
        "online_ipo": (nlhf.online_ipo_init, lambda s, P: nlhf.online_ipo_update(s, P, log_mu, eta=0.01, beta=beta)),
    }


@SETTINGS
@given(game=pst.preference_games(min_actions=2, max_actions=6, random_reference=True), beta=st.floats(0.05, 1.0))
def test_regularized_equilibrium_is_a_fixed_point(game, beta):
    mu = np.clip(game.mu, 1e-3, None)
    mu = mu / mu.sum()
    star = regularized_nash(game.__class__(game.P, mu, beta)).policy
    for name, (init, update) in _fixed_point_rules(np.log(mu), beta).items():
        out = np.exp(update(init(np.log(star)), game.P).log_pi)
        np.testing.assert_allclose(out, star, atol=FIXED_POINT, err_msg=name)


def test_nash_md_constant_step_is_biased_and_mwu_fixes_a_full_support_nash():
    game = catalogue.perturbed_rps(BETA)
    star = catalogue.RPS_REGULARIZED[BETA]
    moved = nlhf.nash_md_update(nlhf.nash_md_init(np.log(star)), game.P, np.log(game.mu), eta=1.0, beta=BETA)
    assert np.max(np.abs(np.exp(moved.log_pi) - star)) > 1e3 * FIXED_POINT  # the O(eta) bias
    ne = catalogue.RPS_NASH  # full support: P pi* = 1/2 everywhere, so MWU leaves it in place
    out = nlhf.sppo_update(nlhf.sppo_init(np.log(ne)), game.P, eta=3.0)
    np.testing.assert_allclose(np.exp(out.log_pi), ne, atol=IDENTITY_F64)


@pytest.mark.parametrize("beta", sorted(catalogue.RPS_REGULARIZED))
def test_linear_rate_rules_reach_the_catalogue_equilibria(beta):
    game = catalogue.perturbed_rps(beta)
    log_mu = np.log(game.mu)
    for name, (init, update) in _fixed_point_rules(log_mu, beta).items():
        if name in ("online_ipo", "nash_ema"):
            continue  # online IPO: lr O(beta^2), too slow here; Nash-EMA: no last-iterate guarantee (it cycles)
        s = init(log_mu)
        for _ in range(3000):
            s, old = update(s, game.P), s.log_pi
            if np.max(np.abs(s.log_pi - old)) <= STALL:
                break
        np.testing.assert_allclose(np.exp(s.log_pi), catalogue.RPS_REGULARIZED[beta],
                                   atol=catalogue.RPS_REGULARIZED_DIGITS, err_msg=name)


def test_sppo_average_approaches_nash_while_last_iterate_cycles():
    game = catalogue.perturbed_rps(0.0)
    s = nlhf.sppo_init(np.log(game.mu))
    T = 4000
    for _ in range(T):
        s = nlhf.sppo_update(s, game.P, eta=np.sqrt(8 * np.log(3) / T))
    avg, last = np.exp(s.log_avg), np.exp(s.log_pi)
    # Hedge: DG_0(avg) <= sqrt(2 ln K / T); the last iterate stays far from (1,3,3)/7
    assert 2 * np.max(game.P @ avg) - 1 <= np.sqrt(2 * np.log(3) / T)
    assert 2 * np.max(game.P @ last) - 1 > 3 * np.sqrt(2 * np.log(3) / T)
    np.testing.assert_allclose(nash(game).policy, catalogue.RPS_NASH, atol=EXACT_F64)


# --------------------------------------------------------------------------- sampled and approximate versions
def test_sampled_pref_is_unbiased_and_reproducible():
    game = random_intransitive(5, seed=3)
    pi = np.array([0.1, 0.2, 0.3, 0.15, 0.25])
    n = 4000
    est = oracles.sampled_pref(np.random.default_rng(0), game.P, pi, n)
    assert np.max(np.abs(est - game.P @ pi)) <= SIX_SIGMA / (2 * np.sqrt(n))
    np.testing.assert_array_equal(est, oracles.sampled_pref(np.random.default_rng(0), game.P, pi, n))
    assert not np.array_equal(est, oracles.sampled_pref(np.random.default_rng(1), game.P, pi, n))
    batched = oracles.sampled_pref(np.random.default_rng(0), np.stack([game.P, game.P.T]), np.stack([pi, pi]), 3)
    assert batched.shape == (2, 5)


def test_approximate_nash_mp_tends_to_the_exact_prox(rps):
    state = nlhf.mirror_prox_init(np.log(PI))
    exact = nlhf.mirror_prox_update(state, rps, np.log(MU), eta=2.0, beta=BETA)
    errs = [np.max(np.abs(nlhf.mirror_prox_approx_update(state, rps, np.log(MU), eta=2.0, beta=BETA,
                                                      inner_steps=k).log_pi - exact.log_pi)) for k in (1, 10, 300)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] <= FIXED_POINT


def test_approximate_nash_mp_reinforce_is_seeded(rps):
    state = nlhf.mirror_prox_init(np.log(PI))

    def run(seed):
        return nlhf.mirror_prox_approx_update(state, rps, np.log(MU), np.random.default_rng(seed), eta=2.0, beta=BETA,
                                           inner_steps=3, num_samples=16).log_pi

    np.testing.assert_array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))
    assert np.isclose(np.exp(run(5)).sum(), 1.0, atol=IDENTITY_F64)


# --------------------------------------------------------------------------- backends and batching
# backends, extreme values and the other forms of each rule: the common suite (tests/test_rule_suite.py)


def test_jax_traced_step_size_and_beta():
    """eta and beta may be traced (vmap over a step-size sweep) without Python branches."""
    game = catalogue.perturbed_rps(0.0)
    etas = jnp.array([0.5, 1.0, 2.0])

    def one(eta, beta):
        s = nlhf.mirror_prox_init(jnp.log(jnp.asarray(game.mu)))
        return nlhf.mirror_prox_update(s, jnp.asarray(game.P), jnp.log(jnp.asarray(game.mu)), eta=eta, beta=beta).log_pi

    out = jax.jit(jax.vmap(one))(etas, jnp.full(3, BETA))
    for i, eta in enumerate([0.5, 1.0, 2.0]):
        s = nlhf.mirror_prox_update(nlhf.mirror_prox_init(np.log(game.mu)), game.P, np.log(game.mu), eta=eta, beta=BETA)
        np.testing.assert_allclose(np.asarray(out[i]), s.log_pi, atol=BACKEND)


# --------------------------------------------------------------------------- optimistic MWU
def test_omwu_hand_steps(rps):
    """pi_1 = MWU step (g_{-1} := g_0); pi_2 ∝ pi_1 exp(eta (2 P pi_1 - P pi_0))."""
    rule = nlhf.omwu(eta=ETA)
    oracle = oracles.GameOracle(rps, np.log(MU))
    s1 = rule.update(rule.init(np.log(PI), oracle), oracle)
    p1 = _norm(PI * np.exp(ETA * rps @ PI))
    np.testing.assert_allclose(np.exp(s1.log_pi), p1, atol=IDENTITY_F64)
    s2 = rule.update(s1, oracle)
    p2 = _norm(p1 * np.exp(ETA * (2 * rps @ p1 - rps @ PI)))
    np.testing.assert_allclose(np.exp(s2.log_pi), p2, atol=IDENTITY_F64)
    assert s2.t == 2 and rule.oracle_calls == 1 and not rule.averages


def test_omwu_fixes_a_full_support_nash_and_rejects_bad_steps():
    game = catalogue.perturbed_rps(0.0)
    rule = nlhf.omwu(eta=3.0)
    oracle = oracles.GameOracle(game.P, np.log(game.mu))
    s = rule.init(np.log(catalogue.RPS_NASH), oracle)
    for _ in range(3):
        s = rule.update(s, oracle)
    np.testing.assert_allclose(np.exp(s.log_pi), catalogue.RPS_NASH, atol=IDENTITY_F64)
    for bad in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="omwu: eta must"):
            nlhf.omwu(eta=bad)
