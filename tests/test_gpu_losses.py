"""gpu.tasks and gpu.losses: the sequence table by hand, the task's closed forms, the loss registry and
its validation, the aggregation modes, and the KL estimators' exact expected gradients (float64)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gpu import losses, tasks
from polopt.exact.preference import dpo_optimum
from polopt.methods import lookup

#: Closed forms evaluated two ways in float64 (sums of <= 64 terms): round-off ~1e-15.
IDENTITY_TOL = 1e-12

TASK = tasks.make_task(4, 3, 2, seed=0)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


# --------------------------------------------------------------------------- the sequence table
def test_sequence_table_next_token_logits_by_hand():
    """V = 2, T = 2, pi = (0.1, 0.2, 0.3, 0.4) on 00, 01, 10, 11: M(0) = 0.3, M(1) = 0.7, then
    pi(. | 0) = (1/3, 2/3) and pi(. | 1) = (3/7, 4/7)."""
    task = tasks.make_task(2, 2, 1)
    table = tasks.sequence_table(task)
    params = table.init(logits=jnp.log(jnp.array([[0.1, 0.2, 0.3, 0.4]])))
    logits = table.apply(params, task.tokens)
    assert logits.shape == (4, 3, 2)
    p = np.exp(np.asarray(jax.nn.log_softmax(logits, axis=-1)))
    np.testing.assert_allclose(p[:, 0], [[0.3, 0.7]] * 4, atol=IDENTITY_TOL)
    np.testing.assert_allclose(p[:2, 1], [[1 / 3, 2 / 3]] * 2, atol=IDENTITY_TOL)
    np.testing.assert_allclose(p[2:, 1], [[3 / 7, 4 / 7]] * 2, atol=IDENTITY_TOL)
    lp = tasks.token_logprobs(table, params, task.tokens).sum(axis=-1)
    np.testing.assert_allclose(np.exp(lp), [0.1, 0.2, 0.3, 0.4], atol=IDENTITY_TOL)


def test_sequence_table_has_the_policy_interface_and_exact_sequence_logprobs():
    table = tasks.sequence_table(TASK)
    assert table._fields == ("init", "apply", "vocab", "features", "head")  # gpu.model.Policy's fields
    assert table.vocab == TASK.vocab
    theta = np.random.default_rng(0).normal(size=(TASK.num_prompts, TASK.num_sequences)) * 3
    params = table.init(logits=theta)
    lp = tasks.token_logprobs(table, params, TASK.tokens)
    assert lp.shape == (TASK.tokens.shape[0], TASK.length) and lp.dtype == jnp.float64
    s = np.asarray(lp.sum(axis=-1)).reshape(TASK.num_prompts, -1)
    np.testing.assert_allclose(s, np.asarray(tasks.table_log_pi(params)), atol=IDENTITY_TOL)
    with pytest.raises(ValueError, match=r"tokens must have shape \[B, 4\]"):
        table.apply(params, TASK.tokens[:, :3])
    with pytest.raises(ValueError, match=r"logits must have shape \[2, 64\]"):
        table.init(logits=np.zeros((2, 63)))


def test_task_enumeration_and_bad_sizes():
    assert TASK.sequences.shape == (64, 3)
    assert len({tuple(s) for s in TASK.sequences}) == 64  # every response once
    np.testing.assert_array_equal(TASK.tokens[64 + 5], [1, *TASK.sequences[5]])
    np.testing.assert_allclose(TASK.r_add[1, 5], sum(TASK.w[1, t, TASK.sequences[5, t]] for t in range(3)))
    with pytest.raises(ValueError, match="vocab\\^length must be <= 32768"):
        tasks.make_task(8, 6)
    with pytest.raises(ValueError, match="num_prompts must lie in \\[1, 4\\], got 5"):
        tasks.make_task(4, 3, 5)
    with pytest.raises(TypeError, match="vocab must be an int"):
        tasks.make_task(4.0, 3)


def test_row_weights_are_the_exact_expectations():
    pi = np.exp(np.asarray(jax.nn.log_softmax(np.random.default_rng(1).normal(size=(2, 64)), axis=-1)))
    assert abs(tasks.all_rows(TASK, pi).weight.sum() - 1.0) <= IDENTITY_TOL
    groups = tasks.all_groups(TASK, pi, 2)
    assert groups.tokens.shape[0] == 2 * 64**2 * 2 and abs(groups.weight.sum() - 1.0) <= IDENTITY_TOL
    f = TASK.r[groups.prompt, groups.seq]  # E over groups of the group-mean reward = E_pi r
    assert abs(np.sum(groups.weight * f) - np.sum(TASK.rho * tasks.expectation(np.log(pi), TASK.r))) <= IDENTITY_TOL
    pairs = tasks.all_pairs(TASK, pi[:, :, None] * pi[:, None, :])
    assert abs(pairs.weight[0::2].sum() - 1.0) <= IDENTITY_TOL
    with pytest.raises(ValueError, match="too many to enumerate"):
        tasks.all_groups(TASK, pi, 3)


def test_additive_optimum_is_the_brute_force_gibbs_policy():
    beta = 0.7
    log_star, J = tasks.additive_optimum(TASK, beta)
    uniform = np.full((2, 64), 1 / 64)
    np.testing.assert_allclose(np.exp(log_star), dpo_optimum(TASK.r_add, uniform, beta), atol=IDENTITY_TOL)
    brute = beta * np.log(np.mean(np.exp(TASK.r_add / beta), axis=-1))  # beta log E_mu exp(r / beta)
    np.testing.assert_allclose(J, brute, atol=IDENTITY_TOL)


def test_cyclic_preferences_are_a_nontransitive_preference_matrix():
    P = tasks.cyclic_preferences(TASK)
    np.testing.assert_allclose(P + P.swapaxes(-1, -2), 1.0, atol=IDENTITY_TOL)
    assert P.min() >= 0.0 and P.max() <= 1.0
    first = TASK.sequences[:, 0]
    a, b, c = (int(np.flatnonzero(first == k)[0]) for k in (0, 1, 2))  # first tokens 0, 1, 2: a > b > c > a
    assert P[0, a, b] > 0.5 and P[0, b, c] > 0.5 and P[0, c, a] > 0.5
    with pytest.raises(ValueError, match="strength must lie in"):
        tasks.cyclic_preferences(TASK, 1.5)


# --------------------------------------------------------------------------- registry and validation
def test_every_loss_names_a_rule_of_the_method_table():
    for name, entry in losses.LOSSES.items():
        row = lookup(entry.rule)
        assert row is not None and row.rule is not None and row.name == entry.rule == name
        assert entry.phases == row.probe().oracle_calls  # two-call rules are two-phase steps
    for alias, canonical in (("nash_mp", "mirror_prox"), ("egpo", "extragradient"), ("brrl", "bounded_ratio")):
        assert losses.get(alias, **({"eta": 0.5} if alias == "egpo" else {})).lifted.name == canonical


@pytest.mark.parametrize(
    ("name", "hp", "error", "match"),
    [
        ("nope", {}, ValueError, "unknown loss 'nope'; losses: bounded_ratio, bpo"),
        ("grpo", {"foo": 1}, TypeError, "grpo: unknown hyper-parameter\\(s\\) 'foo'; accepted: eta, beta"),
        ("ppo", {"eps": 1.5}, ValueError, "ppo: eps must lie in \\(0, 1\\)"),
        ("grpo", {"kl": "k2", "beta": 0.1}, ValueError, "grpo: kl must be 'reward', 'k1' or 'k3'"),
        ("dpo", {"beta": 0.0}, ValueError, "dpo: needs beta > 0"),
        ("nash_md", {"eta": 3.0, "beta": 0.5}, ValueError, "nash_md: the mixture needs eta \\* beta <= 1"),
        ("rloo", {"group_size": 1}, ValueError, "rloo: group_size must be >= 2"),
        ("ppo", {"agg": "mean"}, ValueError, "ppo: agg must be one of constant, sequence_mean, token_mean"),
        ("ppo", {"ratio": "group"}, ValueError, "ppo: ratio must be one of sequence, token"),
        ("trpo", {"lam": -1.0}, ValueError, "trpo: lam must be a finite number > 0"),
        ("mirror_prox", {"inner_steps": 3}, ValueError, "mirror_prox: the LLM loss lifts inner_steps=None only"),
        ("extragradient", {"eta": 0.5, "beta": 0.1, "form": "ipo_loss"}, ValueError, "lifts form='tabular' only"),
        ("softmax_pg", {"tau": 0.1}, ValueError, "softmax_pg: the LLM loss lifts tau=0.0 only"),
        ("reinforce", {"baseline": "optimal"}, ValueError, "reinforce: the LLM loss lifts a constant baseline only"),
        ("ipo", {"length_normalize": 1}, TypeError, "ipo: length_normalize must be a bool"),
    ],
)
def test_get_rejects_bad_names_and_hyper_parameters(name, hp, error, match):
    with pytest.raises(error, match=match):
        losses.get(name, **hp)


def test_loss_rejects_a_bad_batch():
    loss = losses.get("rloo", group_size=4)
    logp = jnp.zeros((8, 3))
    mask = jnp.ones((8, 3))
    with pytest.raises(TypeError, match="rloo: batch.reward is required by this loss"):
        loss(logp, losses.Batch(mask=mask))
    with pytest.raises(ValueError, match=r"rloo: batch.reward must have shape \[8\] \(logp is \[8, 3\]\), got \[7\]"):
        loss(logp, losses.Batch(mask=mask, reward=jnp.zeros(7)))
    with pytest.raises(ValueError, match="does not divide into groups of group_size=4"):
        loss(logp[:6], losses.Batch(mask=mask[:6], reward=jnp.zeros(6)))
    with pytest.raises(TypeError, match="batch must be a gpu.losses.Batch"):
        loss(logp, {"mask": mask})
    with pytest.raises(TypeError, match="batch.ref_logp is required"):  # beta > 0 needs the reference
        losses.get("rloo", group_size=4, beta=0.1)(logp, losses.Batch(mask=mask, reward=jnp.zeros(8)))
    with pytest.raises(ValueError, match="pair losses read rows"):
        losses.get("dpo")(logp[:7], losses.Batch(mask=mask[:7], ref_logp=logp[:7], label=jnp.zeros(7)))


# --------------------------------------------------------------------------- aggregation
def test_aggregation_modes_by_hand():
    """Rows with lengths 1 and 3, losses 2 and 6, weights 1/4 and 3/4:
    constant (norm 2) = (0.5 + 4.5) / 2 = 2.5; sequence_mean = 0.5 / 1 + 4.5 / 3 = 2;
    token_mean = 5 / (0.25 + 2.25) = 2."""
    mask = jnp.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    rows, w = jnp.array([2.0, 6.0]), jnp.array([0.25, 0.75])
    assert abs(float(losses.aggregate(rows, mask, w, "constant", 2.0)) - 2.5) <= IDENTITY_TOL
    assert abs(float(losses.aggregate(rows, mask, w, "sequence_mean")) - 2.0) <= IDENTITY_TOL
    assert abs(float(losses.aggregate(rows, mask, w, "token_mean")) - 2.0) <= IDENTITY_TOL


def _pg_setup(seed=3):
    table = tasks.sequence_table(TASK)
    rng = np.random.default_rng(seed)
    log_pi = np.asarray(jax.nn.log_softmax(rng.normal(size=(2, 64)), axis=-1))
    log_mu = np.asarray(jax.nn.log_softmax(rng.normal(size=(2, 64)) * 0.5, axis=-1))
    rows = tasks.all_rows(TASK, np.exp(log_pi))
    ref = tasks.token_logprobs(table, table.init(logits=log_mu), rows.tokens)
    return table, log_pi, log_mu, rows, ref


def _grad(f, table, log_pi):
    return np.asarray(jax.grad(f)(table.init(logits=log_pi))["logits"])


def test_sequence_mean_is_length_biased():
    """Finding: with responses of unequal lengths only the constant normaliser follows the sequence-level
    direction; GRPO's per-sequence token mean re-weights each response by 1/|y| (TRL's docstring)."""
    table, log_pi, _, rows, _ = _pg_setup()
    lengths = 1 + rows.seq % 3  # responses of 1, 2 or 3 tokens (a mask on the enumerable task)
    mask = jnp.asarray((np.arange(3)[None, :] < lengths[:, None]).astype(float))
    adv = jnp.asarray(np.random.default_rng(4).normal(size=rows.seq.shape))
    directions = {}
    for agg in ("constant", "sequence_mean", "token_mean"):
        loss = losses.get("softmax_pg", agg=agg)
        batch = losses.Batch(mask=mask, adv=adv, weight=jnp.asarray(rows.weight))
        g = _grad(
            lambda p, loss=loss, batch=batch: loss(tasks.token_logprobs(table, p, rows.tokens), batch), table, log_pi
        )
        directions[agg] = g.ravel() / np.linalg.norm(g)
    # token_mean divides by one constant (the expected length): the same direction
    assert np.max(np.abs(directions["token_mean"] - directions["constant"])) <= IDENTITY_TOL
    assert 1.0 - directions["sequence_mean"] @ directions["constant"] > 1e-3  # measured ~0.08


# --------------------------------------------------------------------------- KL estimators
def _kl_grad(kind, level):
    table, log_pi, log_mu, rows, ref = _pg_setup()
    mask = tasks.response_mask(rows.tokens)
    w = jnp.asarray(rows.weight)

    def f(p):
        return jnp.sum(w * losses.kl_penalty(tasks.token_logprobs(table, p, rows.tokens), ref, mask, kind, level))

    return _grad(f, table, log_pi), log_pi, log_mu, float(f(table.init(logits=log_pi)))


def test_kl_estimators_expected_gradients_at_the_sequence_level():
    """On-policy, sequence level: E grad k1 = 0, E grad k2 = grad KL(pi || mu), E grad k3 = grad KL(mu || pi)
    = rho (pi - mu); E k1 = E k3 = KL(pi || mu)."""
    rho = TASK.rho[:, None]
    g1, log_pi, log_mu, v1 = _kl_grad("k1", "sequence")
    pi, mu = np.exp(log_pi), np.exp(log_mu)
    kl = np.sum(pi * (log_pi - log_mu), axis=-1, keepdims=True)
    assert np.max(np.abs(g1)) <= IDENTITY_TOL
    assert abs(v1 - float(np.sum(rho * kl))) <= IDENTITY_TOL
    g2, *_ = _kl_grad("k2", "sequence")
    np.testing.assert_allclose(g2, rho * pi * (log_pi - log_mu - kl), atol=IDENTITY_TOL)
    g3, _, _, v3 = _kl_grad("k3", "sequence")
    np.testing.assert_allclose(g3, rho * (pi - mu), atol=IDENTITY_TOL)
    assert abs(v3 - float(np.sum(rho * kl))) <= IDENTITY_TOL


def test_token_level_k3_estimates_the_kl_but_pulls_along_another_direction():
    """Finding: per-token k3 (TRL / tunix) is unbiased for KL(pi || mu) (chain rule) and per-token k1 has zero
    expected gradient, but the per-token k3 force is sum_t E_{prefix ~ pi} grad KL(mu(.|h) || pi(.|h)),
    not the sequence-level rho (pi - mu) of the tabular GRPO rule with kl='k3'."""
    g1, log_pi, log_mu, v1 = _kl_grad("k1", "token")
    g3, _, _, v3 = _kl_grad("k3", "token")
    rho = TASK.rho[:, None]
    pi, mu = np.exp(log_pi), np.exp(log_mu)
    kl = float(np.sum(rho * np.sum(pi * (log_pi - log_mu), axis=-1, keepdims=True)))
    assert abs(v1 - kl) <= IDENTITY_TOL and abs(v3 - kl) <= IDENTITY_TOL
    assert np.max(np.abs(g1)) <= IDENTITY_TOL
    assert np.max(np.abs(g3 - rho * (pi - mu))) > 1e-3  # measured 4e-2 (the force itself is 8e-2)


def test_default_weights_are_the_monte_carlo_mean_whatever_the_mask_dtype():
    """No weights: 1/B per row. REINFORCE on-policy has value -mean(r) (the ratio is 1) and gradient
    -mean(r_i grad s_i): here each row's s depends on one logp entry per token."""
    logp = jnp.full((4, 3), -1.0)
    batch = losses.Batch(mask=jnp.ones((4, 3), dtype=jnp.int32), reward=jnp.array([1.0, 0.0, 2.0, 0.0]))
    loss = losses.get("reinforce", group_size=2)
    assert abs(float(loss(logp, batch)) + 0.75) <= IDENTITY_TOL
    g = np.asarray(jax.grad(loss)(logp, batch))
    np.testing.assert_allclose(g, -np.array([1.0, 0.0, 2.0, 0.0])[:, None] / 4 * np.ones((1, 3)), atol=IDENTITY_TOL)


def test_length_normalized_ipo_is_a_rescaled_ipo_at_fixed_length():
    """TRL's IPO on s / |y|: ((h / T) - 1/(2 tau))^2 = (h - T/(2 tau))^2 / T^2, i.e. IPO at tau / T scaled
    by 1 / T^2 when every response has T tokens (and not an IPO at all when lengths differ)."""
    table, log_pi, _, _, _ = _pg_setup()
    pi = np.exp(log_pi)
    rows = tasks.all_pairs(TASK, pi[:, :, None] * pi[:, None, :])
    lab = np.zeros(rows.seq.shape[0])
    lab[0::2] = tasks.cyclic_preferences(TASK)[rows.prompt[0::2], rows.seq[0::2], rows.seq[1::2]]
    ref = tasks.token_logprobs(table, table.init(), rows.tokens)
    batch = losses.Batch(mask=tasks.response_mask(rows.tokens), ref_logp=ref, label=jnp.asarray(lab),
                         weight=jnp.asarray(rows.weight))
    logp = tasks.token_logprobs(table, table.init(logits=log_pi), rows.tokens)
    beta, T = 0.5, TASK.length
    normalized = float(losses.get("ipo", beta=beta, length_normalize=True)(logp, batch))
    assert abs(normalized - float(losses.get("ipo", beta=beta / T)(logp, batch)) / T**2) <= IDENTITY_TOL
