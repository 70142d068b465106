"""Policy-gradient / mirror-descent rules: the exact oracle, hand-derived steps, fixed points,
the policy-iteration limit, hyper-parameter validation in the factories and NumPy = JAX (jit + vmap)."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polopt as po
from polopt.exact.soft import regularized_policy_evaluation, soft_value_iteration
from polopt.oracles import MDPOracle
from polopt.problems import random as prand
from polopt.rules import pg
from polopt.testing import strategies as pst
from polopt.testing.tolerances import BACKEND, EXACT_F64, IDENTITY_F64

jax.config.update("jax_enable_x64", True)
SETTINGS = settings(derandomize=True, max_examples=15, deadline=None)
#: The exact oracle vs polopt.exact.evaluate: the contract's agreement level (two dense solves of a
#: system with condition number <= (1+gamma)/(1-gamma) <= 39 at gamma <= 0.95).
ORACLE_AGREEMENT = 1e-10
#: Sub-optimality left after the fast (linear-rate) rules' iteration budget in the convergence tests.
CONVERGED_GAP = 1e-8

RULES = {
    "softmax_pg": {"eta": 1.0},
    "log_barrier_pg": {"eta": 1.0, "lam": 1e-3},
    "projected_pg": {"eta": 0.1},
    "npg": {"eta": 1.0},
    "entropy_npg": {"eta": 0.5, "tau": 0.1},
    "policy_mirror_descent": {"eta": 1.0},
    "mdpo": {"eta": 1.0, "anneal": 50},
    "trpo": {"delta": 0.05},
}

#: Every rule and its variants (schedules, Bregman divergences, greedy limits, defaults) for the backend test.
ALL_RULES = [*RULES.items(),
             ("softmax_pg", {"eta": 1.0, "tau": 0.2}), ("softmax_pg", {}), ("projected_pg", {}),
             ("log_barrier_pg", {}), ("entropy_npg", {"tau": 0.1}), ("npg", {"eta": np.inf}),
             ("policy_mirror_descent", {"eta": 0.5, "schedule": "geometric"}),
             ("policy_mirror_descent", {"eta": 0.5, "schedule": "adaptive", "c0": 2.0}),
             ("policy_mirror_descent", {"eta": 0.5, "schedule": "geometric", "bregman": "euclidean", "growth": 2.0}),
             ("policy_mirror_descent", {"eta": np.inf, "bregman": "euclidean"}), ("mdpo", {"eta": 0.3})]


def oracle_of(mdp, pi, tau=0.0):
    """The oracle's output at ``pi`` (what a rule sees when it evaluates its current policy)."""
    return pg.evaluate(mdp.dense_P(), mdp.r, mdp.gamma, pi, mdp.rho, tau)


def mdp_oracle(mdp):
    return MDPOracle(mdp.dense_P(), mdp.r, mdp.gamma, mdp.rho)


def bandit(r):
    """The exact oracle of the bandit ``r`` (a one-state MDP, gamma = 0)."""
    return MDPOracle(*pg.bandit_as_mdp_arrays(r))


def bandit_oracle(r, pi, tau=0.0):
    return bandit(r).evaluate(np.asarray(pi, dtype=float)[None], tau)


def step(name, pi, oracle, **kw):
    """One update of rule ``name`` (built with ``kw``) from the policy ``pi`` ([A] = one state)."""
    rule = getattr(pg, name)(**kw)
    pi = np.asarray(pi, dtype=float)
    return np.exp(rule.update(pg.policy_init(pi if pi.ndim == 2 else pi[None]), oracle).log_pi)


def run(name, mdp, iters, pi0=None, **kw):
    rule = getattr(pg, name)(**kw)
    oracle = mdp_oracle(mdp)
    s = pg.policy_init(np.full((mdp.num_states, mdp.num_actions), 1 / mdp.num_actions) if pi0 is None else pi0)
    for _ in range(iters):
        s = rule.update(s, oracle)
    return s


# --------------------------------------------------------------------------- oracle
@SETTINGS
@given(mdp=pst.mdps(max_states=5, max_actions=3, gamma=st.floats(0.0, 0.95)), data=st.data())
def test_oracle_equals_exact_evaluate(mdp, data):
    pi = data.draw(pst.policies(mdp.num_states, mdp.num_actions))
    o = oracle_of(mdp, pi)
    ex = po.exact.evaluate(mdp, pi)
    np.testing.assert_allclose(o.v, ex.V, atol=ORACLE_AGREEMENT)
    np.testing.assert_allclose(o.q, ex.Q, atol=ORACLE_AGREEMENT)
    np.testing.assert_allclose(o.adv, ex.advantage, atol=ORACLE_AGREEMENT)
    np.testing.assert_allclose(o.d, ex.occupancy.sum(-1), atol=ORACLE_AGREEMENT)


@SETTINGS
@given(mdp=pst.mdps(min_states=2, max_states=4, min_actions=2, max_actions=3, gamma=0.8), data=st.data(),
       tau=st.floats(0.05, 2.0))
def test_soft_oracle_equals_regularized_evaluation(mdp, data, tau):
    """V_tau = v_beta(beta = tau, uniform mu) + tau log A / (1 - gamma) (polopt.exact.soft conventions),
    and the soft advantage has zero pi-mean."""
    pi = data.draw(pst.policies(mdp.num_states, mdp.num_actions))
    o = oracle_of(mdp, pi, tau)
    v_beta = regularized_policy_evaluation(mdp, pi, tau)
    np.testing.assert_allclose(o.v, v_beta + tau * np.log(mdp.num_actions) / (1 - mdp.gamma), atol=ORACLE_AGREEMENT)
    np.testing.assert_allclose((pi * o.adv).sum(-1), 0.0, atol=ORACLE_AGREEMENT)


def test_bandit_arrays_give_rewards_and_contexts():
    o = bandit_oracle([1.0, 0.0, 2.0], [0.5, 0.25, 0.25])
    np.testing.assert_allclose(o.q, [[1.0, 0.0, 2.0]], atol=IDENTITY_F64)
    np.testing.assert_allclose(o.v, [1.0], atol=IDENTITY_F64)
    np.testing.assert_allclose(o.d, [1.0], atol=IDENTITY_F64)
    P, r, gamma, rho = pg.bandit_as_mdp_arrays(np.array([[1.0, 0.0], [0.0, 3.0]]), contexts=[0.25, 0.75])
    oc = pg.evaluate(P, r, gamma, np.full((2, 2), 0.5), rho)
    np.testing.assert_allclose(oc.d, [0.25, 0.75], atol=IDENTITY_F64)
    np.testing.assert_allclose(oc.v, [0.5, 1.5], atol=IDENTITY_F64)


# --------------------------------------------------------------------------- hand-derived steps
# Bandit r = (1, 0), pi = (1/2, 1/2): adv = (1/2, -1/2), d = 1, gamma = 0.
HALF = np.array([0.5, 0.5])


def test_npg_hand_step():
    # pi+ ∝ pi exp(eta adv) = (e^{eta/2}, e^{-eta/2}); eta = log 3 -> (3/4, 1/4)
    out = step("npg", HALF, bandit([1.0, 0.0]), eta=np.log(3.0))
    np.testing.assert_allclose(out, [[0.75, 0.25]], atol=IDENTITY_F64)


def test_softmax_pg_hand_step():
    # theta += eta pi adv = eta (1/4, -1/4): the logit gap is eta/2; eta = 2 log 3 -> (3/4, 1/4)
    out = step("softmax_pg", HALF, bandit([1.0, 0.0]), eta=2 * np.log(3.0))
    np.testing.assert_allclose(out, [[0.75, 0.25]], atol=IDENTITY_F64)


def test_softmax_pg_gradient_matches_finite_differences():
    mdp = prand.random_mdp(3, 2, gamma=0.8, seed=3)
    theta = np.array([[0.3, -0.2], [1.0, 0.0], [-0.5, 0.4]])

    def value(th):
        return mdp.rho @ oracle_of(mdp, np.exp(pg.log_normalize(th))).v

    grad = pg.softmax_pg_gradient(pg.log_normalize(theta), oracle_of(mdp, np.exp(pg.log_normalize(theta))), 0.8)
    h = 1e-6
    fd = np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        e = np.zeros_like(theta)
        e[idx] = h
        fd[idx] = (value(theta + e) - value(theta - e)) / (2 * h)
    np.testing.assert_allclose(grad, fd, atol=1e-8)  # central differences: O(h^2) + round-off / h ~ 1e-10


def test_projected_pg_hand_step():
    # q = (1, 0): Proj((1/2 + 0.2, 1/2)) = (0.6, 0.4)
    out = step("projected_pg", HALF, bandit([1.0, 0.0]), eta=0.2)
    np.testing.assert_allclose(out, [[0.6, 0.4]], atol=IDENTITY_F64)


def test_log_barrier_hand_fixed_point():
    # pi = (3/4, 1/4): pi adv = (3/16, -3/16); barrier lam/2 (1 - 2 pi) = (-lam/4, lam/4): zero at lam = 3/4
    pi = np.array([0.75, 0.25])
    out = step("log_barrier_pg", pi, bandit([1.0, 0.0]), eta=1.0, lam=0.75)
    np.testing.assert_allclose(out, [pi], atol=IDENTITY_F64)
    moved = step("log_barrier_pg", pi, bandit([1.0, 0.0]), eta=1.0, lam=0.0)
    assert moved[0, 0] > pi[0]


def test_entropy_npg_hand_steps():
    # alpha = eta tau/(1-gamma) = 1: soft policy iteration pi+ ∝ exp(Q/tau) = (e, 1) at tau = 1
    out = step("entropy_npg", HALF, bandit([1.0, 0.0]), eta=1.0, tau=1.0)
    np.testing.assert_allclose(out, [[np.e / (np.e + 1), 1 / (np.e + 1)]], atol=IDENTITY_F64)
    # alpha = 1/2 from pi = (3/4, 1/4): pi+ ∝ pi^{1/2} exp(Q/(2 tau)) = (sqrt(3) e^{1/2}, 1)
    pi = np.array([0.75, 0.25])
    out = step("entropy_npg", pi, bandit([1.0, 0.0]), eta=0.5, tau=1.0)
    w = np.array([np.sqrt(0.75) * np.exp(0.5), np.sqrt(0.25)])
    np.testing.assert_allclose(out, [w / w.sum()], atol=IDENTITY_F64)


def test_trpo_hand_step():
    # two actions from (1/2, 1/2): KL(pi||p) = -log(4 p (1-p))/2 = delta -> p = (1 + sqrt(1 - e^{-2 delta}))/2
    delta = 0.1
    out = step("trpo", HALF, bandit([1.0, 0.0]), delta=delta)
    p = (1 + np.sqrt(1 - np.exp(-2 * delta))) / 2
    np.testing.assert_allclose(out, [[p, 1 - p]], atol=EXACT_F64)


def test_trpo_step_is_the_constrained_maximizer():
    """Three actions, two states: the trust-region constraint is active and no feasible point does better."""
    rng = np.random.default_rng(0)
    pi = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    adv = rng.normal(size=(2, 3))
    adv -= (pi * adv).sum(-1, keepdims=True)
    d = np.array([0.3, 0.7])
    o = pg.PGOracle(np.zeros(2), adv, adv, d)
    delta = 0.05
    p = np.exp(pg.trpo_step(np.log(pi), o, delta))
    kl_p = d @ po.certificates.kl(pi, p)
    np.testing.assert_allclose(kl_p, delta, atol=EXACT_F64)
    best = d @ (p * adv).sum(-1)
    for _ in range(2000):
        cand = np.exp(np.log(p) + rng.normal(scale=0.05, size=p.shape))
        cand /= cand.sum(-1, keepdims=True)
        if d @ po.certificates.kl(pi, cand) <= delta:
            assert d @ (cand * adv).sum(-1) <= best + EXACT_F64


def test_mdpo_annealed_step():
    # t_k = eta (1 - k/K): at k = 1, K = 2, eta = 2 log 3 the step is log 3 -> (3/4, 1/4)
    s = pg.PolicyState(pg.log_policy(HALF)[None], np.asarray(1))
    out = pg.mdpo(eta=2 * np.log(3.0), anneal=2).update(s, bandit([1.0, 0.0]))
    np.testing.assert_allclose(np.exp(out.log_pi), [[0.75, 0.25]], atol=IDENTITY_F64)
    assert int(out.k) == 2


def test_pmd_schedules():
    mdp = prand.random_mdp(3, 2, gamma=0.8, seed=1)
    pi = np.array([[0.3, 0.7], [0.5, 0.5], [0.9, 0.1]])
    o = oracle_of(mdp, pi)
    s = pg.PolicyState(pg.log_policy(pi), np.asarray(3))
    geo = pg.pmd_step_size(s, o, eta=0.5, gamma=0.8, schedule="geometric")
    np.testing.assert_allclose(geo, 0.5 / 0.8**3, rtol=IDENTITY_F64)
    ada = pg.pmd_step_size(s, o, eta=1e-6, gamma=0.8, schedule="adaptive", c0=2.0)
    a_star = o.q.argmax(-1)
    D = np.max(-np.log(pi[np.arange(3), a_star]))
    np.testing.assert_allclose(ada, D / (2.0 * 0.8 ** (2 * 3 + 2)), rtol=IDENTITY_F64)
    # PMD-KL with step eta is NPG with step eta (1 - gamma)
    a = step("policy_mirror_descent", pi, mdp_oracle(mdp), eta=0.7)
    b = step("npg", pi, mdp_oracle(mdp), eta=0.7 * 0.2)
    np.testing.assert_allclose(a, b, atol=IDENTITY_F64)
    # Euclidean PMD on a bandit is projected gradient ascent on the rewards
    e = step("policy_mirror_descent", HALF, bandit([1.0, 0.0]), eta=0.2, bregman="euclidean")
    np.testing.assert_allclose(e, [[0.6, 0.4]], atol=IDENTITY_F64)
    with pytest.raises(ValueError, match="schedule"):
        pg.pmd_step_size(s, o, eta=1.0, gamma=0.8, schedule="cosine")


# --------------------------------------------------------------------------- limits and fixed points
@SETTINGS
@given(mdp=pst.mdps(min_states=2, max_states=5, min_actions=2, max_actions=4, gamma=0.9), data=st.data())
def test_infinite_step_is_a_policy_iteration_step(mdp, data):
    pi = data.draw(pst.policies(mdp.num_states, mdp.num_actions))
    o = oracle_of(mdp, pi)
    oracle = mdp_oracle(mdp)
    q = o.q
    # skip nothing: when Q has ties the greedy policy keeps pi's proportions on the tied set. The rule
    # reads the advantage q - v; subtracting v is monotone but not strict in float64, so a 1-ulp gap in q
    # can become a tie (which one depends on BLAS's summation order): the tied set is read off adv too
    top = o.adv >= o.adv.max(-1, keepdims=True)
    greedy = np.where(top, pi, 0.0)
    greedy /= greedy.sum(-1, keepdims=True)
    for name in ("npg", "policy_mirror_descent"):
        np.testing.assert_allclose(step(name, pi, oracle, eta=np.inf), greedy, atol=IDENTITY_F64)
    # and a large finite step approaches it
    big = step("npg", pi, oracle, eta=1e6)
    unique = top.sum(-1) == 1
    # With a unique greedy action a, each loser b keeps pi_b e^{-c gap_b} / Z <= (pi_b / pi_a) e^{-c gap_b},
    # c = eta / (1 - gamma): the distance to the greedy policy is at most the sum of those terms,
    # tiny for clear gaps and vacuous (> 1) for near-ties, which the generator can produce.
    a = q.argmax(-1)[:, None]
    c = 1e6 / (1.0 - 0.9)
    ratio = pi / np.take_along_axis(pi, a, -1) * np.exp(-c * (np.take_along_axis(q, a, -1) - q))
    loser_mass = np.where(top, 0.0, ratio).sum(-1)
    dist = np.abs(big - greedy).max(-1)
    assert np.all(dist[unique] <= loser_mass[unique] + IDENTITY_F64)
    euc = step("policy_mirror_descent", pi, oracle, eta=np.inf, bregman="euclidean")
    np.testing.assert_allclose(euc[unique], greedy[unique], atol=IDENTITY_F64)


@pytest.mark.parametrize("name", [n for n in RULES if n not in ("log_barrier_pg", "entropy_npg")])
def test_optimum_is_a_fixed_point(name):
    mdp = po.problems.catalogue.puterman_two_state(0.9)
    star = po.exact.policy_iteration(mdp)
    pi_star = po.exact._ops.one_hot(star.policy, mdp.num_actions)
    out = step(name, pi_star, mdp_oracle(mdp), **RULES[name])
    np.testing.assert_allclose(out, pi_star, atol=IDENTITY_F64)


def test_entropy_npg_fixed_point_is_the_soft_optimum():
    mdp = prand.random_mdp(4, 3, gamma=0.9, seed=2)
    tau = 0.2
    soft = soft_value_iteration(mdp, tau)
    out = step("entropy_npg", soft.policy, mdp_oracle(mdp), eta=0.3, tau=tau)
    np.testing.assert_allclose(out, soft.policy, atol=EXACT_F64)
    # and iterating from uniform reaches it at the rate gamma (eta = (1-gamma)/tau: soft policy iteration)
    s = run("entropy_npg", mdp, 60, eta=0.1 / tau, tau=tau)
    np.testing.assert_allclose(np.exp(s.log_pi), soft.policy, atol=EXACT_F64)
    # eta = None is that largest step
    np.testing.assert_allclose(run("entropy_npg", mdp, 60, tau=tau).log_pi, s.log_pi, atol=IDENTITY_F64)


@pytest.mark.parametrize(("name", "kw", "iters"), [
    ("npg", {"eta": 5.0}, 200),
    ("policy_mirror_descent", {"eta": 1.0, "schedule": "geometric"}, 150),
    ("policy_mirror_descent", {"eta": 1.0, "schedule": "adaptive"}, 200),
    ("policy_mirror_descent", {"eta": 1.0, "schedule": "geometric", "bregman": "euclidean"}, 150),
    ("trpo", {"delta": 1.0}, 25),
])
def test_fast_rules_reach_the_optimum(name, kw, iters):
    mdp = prand.random_mdp(5, 3, gamma=0.9, seed=0)
    v_star = po.exact.policy_iteration(mdp).v
    s = run(name, mdp, iters, **kw)
    v = oracle_of(mdp, np.exp(s.log_pi)).v
    assert mdp.rho @ (v_star - v) <= CONVERGED_GAP


@pytest.mark.parametrize("name", ["softmax_pg", "projected_pg", "mdpo", "log_barrier_pg"])
def test_slow_rules_improve_monotonically(name):
    """Small steps (AKM Lemma C.2 regime for softmax PG) increase V(rho) at every step."""
    mdp = prand.random_mdp(4, 3, gamma=0.8, seed=5)
    kw = {"softmax_pg": {"eta": 0.2**2 / 5}, "projected_pg": {"eta": 0.01},
          "mdpo": {"eta": 0.5}, "log_barrier_pg": {"eta": 0.008, "lam": 1e-4}}[name]
    rule, oracle = getattr(pg, name)(**kw), mdp_oracle(mdp)
    s = pg.policy_init(np.full((4, 3), 1 / 3))
    vals = []
    for _ in range(30):
        vals.append(mdp.rho @ oracle_of(mdp, np.exp(s.log_pi)).v)
        s = rule.update(s, oracle)
    assert np.all(np.diff(vals) >= -IDENTITY_F64)
    assert vals[-1] > vals[0]


# --------------------------------------------------------------------------- backends
def test_numpy_and_jax_agree_jit_vmap():
    """One jitted, vmapped function runs every rule (two updates, oracle included) on a batch of 3 MDPs:
    ``rule.update(state, MDPOracle(P, r, gamma, rho))`` vmapped over (state, P, r, rho)."""
    mdps = [prand.random_mdp(4, 3, gamma=0.9, seed=i) for i in range(3)]
    P = np.stack([m.dense_P() for m in mdps])
    r = np.stack([m.r for m in mdps])
    rho = np.stack([m.rho for m in mdps])
    pi0 = np.array([[0.2, 0.3, 0.5]] * 4)

    rules = [getattr(pg, name)(**kw) for name, kw in ALL_RULES]

    def all_rules(log_pi, P, r, rho):
        out = []
        for rule in rules:
            s = rule.init(log_pi)
            s = rule.update(rule.update(s, MDPOracle(P, r, 0.9, rho)), MDPOracle(P, r, 0.9, rho))
            out.append(s.log_pi)
        return out

    log_pi0 = np.log(np.stack([pi0, pi0[::-1], np.full_like(pi0, 1 / 3)]))  # one start per instance
    ref = [np.stack(x) for x in zip(*[all_rules(log_pi0[i], P[i], r[i], rho[i]) for i in range(3)], strict=True)]
    got = jax.jit(jax.vmap(all_rules))(jnp.asarray(log_pi0), jnp.asarray(P), jnp.asarray(r), jnp.asarray(rho))
    for (name, kw), a, b in zip(ALL_RULES, ref, got, strict=True):
        np.testing.assert_allclose(np.exp(np.asarray(b)), np.exp(a), atol=BACKEND, err_msg=f"{name} {kw}")


# --------------------------------------------------------------------------- factories
def test_factories_declare_one_oracle_call_and_validated_hparams():
    for name, kw in ALL_RULES:
        rule = getattr(pg, name)(**kw)
        assert rule.name == name and rule.oracle_calls == 1 and not rule.averages
        for k, v in kw.items():
            assert getattr(rule.hparams, k) == v
    assert pg.policy_mirror_descent().hparams._asdict() == {"eta": 1.0, "bregman": "kl", "schedule": "constant",
                                                            "growth": None, "c0": 1.0}


@pytest.mark.parametrize(("factory", "kw", "err", "match"), [
    (pg.npg, {"eta": 0.0}, ValueError, r"npg: eta must lie in \(0, inf\], got 0"),
    (pg.npg, {"eta": None}, TypeError, "npg: eta is required"),
    (pg.softmax_pg, {"eta": -1.0}, ValueError, r"softmax_pg: eta must lie in \(0, inf\], got -1"),
    (pg.softmax_pg, {"eta": np.inf}, ValueError, "softmax_pg: eta must be finite"),
    (pg.softmax_pg, {"tau": -0.1}, ValueError, r"softmax_pg: tau must lie in \[0, inf\], got -0.1"),
    (pg.log_barrier_pg, {"lam": -1.0}, ValueError, "log_barrier_pg: lam must lie in"),
    (pg.projected_pg, {"eta": "big"}, TypeError, "projected_pg: eta must be a real number, got str"),
    (pg.entropy_npg, {"tau": 0.0}, ValueError, r"entropy_npg: tau must lie in \(0, inf\], got 0"),
    (pg.entropy_npg, {"tau": None}, TypeError, "entropy_npg: tau is required"),
    (pg.policy_mirror_descent, {"schedule": "cosine"}, ValueError,
     "policy_mirror_descent: schedule must be one of 'constant', 'geometric', 'adaptive', got 'cosine'"),
    (pg.policy_mirror_descent, {"bregman": "l1"}, ValueError, "policy_mirror_descent: bregman must be one of"),
    (pg.policy_mirror_descent, {"growth": 0.5}, ValueError, r"policy_mirror_descent: growth must lie in \[1, inf\]"),
    (pg.policy_mirror_descent, {"c0": 0.0}, ValueError, r"policy_mirror_descent: c0 must lie in \(0, inf\]"),
    (pg.mdpo, {"anneal": 0}, ValueError, "mdpo: anneal must be >= 1, got 0"),
    (pg.mdpo, {"anneal": 2.5}, TypeError, "mdpo: anneal must be an integer"),
    (pg.trpo, {"delta": 0.0}, ValueError, r"trpo: delta must lie in \(0, inf\], got 0"),
])
def test_factories_reject_bad_hyper_parameters(factory, kw, err, match):
    """A direct caller gets the error a po.solve user gets (tests/test_solve_pg.py), naming the rule."""
    with pytest.raises(err, match=match):
        factory(**kw)


def test_entropy_npg_step_limit_needs_gamma_and_is_checked_at_the_first_update():
    rule = pg.entropy_npg(tau=0.1, eta=5.0)  # valid until gamma is known: (1 - gamma)/tau = 1 at gamma = 0.9
    oracle = mdp_oracle(prand.random_mdp(2, 2, gamma=0.9, seed=0))
    with pytest.raises(ValueError, match=r"entropy_npg: eta must lie in \(0, \(1 - gamma\)/tau\] = \(0, 1\]"):
        rule.update(pg.policy_init(np.full((2, 2), 0.5)), oracle)
    assert pg.entropy_npg_limit(0.9, 0.1) == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["npg", "policy_mirror_descent", "mdpo"])
def test_huge_finite_step_stays_on_the_simplex(name):
    """eta = 1e17 with tied advantages: both tied actions keep mass 1/2 (the log-sum is taken after the max
    shift; before it, ``m + log 2`` rounded to ``m`` and every tied action got probability 1, and the
    certificates rejected "pi[0, :] sums to 2"). It equals the eta = inf greedy limit."""
    oracle = bandit([1.0, 1.0, 0.0])
    out = step(name, np.full(3, 1 / 3), oracle, eta=1e17)
    np.testing.assert_allclose(out, [[0.5, 0.5, 0.0]], atol=IDENTITY_F64)
    if name != "mdpo":
        np.testing.assert_allclose(step(name, np.full(3, 1 / 3), oracle, eta=np.inf), out, atol=IDENTITY_F64)
    mdp = prand.random_mdp(4, 3, gamma=0.9, seed=7)
    big = np.exp(run(name, mdp, 3, eta=1e17).log_pi)
    np.testing.assert_allclose(big.sum(-1), 1.0, atol=IDENTITY_F64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        res = po.solve(po.Bandit([1.0, 1.0, 0.0]), method=name, iters=3, eta=1e17)
    np.testing.assert_allclose(res.policy, [0.5, 0.5, 0.0], atol=IDENTITY_F64)
    assert res.certificates["suboptimality"][-1] <= IDENTITY_F64


def test_default_steps_follow_gamma():
    """eta = None: AKM's (1-gamma)^3/8 (softmax / log-barrier PG), (1-gamma)^3/(2 gamma A) (projected PG)."""
    mdp = prand.random_mdp(3, 2, gamma=0.8, seed=4)
    for name, eta in [("softmax_pg", 0.2**3 / 8), ("log_barrier_pg", 0.2**3 / 8), ("projected_pg", 0.2**3 / 3.2)]:
        np.testing.assert_allclose(run(name, mdp, 3).log_pi, run(name, mdp, 3, eta=eta).log_pi, atol=IDENTITY_F64)


def test_rule_reads_only_the_oracle():
    """A rule asks ``oracle.evaluate(pi)`` once per update and reads ``oracle.gamma``: a stand-in oracle works."""
    calls = []

    class Counting:
        gamma = 0.0

        def evaluate(self, pi, tau=None):
            calls.append(np.array(pi))
            return bandit([1.0, 0.0]).evaluate(pi, tau)

    out = pg.npg(eta=np.log(3.0)).update(pg.policy_init(HALF[None]), Counting())
    np.testing.assert_allclose(np.exp(out.log_pi), [[0.75, 0.25]], atol=IDENTITY_F64)
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], [HALF], atol=IDENTITY_F64)
