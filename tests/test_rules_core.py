"""The shared rule pieces: KL prox closed form, simplex projection, NumPy = JAX."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from polopt.certificates import kl
from polopt.rules import entropy_log, kl_log, kl_prox, log_normalize, project_simplex, softmax
from polopt.testing import strategies as pst
from polopt.testing.tolerances import BACKEND, EXACT_F64, SOLVER_TOL

jax.config.update("jax_enable_x64", True)
SETTINGS = settings(derandomize=True, max_examples=25, deadline=None)


def test_kl_prox_hand_step():
    # pi = (1/2, 1/2), g = (1, 0), eta = log 3, no magnet: pi+ ∝ (3, 1)
    out = np.exp(kl_prox(np.log([0.5, 0.5]), np.array([1.0, 0.0]), np.log(3.0)))
    np.testing.assert_allclose(out, [0.75, 0.25], atol=EXACT_F64)


def test_kl_prox_with_magnet_hand_step():
    # pi = (1/2,1/2), mu = (1/4, 3/4), g = 0, eta = beta = 1: log pi+ ∝ (log pi + log mu)/2 -> ∝ sqrt(pi mu)
    out = np.exp(kl_prox(np.log([0.5, 0.5]), np.zeros(2), 1.0, np.log([0.25, 0.75]), 1.0))
    w = np.sqrt([0.125, 0.375])
    np.testing.assert_allclose(out, w / w.sum(), atol=EXACT_F64)


@SETTINGS
@given(pi=pst.simplex(4), mu=pst.simplex(4), g=st.lists(st.floats(-3, 3), min_size=4, max_size=4),
       eta=st.floats(0.05, 5), beta=st.floats(0, 2))
def test_kl_prox_is_the_argmax(pi, mu, g, eta, beta):
    """The closed form maximizes <p,g> - beta KL(p||mu) - KL(p||pi)/eta over the simplex."""
    g = np.array(g)
    pi = np.clip(pi, 1e-3, None)
    pi /= pi.sum()
    mu = np.clip(mu, 1e-3, None)
    mu /= mu.sum()
    p_star = np.exp(kl_prox(np.log(pi), g, eta, np.log(mu), beta))

    def objective(p):
        return p @ g - beta * kl(p, mu) - kl(p, pi) / eta

    # any other point of the simplex scores no higher (random perturbations, Dirichlet draws)
    rng = np.random.default_rng(0)
    for q in rng.dirichlet(np.ones(4), size=50):
        assert objective(q) <= objective(p_star) + SOLVER_TOL
    # and the first-order condition holds: the objective's gradient is constant on the support
    grad = g - beta * (np.log(p_star / mu) + 1) - (np.log(p_star / pi) + 1) / eta
    assert np.ptp(grad) <= 1e-8 * (1 + np.abs(grad).max())


def test_kl_prox_zero_mass_magnet_and_reference():
    with np.errstate(divide="ignore"):
        lp = np.log([0.5, 0.5, 0.0])
    out = kl_prox(np.log([0.2, 0.3, 0.5]), np.ones(3), 1.0, lp, 0.5)
    assert np.exp(out)[2] == 0.0 and np.isclose(np.exp(out).sum(), 1.0)
    out0 = kl_prox(np.log([0.2, 0.3, 0.5]), np.ones(3), 1.0, lp, 0.0)  # beta = 0: magnet inert
    np.testing.assert_allclose(np.exp(out0), [0.2, 0.3, 0.5], atol=EXACT_F64)


def test_log_normalize_extreme_logits():
    out = log_normalize(np.array([1e300, 0.0, -np.inf]))
    assert out[0] == 0.0 and out[2] == -np.inf and np.isfinite(out[1])
    np.testing.assert_allclose(softmax(np.array([-800.0, -800.0])), [0.5, 0.5])


@SETTINGS
@given(x=st.lists(st.floats(-5, 5), min_size=1, max_size=7))
def test_project_simplex_matches_qp(x):
    x = np.array(x)
    p = project_simplex(x)
    assert np.all(p >= 0) and abs(p.sum() - 1) <= EXACT_F64
    # KKT: p = max(x - theta, 0) for one theta, i.e. x - p is constant on the support and >= it off it
    support = p > 0
    theta = (x - p)[support]
    assert np.ptp(theta) <= EXACT_F64
    assert np.all(x[~support] <= theta[0] + EXACT_F64)
    # an independent QP solve agrees
    qp = minimize(lambda q: np.sum((q - x) ** 2), np.full(x.size, 1 / x.size), method="SLSQP",
                  bounds=[(0, 1)] * x.size, constraints=({"type": "eq", "fun": lambda q: q.sum() - 1},),
                  options={"ftol": 1e-14})
    np.testing.assert_allclose(p, qp.x, atol=1e-6)  # SLSQP's own accuracy


@SETTINGS
@given(p=pst.simplex(5), q=pst.simplex(5))
def test_kl_and_entropy_match_scipy(p, q):
    with np.errstate(divide="ignore"):
        lp, lq = np.log(p), np.log(q)
    np.testing.assert_allclose(kl_log(lp, lq), kl(p, q), rtol=1e-12, atol=EXACT_F64)
    from scipy.stats import entropy

    np.testing.assert_allclose(entropy_log(lp), entropy(p), atol=EXACT_F64)


@pytest.mark.parametrize("fn", ["prox", "proj", "kl"])
def test_numpy_and_jax_agree(fn):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    la, lb = log_normalize(a), log_normalize(b)
    f = {
        "prox": lambda x, y, m: kl_prox(x, y, 0.7, m, 0.2),
        "proj": lambda x, y, m: project_simplex(y),
        "kl": lambda x, y, m: kl_log(x, m),
    }[fn]
    ref = f(la, b, lb)
    out = jax.jit(f)(jnp.asarray(la), jnp.asarray(b), jnp.asarray(lb))
    np.testing.assert_allclose(np.asarray(out), ref, atol=BACKEND)
    batched = jax.vmap(f)(jnp.asarray(la), jnp.asarray(b), jnp.asarray(lb))
    np.testing.assert_allclose(np.asarray(batched), ref, atol=BACKEND)


def test_sample_categorical_frequencies_and_zero_mass():
    from polopt.oracles.sampling import as_generator, sample_categorical

    pi = np.array([[0.2, 0.8, 0.0], [0.5, 0.25, 0.25]])
    n = 40_000
    draws = sample_categorical(as_generator(0), pi, n)
    assert draws.shape == (2, n)
    freq = np.stack([np.bincount(d, minlength=3) / n for d in draws])
    # 5 binomial standard errors at the worst cell (p = 1/2): 5 * sqrt(0.25 / n)
    np.testing.assert_allclose(freq, pi, atol=5 * np.sqrt(0.25 / n))
    assert freq[0, 2] == 0.0  # a zero-probability action is never drawn
    again = sample_categorical(as_generator(0), pi, n)
    np.testing.assert_array_equal(draws, again)


def test_project_simplex_huge_inputs():
    """Steps near the cap (1e100 x advantage) must still land on the simplex, at the greedy vertex."""
    np.testing.assert_allclose(project_simplex(np.array([1e100, 1e100, 0.0])), [0.5, 0.5, 0.0])
    x = np.array([0.3, 0.3, 0.4]) + 1e100 * np.array([0.5, 0.0, -0.5])
    np.testing.assert_allclose(project_simplex(x), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(project_simplex(np.array([-1e300, -1e300])), [0.5, 0.5])
