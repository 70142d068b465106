"""Bounded-ratio rules: the BRRL target is the LP optimum (median / fractional ties, asymmetric bounds,
smoothed target), its exact improvement, the CEM elite distribution, the PPO maximizer, BPO, NumPy = JAX."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import polopt as po
from polopt.oracles import MDPOracle
from polopt.problems import random as prand
from polopt.rules import bounded_ratio as br
from polopt.rules import pg
from polopt.testing import strategies as pst
from polopt.testing.tolerances import BACKEND, EXACT_F64, IDENTITY_F64

jax.config.update("jax_enable_x64", True)
SETTINGS = settings(derandomize=True, max_examples=20, deadline=None)
#: HiGHS solves the per-state LPs to its default feasibility/optimality tolerance (1e-7).
LP_TOL = 1e-7
#: The smoothed target at kappa = 1e-9 differs from the hard one only at actions within ~30 kappa of the quantile.
SMOOTH_LIMIT = 1e-6


def lp_optimum(pi0, q, lo, hi):
    """max_p <p, q> s.t. lo pi0 <= p <= hi pi0, sum p = 1 (HiGHS)."""
    res = linprog(-q, A_eq=np.ones((1, q.size)), b_eq=[1.0], bounds=list(zip(lo * pi0, hi * pi0, strict=True)),
                  method="highs")
    return -res.fun


def bounds_draw():
    sym = st.floats(0.05, 0.95).map(lambda e: (1 - e, 1 + e))
    asym = st.tuples(st.floats(0.0, 0.9), st.floats(1.1, 4.0))
    return st.one_of(sym, asym)


@SETTINGS
@given(pi0=pst.simplex(5), q=st.lists(st.integers(-3, 3), min_size=5, max_size=5), bounds=bounds_draw(),
       tie=st.sampled_from(["median", "fractional"]))
def test_target_is_the_lp_optimum(pi0, q, bounds, tie):
    """Integer Q values make ties (the atom case) common."""
    lo, hi = bounds
    q = np.asarray(q, dtype=float)
    p = np.exp(br.bounded_ratio_target(np.log(pi0), q, lo=lo, hi=hi, tie=tie))
    rho = p / pi0
    assert abs(p.sum() - 1) <= IDENTITY_F64
    assert np.all(rho >= lo - EXACT_F64) and np.all(rho <= hi + EXACT_F64)
    assert p @ q >= lp_optimum(pi0, q, lo, hi) - LP_TOL


def test_median_sign_formula_and_tie_modes():
    # pi0 = (0.25, 0.25, 0.25, 0.25), Q = (3, 2, 1, 0): median between 2 and 1 -> rho = 1 + eps sign(Q - mu)
    pi0, eps = np.full(4, 0.25), 0.2
    q = np.array([3.0, 2.0, 1.0, 0.0])
    p = np.exp(br.bounded_ratio_target(np.log(pi0), q, lo=1 - eps, hi=1 + eps))
    np.testing.assert_allclose(p / pi0, [1.2, 1.2, 0.8, 0.8], atol=IDENTITY_F64)
    # atom: pi0 = (0.2, 0.4, 0.4), Q = (2, 1, 0): median atom at action 1 -> rho_at = 1 + eps (m_below - m_above)/m_at
    pi0 = np.array([0.2, 0.4, 0.4])
    p = np.exp(br.bounded_ratio_target(np.log(pi0), np.array([2.0, 1.0, 0.0]), lo=0.8, hi=1.2))
    np.testing.assert_allclose(p / pi0, [1.2, 1 + 0.2 * (0.4 - 0.2) / 0.4, 0.8], atol=IDENTITY_F64)
    # two tied actions straddling the median: "median" gives them one ratio, "fractional" fills in index order
    pi0 = np.full(4, 0.25)
    q = np.array([2.0, 1.0, 1.0, 0.0])
    med = np.exp(br.bounded_ratio_target(np.log(pi0), q, lo=0.8, hi=1.2, tie="median")) / pi0
    frac = np.exp(br.bounded_ratio_target(np.log(pi0), q, lo=0.8, hi=1.2, tie="fractional")) / pi0
    np.testing.assert_allclose(med, [1.2, 1.0, 1.0, 0.8], atol=IDENTITY_F64)
    np.testing.assert_allclose(frac, [1.2, 1.2, 0.8, 0.8], atol=IDENTITY_F64)
    assert abs(med @ (pi0 * q) - frac @ (pi0 * q)) <= IDENTITY_F64  # both optimal


def test_asymmetric_lo_zero_is_the_cem_elite_distribution():
    """lo = 0, hi = 1/q_mass: pi0 conditioned on its top-q_mass quantile of Q (the CEM elite set)."""
    pi0 = np.array([0.1, 0.3, 0.2, 0.4])
    q = np.array([4.0, 3.0, 2.0, 1.0])
    p = np.exp(br.bounded_ratio_target(np.log(pi0), q, lo=0.0, hi=1 / 0.4))  # elite fraction 0.4
    np.testing.assert_allclose(p, [0.25, 0.75, 0.0, 0.0], atol=IDENTITY_F64)


def test_smoothed_target_tanh_form_and_limit():
    rng = np.random.default_rng(0)
    pi0 = rng.dirichlet(np.ones(6))
    q = rng.normal(size=6)
    kappa, eps = 0.3, 0.25
    p = np.exp(br.bounded_ratio_target(np.log(pi0), q, lo=1 - eps, hi=1 + eps, kappa=kappa))
    ratio = p / pi0
    # ratio = 1 + eps tanh((Q - u)/(2 kappa)) for one u, with E_pi0 ratio = 1
    u = q - 2 * kappa * np.arctanh((ratio - 1) / eps)
    assert np.ptp(u) <= EXACT_F64
    assert abs(pi0 @ ratio - 1) <= IDENTITY_F64
    hard = np.exp(br.bounded_ratio_target(np.log(pi0), q, lo=1 - eps, hi=1 + eps))
    soft = np.exp(br.bounded_ratio_target(np.log(pi0), q, lo=1 - eps, hi=1 + eps, kappa=1e-9))
    np.testing.assert_allclose(soft, hard, atol=SMOOTH_LIMIT)


@SETTINGS
@given(mdp=pst.mdps(min_states=2, max_states=5, min_actions=2, max_actions=4, gamma=0.9), data=st.data(),
       eps=st.floats(0.05, 0.9))
def test_brrl_exact_improvement(mdp, data, eps):
    """V(rho)^{pi*} - V(rho)^{pi0} = eps/(1-gamma) E_{s~d^{pi*}} E_{pi0}|Q - median Q| (derived, Thm 4.2)."""
    pi0 = data.draw(pst.policies(mdp.num_states, mdp.num_actions))
    P = mdp.dense_P()
    o0 = pg.evaluate(P, mdp.r, 0.9, pi0, mdp.rho)
    s = br.bounded_ratio(eps=eps).update(pg.policy_init(pi0), MDPOracle(P, mdp.r, 0.9, mdp.rho))
    pi1 = np.exp(s.log_pi)
    o1 = pg.evaluate(P, mdp.r, 0.9, pi1, mdp.rho)
    # E_{pi0}[(rho - 1) Q] = eps E_{pi0}[sign-like(Q - mu) Q] = eps E_{pi0}|Q - mu|, computed from the ratio directly
    mad = ((pi1 - pi0) * o0.q).sum(-1)
    gain = mdp.rho @ (o1.v - o0.v)
    np.testing.assert_allclose(gain, o1.d @ mad / (1 - 0.9), atol=EXACT_F64)
    assert np.all(o1.v >= o0.v - EXACT_F64)
    # and the per-state gain equals eps times the mean absolute deviation about the weighted median
    for s_ in range(mdp.num_states):
        order = np.argsort(-o0.q[s_])
        cum = np.cumsum(pi0[s_][order])
        mu = o0.q[s_][order][np.searchsorted(cum, 0.5 - 1e-15)]
        np.testing.assert_allclose(mad[s_], eps * pi0[s_] @ np.abs(o0.q[s_] - mu), atol=EXACT_F64)


@SETTINGS
@given(pi0=pst.simplex(5), adv=st.lists(st.floats(-2, 2), min_size=5, max_size=5), bounds=bounds_draw())
def test_ppo_maximizer_attains_the_lp_optimum(pi0, adv, bounds):
    """The clipped surrogate is concave piecewise linear: its max over the simplex is an LP in (p, slack)."""
    lo, hi = bounds
    adv = np.asarray(adv)
    lp = np.log(pi0)
    p = br.ppo_maximizer(lp, adv, lo=lo, hi=hi)
    assert abs(np.exp(p).sum() - 1) <= IDENTITY_F64
    val = br.ppo_surrogate(p, lp, adv, lo=lo, hi=hi)
    # LP: variables p (K) and z (K), maximize sum z, z_a <= A_a p_a, z_a <= A_a clip-bound pieces
    K = 5
    c = np.concatenate([np.zeros(K), -np.ones(K)])
    rows, rhs = [], []
    for a in range(K):
        # z_a <= A_a p_a
        row = np.zeros(2 * K)
        row[a], row[K + a] = -adv[a], 1.0
        rows.append(row)
        rhs.append(0.0)
        # z_a <= pi0_a A_a hi (A > 0) or pi0_a A_a lo (A < 0): min(rho A, clip(rho) A) = min(rho A, bound A)
        row = np.zeros(2 * K)
        row[K + a] = 1.0
        rows.append(row)
        rhs.append(pi0[a] * adv[a] * (hi if adv[a] > 0 else lo))
    res = linprog(c, A_ub=np.array(rows), b_ub=rhs, A_eq=np.concatenate([np.ones(K), np.zeros(K)])[None],
                  b_eq=[1.0], bounds=[(0, None)] * K + [(None, None)] * K, method="highs")
    assert val >= -res.fun - LP_TOL


def test_ppo_non_uniqueness_documented():
    """Two different maximizers with the same surrogate value (flat region beyond hi for A > 0)."""
    pi0 = np.full(4, 0.25)
    adv = np.array([1.0, 0.5, -0.5, -1.0])
    lp = np.log(pi0)
    a = br.ppo_maximizer(lp, adv, lo=0.8, hi=1.2)
    # another point: action 0 beyond its cap (flat), action 1 at its cap, negatives below lo pi0 (flat)
    b = np.log([0.35, 0.3, 0.15, 0.2])
    va = br.ppo_surrogate(a, lp, adv, lo=0.8, hi=1.2)
    vb = br.ppo_surrogate(b, lp, adv, lo=0.8, hi=1.2)
    assert abs(va - vb) <= IDENTITY_F64
    assert np.max(np.abs(np.exp(a) - np.exp(b))) >= 0.05
    # the BRRL target rho = (1.2, 1.2, 0.8, 0.8) is a maximizer too (here it coincides with the canonical one)
    brrl = br.bounded_ratio_target(lp, adv, lo=0.8, hi=1.2)
    assert abs(br.ppo_surrogate(brrl, lp, adv, lo=0.8, hi=1.2) - va) <= IDENTITY_F64
    # the canonical maximizer, by hand: caps 0.3 + 0.3, negatives at lo: 0.2 + 0.2 -> sum 1 exactly
    np.testing.assert_allclose(np.exp(a), [0.3, 0.3, 0.2, 0.2], atol=IDENTITY_F64)
    # few positive actions: pi0 = (0.1, 0.9), A = (0.9, -0.1): cap 0.12, negative at most lo * 0.9 = 0.72,
    # the remaining 0.16 goes to the argmax action (flat beyond hi)
    out = np.exp(br.ppo_maximizer(np.log([0.1, 0.9]), np.array([0.9, -0.1]), lo=0.8, hi=1.2))
    np.testing.assert_allclose(out, [0.28, 0.72], atol=IDENTITY_F64)


def test_bpo_descends_its_loss_and_reaches_the_target():
    mdp = prand.random_mdp(3, 3, gamma=0.8, seed=4)
    pi0 = np.full((3, 3), 1 / 3)
    o = pg.evaluate(mdp.dense_P(), mdp.r, 0.8, pi0, mdp.rho)
    target = br.bounded_ratio_target(np.log(pi0), o.q, lo=0.8, hi=1.2)
    loss0 = br.bpo_loss(np.log(pi0), target, o.adv, o.d)
    s = br.bpo(eps=0.2, eta=0.5, epochs=20).update(pg.policy_init(pi0),
                                                   MDPOracle(mdp.dense_P(), mdp.r, 0.8, mdp.rho))
    np.testing.assert_allclose(s.log_pi, br.bpo_step(np.log(pi0), o, lo=0.8, hi=1.2, eta=0.5, epochs=20),
                               atol=IDENTITY_F64)
    loss1 = br.bpo_loss(s.log_pi, target, o.adv, o.d)
    assert loss1 < loss0
    assert br.bpo_loss(target, target, o.adv, o.d) == 0.0
    v1 = pg.evaluate(mdp.dense_P(), mdp.r, 0.8, np.exp(s.log_pi), mdp.rho).v
    assert mdp.rho @ v1 > mdp.rho @ o.v


def test_check_bounds_errors():
    assert br.check_bounds(eps=0.2) == pytest.approx((0.8, 1.2))
    assert br.check_bounds(lo=0.0, hi=3.0) == (0.0, 3.0)
    with pytest.raises(ValueError, match=r"eps must lie in \(0, 1\), got 1"):
        br.check_bounds(eps=1.0)
    with pytest.raises(ValueError, match=r"lo must lie in \[0, 1\), got -0.1"):
        br.check_bounds(lo=-0.1, hi=2.0)
    with pytest.raises(ValueError, match=r"hi must lie in \(1, inf\], got 1"):
        br.check_bounds(lo=0.5, hi=1.0)
    with pytest.raises(TypeError, match="both lo and hi"):
        br.check_bounds(lo=0.5)
    with pytest.raises(ValueError, match="either eps or"):
        br.check_bounds(eps=0.2, lo=0.5, hi=2.0)
    with pytest.raises(ValueError, match="tie must be"):
        br.bounded_ratio_target(np.log(np.full(2, 0.5)), np.zeros(2), lo=0.8, hi=1.2, tie="mean")


def test_numpy_and_jax_agree_jit_vmap():
    mdps = [prand.random_mdp(3, 4, gamma=0.9, seed=i) for i in range(3)]
    P = np.stack([m.dense_P() for m in mdps])
    r = np.stack([m.r for m in mdps])
    rho = np.stack([m.rho for m in mdps])
    pi0 = np.array([[0.1, 0.2, 0.3, 0.4]] * 3)

    every = [br.bounded_ratio(eps=0.2), br.bounded_ratio(lo=0.3, hi=2.0, tie="fractional"),
             br.brrl(eps=0.2, kappa=0.05), br.ppo(eps=0.2), br.ppo(lo=0.5, hi=3.0), br.bpo(eps=0.2, epochs=3),
             br.bpo(lo=0.0, hi=2.5, kappa=0.1, eta=0.3, epochs=2)]

    def rules(log_pi, P, r, rho):
        oracle = MDPOracle(P, r, 0.9, rho)
        return [rule.update(rule.update(rule.init(log_pi), oracle), oracle).log_pi for rule in every]

    log_pi0 = np.log(np.stack([pi0, pi0[:, ::-1], np.full_like(pi0, 0.25)]))
    ref = [np.stack(x) for x in zip(*[rules(log_pi0[i], P[i], r[i], rho[i]) for i in range(3)], strict=True)]
    got = jax.jit(jax.vmap(rules))(jnp.asarray(log_pi0), jnp.asarray(P), jnp.asarray(r), jnp.asarray(rho))
    for rule, a, b in zip(every, ref, got, strict=True):
        np.testing.assert_allclose(np.exp(np.asarray(b)), np.exp(a), atol=BACKEND, err_msg=str(rule.hparams))


def test_optimum_is_reached_by_repeated_brrl_steps():
    mdp = po.problems.catalogue.puterman_two_state(0.9)
    v_star = po.exact.policy_iteration(mdp).v
    rule, oracle = br.bounded_ratio(eps=0.5), MDPOracle(mdp.dense_P(), mdp.r, 0.9, mdp.rho)
    s = pg.policy_init(np.full((2, 2), 0.5))
    for _ in range(200):
        s = rule.update(s, oracle)
    v = pg.evaluate(mdp.dense_P(), mdp.r, 0.9, np.exp(s.log_pi), mdp.rho).v
    assert np.max(v_star - v) <= EXACT_F64


@pytest.mark.parametrize(("factory", "kw", "err", "match"), [
    (br.ppo, {"eps": 1.5}, ValueError, r"ppo: eps must lie in \(0, 1\), got 1.5"),
    (br.bounded_ratio, {"eps": 0.0}, ValueError, r"bounded_ratio: eps must lie in \(0, 1\), got 0"),
    (br.bounded_ratio, {"lo": 1.0, "hi": 2.0}, ValueError, r"bounded_ratio: lo must lie in \[0, 1\), got 1"),
    (br.bpo, {"lo": 0.5, "hi": 0.9}, ValueError, r"bpo: hi must lie in \(1, inf\], got 0.9"),
    (br.brrl, {"tie": "mean"}, ValueError, "brrl: tie must be one of 'median', 'fractional', got 'mean'"),
    (br.brrl, {"kappa": -1.0}, ValueError, r"brrl: kappa must lie in \[0, inf\]"),
    (br.ppo, {"lo": 0.5}, TypeError, "ppo: bounds need eps in"),
    (br.ppo, {"eps": 0.2, "hi": 2.0}, ValueError, "ppo: give either eps or"),
    (br.bpo, {"eta": 0.0}, ValueError, r"bpo: eta must lie in \(0, inf\]"),
    (br.bpo, {"epochs": 0}, ValueError, "bpo: epochs must be >= 1, got 0"),
])
def test_factories_reject_bad_hyper_parameters(factory, kw, err, match):
    with pytest.raises(err, match=match):
        factory(**kw)


def test_factories_record_the_bounds():
    assert br.ppo().hparams._asdict() == pytest.approx({"lo": 0.8, "hi": 1.2})  # DEFAULT_EPS = 0.2
    assert br.bounded_ratio(lo=0.0, hi=4.0).hparams._asdict() == {"lo": 0.0, "hi": 4.0, "tie": "median", "kappa": 0.0}
    assert br.brrl().name == "brrl" and br.bounded_ratio().name == "bounded_ratio"
    assert br.bpo(epochs=3).hparams.epochs == 3
