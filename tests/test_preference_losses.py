"""Preference losses: analytic gradients = jax.grad, NumPy = JAX, dataset = per-pair sums, closed forms,
DPO divergence vs IPO boundedness on finite data, P3O shift invariance, and dataset validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polopt.problems.dataset import PreferenceDataset
from polopt.rules import preference_losses as pl
from polopt.testing import strategies as pst
from polopt.testing.strategies import SETTINGS
from polopt.testing.tolerances import BACKEND, EXACT_F64, IDENTITY_F64

jax.config.update("jax_enable_x64", True)

K = 4
#: chi-PO's closed form is found by brentq to ~1e-15 in lambda; its gradient is then ~1e-12 small.
CHI_STATIONARITY_TOL = 1e-10
#: sampled estimator means vs the exact expectation: 4 standard errors of 20,000 pairs (bounded terms).
MC_SIGMAS = 4.0


def _instance(seed, X=2):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(X, K))
    ref = rng.dirichlet(np.ones(K), size=X)
    r = rng.normal(size=(X, K))
    nu = rng.dirichlet(np.ones(K * K), size=X).reshape(X, K, K) / X
    W = pl.pair_weights(pl.bradley_terry(r), nu)
    return theta, np.log(ref), r, nu, W


LOSSES = {
    "dpo": lambda th, lr, r, nu, W: pl.dpo(th, W, lr, 0.7),
    "ipo": lambda th, lr, r, nu, W: pl.ipo(th, W, lr, 0.3),
    "chi_po": lambda th, lr, r, nu, W: pl.chi_po(th, W, lr, 0.5),
    "chi_po_clipped": lambda th, lr, r, nu, W: pl.chi_po(th, W, lr, 0.5, clip=1.0),
    "xpo": lambda th, lr, r, nu, W: pl.xpo(th, W, lr, 0.7, 0.2, nu.sum(axis=-1)),
    "copg": lambda th, lr, r, nu, W: pl.copg(th, r, lr, 0.4, nu),
    "p3o": lambda th, lr, r, nu, W: pl.p3o(th, r, lr, 0.4, rho=nu.sum(axis=(-1, -2))),
    "online_dpo": lambda th, lr, r, nu, W: pl.online_dpo(th, pl.bradley_terry(r), lr, 0.7, nu.sum(axis=(-1, -2))),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_is_jax_grad_and_backends_agree(name, seed):
    fn = LOSSES[name]
    args = _instance(seed)
    out = fn(*args)
    jargs = [jnp.asarray(a) for a in args]
    jout = fn(*jargs)
    np.testing.assert_allclose(np.asarray(jout.loss), out.loss, rtol=BACKEND, atol=BACKEND)
    np.testing.assert_allclose(np.asarray(jout.grad), out.grad, rtol=BACKEND, atol=BACKEND)
    auto = jax.grad(lambda th: fn(th, *jargs[1:]).loss)(jargs[0])
    np.testing.assert_allclose(np.asarray(auto), out.grad, rtol=BACKEND, atol=BACKEND)


def test_losses_jit():
    args = [jnp.asarray(a) for a in _instance(5)]
    for name in ("dpo", "chi_po_clipped"):  # one convex and one non-convex, clipped loss (compiles are slow)
        fn = LOSSES[name]
        eager = fn(*args)
        jitted = jax.jit(fn)(*args)
        np.testing.assert_allclose(np.asarray(jitted.grad), np.asarray(eager.grad), rtol=BACKEND, atol=BACKEND)


def _per_pair(loss_of_h, data, s):
    w, lo = data.winners, data.losers
    return sum(loss_of_h(s[a] - s[b]) for a, b in zip(w, lo, strict=True)) / data.num_pairs


def test_dataset_loss_is_the_per_pair_average():
    rng = np.random.default_rng(3)
    data = PreferenceDataset.sample(pl.bradley_terry(rng.normal(size=K)), 40, seed=1)
    theta, ref = rng.normal(size=K), rng.dirichlet(np.ones(K))
    s = theta - np.log(ref)
    beta, beta_ipo = 0.8, 0.25
    dpo_direct = _per_pair(lambda h: np.log1p(np.exp(-beta * h)), data, s)
    ipo_direct = _per_pair(lambda h: (h - 0.5 / beta_ipo) ** 2, data, s)
    W = data.weights()
    np.testing.assert_allclose(pl.dpo(theta, W, np.log(ref), beta).loss, dpo_direct, rtol=IDENTITY_F64)
    np.testing.assert_allclose(pl.ipo(theta, W, np.log(ref), beta_ipo).loss, ipo_direct, rtol=IDENTITY_F64)


def test_population_weights_match_sampling():
    """pair_weights(P, nu) is the expected empirical weight tensor of sampled datasets."""
    r = np.array([1.0, 0.0, -0.5])
    b = np.array([0.5, 0.3, 0.2])
    W = pl.pair_weights(pl.bradley_terry(r), pl.product_pairs(b))
    n = 20000
    emp = PreferenceDataset.sample(pl.bradley_terry(r), n, behaviour=b, seed=0).weights()
    se = np.sqrt(W * (1 - W) / n)
    assert np.all(np.abs(emp - W) <= MC_SIGMAS * se + IDENTITY_F64)
    np.testing.assert_allclose(W.sum(), 1.0, atol=IDENTITY_F64)


@SETTINGS
@given(b=pst.bandits(min_actions=2, max_actions=6, random_reference=True, reward_bound=3.0),
       behaviour=st.integers(0, 2**16), beta=st.floats(0.1, 3.0))
def test_dpo_closed_form_is_stationary_and_optimal(b, behaviour, beta):
    Kb = b.num_actions
    nu = pl.product_pairs(np.random.default_rng(behaviour).dirichlet(np.ones(Kb)))
    W = pl.pair_weights(pl.bradley_terry(b.r), nu)
    pi_star = pl.dpo_optimum(b.r, b.mu, beta)
    out = pl.dpo(np.log(pi_star), W, np.log(b.mu), beta)
    np.testing.assert_allclose(out.grad, 0.0, atol=EXACT_F64)
    # convexity: no random logit vector does better
    for th in np.random.default_rng(0).normal(size=(20, Kb)) * 3:
        assert pl.dpo(th, W, np.log(b.mu), beta).loss >= out.loss - IDENTITY_F64


@SETTINGS
@given(game=pst.preference_games(min_actions=2, max_actions=6, random_reference=True),
       behaviour=pst.simplex(6), beta=st.floats(0.05, 2.0))
def test_ipo_closed_form_is_stationary_for_any_preference_matrix(game, behaviour, beta):
    Kg = game.num_actions
    b = behaviour[:Kg] / behaviour[:Kg].sum()
    W = pl.pair_weights(game.P, pl.product_pairs(b))
    pi_star = pl.ipo_optimum(game.P, b, game.mu, beta)
    np.testing.assert_allclose(pl.ipo(np.log(pi_star), W, np.log(game.mu), beta).grad, 0.0, atol=EXACT_F64 / beta)


def test_ipo_closed_form_needs_product_pairs():
    """Finding-style contrast: with a non-product pair distribution the IPO minimizer is NOT the closed form."""
    P = pl.bradley_terry(np.array([1.0, 0.0, -1.0]))
    nu = np.array([[0.0, 0.5, 0.0], [0.0, 0.0, 0.5], [0.0, 0.0, 0.0]])  # only (0,1) and (1,2) are compared
    ref = np.full(3, 1 / 3)
    b = nu.sum(axis=0) + nu.sum(axis=1)
    b = b / b.sum()
    pi = pl.ipo_optimum(P, b, ref, 0.5)
    assert np.max(np.abs(pl.ipo(np.log(pi), pl.pair_weights(P, nu), np.log(ref), 0.5).grad)) > 1e-3


@SETTINGS
@given(b=pst.bandits(min_actions=2, max_actions=6, random_reference=True, reward_bound=2.0),
       beta=st.floats(0.1, 3.0))
def test_chi_po_closed_form_and_regularizer(b, beta):
    pi = pl.chi_po_optimum(b.r, b.mu, beta)
    W = pl.pair_weights(pl.bradley_terry(b.r), pl.product_pairs(b.mu))
    np.testing.assert_allclose(pl.chi_po(np.log(pi), W, np.log(b.mu), beta).grad, 0.0, atol=CHI_STATIONARITY_TOL)

    def J(p):
        return p @ b.r - beta * pl.chi_regularizer(p, b.mu)

    for q in np.random.default_rng(1).dirichlet(np.ones(b.num_actions), size=30):
        assert J(q) <= J(pi) + IDENTITY_F64


def test_chi_regularizer_is_chi2_half_plus_kl():
    from polopt.certificates import kl

    p, q = np.array([0.2, 0.5, 0.3]), np.array([0.4, 0.4, 0.2])
    chi2 = np.sum((p - q) ** 2 / q)
    np.testing.assert_allclose(pl.chi_regularizer(p, q), 0.5 * chi2 + kl(p, q), rtol=IDENTITY_F64)


DETERMINISTIC = PreferenceDataset([[0, 1], [1, 2], [0, 2]], num_actions=3)  # a strict order, each pair once


def test_dpo_has_no_minimizer_on_deterministic_data():
    """Along v = (1, 0, -1) every pair's margin grows: the loss decreases strictly to 0, never attained."""
    W, lr = DETERMINISTIC.weights(), np.log(np.full(3, 1 / 3))
    v = np.array([1.0, 0.0, -1.0])
    losses = [float(pl.dpo(c * v, W, lr, 0.5).loss) for c in (0, 2, 8, 32, 128)]
    assert all(a > b for a, b in zip(losses, losses[1:], strict=False))
    assert losses[-1] < 1e-12 < losses[0]
    # gradient never vanishes at finite logits: it has a strictly negative component along v
    for c in (0, 10, 100):
        assert pl.dpo(c * v, W, lr, 0.5).grad @ v < 0


def test_ipo_minimizer_on_deterministic_data_is_finite_least_squares():
    W, lr, beta = DETERMINISTIC.weights(), np.log(np.full(3, 1 / 3)), 0.25
    # least squares: s_w - s_l = 1/(2 beta) on each comparison (gauge sum s = 0)
    A = np.array([[1.0, -1, 0], [0, 1, -1], [1, 0, -1], [1, 1, 1]])
    s = np.linalg.lstsq(A, np.array([2.0, 2.0, 2.0, 0.0]), rcond=None)[0]
    np.testing.assert_allclose(pl.ipo(s + lr, W, lr, beta).grad, 0.0, atol=IDENTITY_F64)
    np.testing.assert_allclose(s, [4 / 3, 0.0, -4 / 3], atol=IDENTITY_F64)


def test_p3o_sampled_estimate_is_shift_invariant_and_unbiased():
    rng = np.random.default_rng(7)
    theta, r, lr = rng.normal(size=K), rng.normal(size=K), np.log(np.full(K, 1 / K))
    pi = np.exp(theta - np.logaddexp.reduce(theta))
    a, b = rng.choice(K, size=(2, 20000), p=pi)
    nu = np.zeros((K, K))
    np.add.at(nu, (a, b), 1 / a.size)
    g = pl.p3o(theta, r, lr, 0.2, nu=nu).grad
    np.testing.assert_allclose(pl.p3o(theta, r + 5.0, lr, 0.2, nu=nu).grad, g, atol=IDENTITY_F64)
    # REINFORCE without a baseline moves with the shift (the contrast P3O removes)
    counts = np.bincount(a, minlength=K) / a.size
    reinforce = lambda rr: counts * rr - (counts @ rr) * pi  # noqa: E731
    assert np.max(np.abs(reinforce(r + 5.0) - reinforce(r))) > 1e-3
    exact = pl.p3o(theta, r, lr, 0.2).grad
    assert np.max(np.abs(g - exact)) < 0.05  # 20,000 pairs, terms bounded by ~|R| range


def test_apo_inverse_temperature_values():
    np.testing.assert_allclose(pl.apo_inverse_temperature(np.arange(5), 0.0), np.arange(5), atol=IDENTITY_F64)
    np.testing.assert_allclose(pl.apo_inverse_temperature([1, 2], 0.5), [1.0, 2.5], atol=IDENTITY_F64)


# --------------------------------------------------------------------------- dataset validation
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(pairs=np.zeros((0, 2))), r"at least one comparison.*\(0, 2\)"),
        (dict(pairs=[[0, 1], [1, 7]], num_actions=5), r"pairs\[1, 1\] is 7, expected an index in \[0, 5\)"),
        (dict(pairs=[[0, -1]]), r"pairs\[0, 1\] is -1"),
        (dict(pairs=[[0, 1.5]]), r"pairs\[0, 1\] is 1.5, expected an integer"),
        (dict(pairs=[[0, 1], [1, 2]], labels=[1, 0.5]), r"labels\[1\] is 0.5, expected 0 or 1"),
        (dict(pairs=[[0, 1], [1, 2]], labels=[2, 1]), r"labels\[0\] is 2"),
        (dict(pairs=[[0, 1], [1, 2]], labels=[1]), r"labels must have shape \(2,\)"),
        (dict(pairs=[[0, 1, 2]]), r"shape \[N, 2\]"),
        (dict(pairs=[[0, 1]], contexts=[3], num_contexts=2), r"contexts\[0\] is 3"),
    ],
)
def test_dataset_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PreferenceDataset(**kwargs)


def test_dataset_does_not_mutate_and_is_immutable():
    pairs = np.array([[0, 1], [2, 1]])
    labels = np.array([1, 0])
    d = PreferenceDataset(pairs, labels)
    assert d.num_actions == 3 and d.num_pairs == 2
    np.testing.assert_array_equal(d.winners, [0, 1])
    np.testing.assert_array_equal(d.losers, [1, 2])
    pairs[0, 0] = 2
    assert d.pairs[0, 0] == 0
    with pytest.raises(AttributeError):
        d.labels = labels
    with pytest.raises(TypeError):
        PreferenceDataset("ab")


def test_dataset_indices_stay_exact_integers():
    """Indices used to pass through float64: 2**53 + 1 became 2**53."""
    big = 2**53 + 1
    d = PreferenceDataset([[big, 0], [1, 2]], contexts=[0, big])
    assert d.pairs.dtype == np.int64 and int(d.pairs[0, 0]) == big and int(d.contexts[1]) == big
    assert d.num_actions == big + 1
    d = PreferenceDataset(np.array([[0, 1]], dtype=np.uint8))
    assert d.pairs.dtype == np.int64 and d.pairs.tolist() == [[0, 1]]
    assert PreferenceDataset([[0.0, 1.0]]).pairs.tolist() == [[0, 1]]  # integral floats are fine
    with pytest.raises(ValueError, match=r"pairs\[1, 0\] is 0.5, expected an integer index"):
        PreferenceDataset([[0, 1], [0.5, 1]])
    with pytest.raises(ValueError, match=r"contexts\[0\] is 1.5"):
        PreferenceDataset([[0, 1]], contexts=[1.5])
    with pytest.raises(ValueError, match=r"pairs\[0, 0\] is 1e\+30, expected an integer index"):
        PreferenceDataset([[1e30, 0]])
    with pytest.raises(ValueError, match=r"pairs\[0, 0\] is 36893488147419103232, expected an int64 index"):
        PreferenceDataset([[2**65, 0]])
    with pytest.raises(TypeError, match="integer indices"):
        PreferenceDataset([["a", "b"]])


@pytest.mark.parametrize(("pairs", "match"), [
    ([[0, 1], [1, 2, 0]], r"pairs\[1\] has 3 entries, expected 2"),
    ([[0, 1], [1, 2], [2]], r"pairs\[2\] has 1 entries, expected 2"),
    ([[0, 1], 3], r"pairs\[1\] has a scalar, expected 2"),
])
def test_ragged_pairs_name_the_first_bad_row(pairs, match):
    """Ragged pairs used to surface numpy's 'setting an array element with a sequence'."""
    with pytest.raises(ValueError, match=match):
        PreferenceDataset(pairs)


def test_armijo_rule_stalls_once_and_then_holds():
    """After a line search finds no representable decrease the state is stalled: later updates in the
    driver's chunk cost nothing and change nothing (they used to repeat the failing search)."""
    from polopt.oracles.bandit import PairOracle

    r = np.array([[1.0, 0.0, -1.0]])
    log_ref = np.log(np.full((1, 3), 1 / 3))
    P = pl.bradley_terry(r)
    W = pl.pair_weights(P, pl.product_pairs(np.exp(log_ref)))
    oracle = PairOracle(P, log_ref, np.ones(1), r, W)
    rule = pl.chi_po_descent(beta=0.5)
    state = rule.init(log_ref, oracle)
    for _ in range(200):
        state = rule.update(state, oracle)
        if state.stalled:
            break
    assert state.stalled == 1.0 and state.residual == 0.0
    again = rule.update(state, oracle)
    np.testing.assert_array_equal(again.theta, state.theta)
    assert again.t == state.t + 1
