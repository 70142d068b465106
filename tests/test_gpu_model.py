"""gpu.model, gpu.logprobs, gpu.generate: the decoder against an independent NumPy forward, the
chunked log-prob pass against the unchunked one, KV-cache decoding against recomputation, and
sampled sequence frequencies against the model's exact sequence probabilities."""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from gpu import generate as gen
from gpu import logprobs as lp
from gpu import model

#: float32 forward vs the float64 NumPy reference on a 2-layer width-16 model: a few ulps of
#: fp32 (1.2e-7) per op, amplified by ~30 ops and logits of size ~3; 1e-5 leaves a decade of margin.
FP32_VS_FP64 = 1e-5
#: chunked vs unchunked fp32: same arithmetic per position, only the logsumexp blocks differ (~4 ulps of |logp| <= 10).
CHUNKED = 5e-6
#: bf16 has an 8-bit mantissa (relative step 2^-8 = 3.9e-3); a 2-layer forward drifts by a few steps.
BF16 = 0.1


# jitted once per shape: eager calls would compile every scan and op on their own (slow on 2 cores)
_init = jax.jit(model.init, static_argnums=1)
_apply = jax.jit(model.apply, static_argnums=2)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _logprobs(params, tokens, cfg, chunk=None):
    return lp.token_logprobs(model.transformer(cfg), params, tokens, chunk=chunk)


#: one token shape for most tests, so that each jitted function compiles once
TOKENS = jnp.array([[3, 1, 4, 1, 5, 9, 2], [6, 5, 3, 5, 8, 9, 7]])


@pytest.fixture(scope="module")
def tiny():
    cfg = model.config("tiny", compute_dtype="float32")
    return cfg, _init(jax.random.key(0), cfg)


def _np_forward(params, tokens, cfg):
    """The decoder of gpu/model.py's docstring, written again in float64 NumPy, one sequence at a time."""
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    d, nh, dh = cfg.d_model, cfg.n_heads, cfg.head_dim

    def rms(x, g):
        return g * x / np.sqrt(np.mean(x * x, -1, keepdims=True) + cfg.norm_eps)

    def rope(x):  # x [T, H, Dh]
        t = np.arange(x.shape[0])[:, None, None]
        i = np.arange(dh // 2)[None, None, :]
        ang = t * cfg.rope_base ** (-2.0 * i / dh)
        a, b = x[..., : dh // 2], x[..., dh // 2 :]
        return np.concatenate([a * np.cos(ang) - b * np.sin(ang), a * np.sin(ang) + b * np.cos(ang)], -1)

    out = []
    for seq in np.asarray(tokens):
        T = len(seq)
        h = p["embed"][seq] + (p["pos_embed"][:T] if cfg.learned_positions else 0.0)
        for layer in range(cfg.n_layers):
            w = {k: v[layer] for k, v in p["layers"].items()}
            x = rms(h, w["attn_norm"])
            q, k, v = (
                rope((x @ w[n]).reshape(T, nh, dh)) if n != "wv" else (x @ w[n]).reshape(T, nh, dh)
                for n in ("wq", "wk", "wv")
            )
            s = np.einsum("thd,shd->hts", q, k) / math.sqrt(dh)
            s = np.where(np.tril(np.ones((T, T), bool))[None], s, -np.inf)
            a = np.exp(s - s.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            h = h + np.einsum("hts,shd->thd", a, v).reshape(T, d) @ w["wo"]
            x = rms(h, w["mlp_norm"])
            g = x @ w["w_gate"]
            h = h + ((g / (1 + np.exp(-g))) * (x @ w["w_up"])) @ w["w_down"]
        out.append(rms(h, p["final_norm"]) @ p["head"])
    return np.stack(out)


def test_param_count_matches_the_pytree_for_every_preset():
    for size in model.PRESETS:
        cfg = model.config(size)
        shapes = jax.eval_shape(lambda k, cfg=cfg: model.init(k, cfg), jax.random.key(0))
        assert sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(shapes)) == model.param_count(cfg)
    rope_only = model.config("tiny", learned_positions=False)
    assert model.param_count(model.config("tiny")) - model.param_count(rope_only) == 64 * 16  # max_len x D
    assert 1_000 < model.param_count(model.config("tiny")) < 10_000  # "a few thousand"
    assert 0.9e9 < model.param_count(model.config("1b")) < 1.1e9


def test_forward_equals_an_independent_numpy_decoder(tiny):
    cfg, params = tiny
    tokens = TOKENS
    logits = _apply(params, tokens, cfg)
    assert logits.shape == (2, 7, cfg.vocab) and logits.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(logits), _np_forward(params, tokens, cfg), atol=FP32_VS_FP64, rtol=0)


def test_causal_position_t_ignores_later_tokens(tiny):
    cfg, params = tiny
    a = TOKENS
    b = a.at[0, 3].set(11)
    za, zb = _apply(params, a, cfg), _apply(params, b, cfg)
    np.testing.assert_array_equal(np.asarray(za[:, :3]), np.asarray(zb[:, :3]))
    assert not np.allclose(za[:, 3:], zb[:, 3:])


def test_zero_head_gives_the_uniform_policy(tiny):
    cfg, params = tiny
    zero_cfg = cfg._replace(zero_head=True)
    head = model.init(jax.random.key(3), zero_cfg)["head"]  # eager: a handful of small ops, no compile of init
    assert head.shape == (cfg.d_model, cfg.vocab) and np.all(np.asarray(head) == 0.0)
    params = {**params, "head": head}  # zero_head changes init only, so the compiled apply is reused
    assert np.all(np.asarray(_apply(params, TOKENS, cfg)) == 0.0)
    np.testing.assert_allclose(np.asarray(_logprobs(params, TOKENS, cfg)), -math.log(cfg.vocab), rtol=1e-7)


def test_bf16_compute_keeps_float32_params_and_logits(tiny):
    cfg, params = tiny
    cfg16 = cfg._replace(compute_dtype="bfloat16")
    tokens = TOKENS
    z16 = _apply(params, tokens, cfg16)
    assert z16.dtype == jnp.float32 and params["head"].dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(z16), np.asarray(_apply(params, tokens, cfg)), atol=BF16)


def test_config_rejects_bad_sizes():
    with pytest.raises(ValueError, match=r"size must be one of"):
        model.config("huge")
    with pytest.raises(ValueError, match=r"d_model \(16\) must be divisible by n_heads \(3\)"):
        model.config("tiny", n_heads=3)
    with pytest.raises(ValueError, match=r"vocab must be an int >= 1, got 0"):
        model.config("tiny", vocab=0)
    with pytest.raises(TypeError, match="unknown Config field 'width'"):
        model.config("tiny", width=3)
    with pytest.raises(ValueError, match="compute_dtype"):
        model.config("tiny", compute_dtype="int8")
    with pytest.raises(TypeError, match="learned_positions must be a bool, got 1"):
        model.config("tiny", learned_positions=1)
    cfg = model.config("tiny", max_len=4)
    params = jax.eval_shape(lambda k: model.init(k, cfg), jax.random.key(0))
    with pytest.raises(ValueError, match=r"positions 0..4 exceed cfg.max_len = 4"):  # no silent clamping of W_pos
        jax.eval_shape(lambda p: model.apply(p, jnp.zeros((1, 5), jnp.int32), cfg), params)


def test_flops_per_token_is_6n_plus_causal_attention():
    cfg = model.config("100m")
    n = cfg.vocab * 768 + 12 * (4 * 768**2 + 3 * 768 * 2048)
    assert model.matmul_param_count(cfg) == n
    assert model.train_flops_per_token(cfg, 1024) == 6 * n + 6 * 12 * 1024 * 768


# --- log-probs ---------------------------------------------------------------------------------------


def test_token_logprobs_are_log_softmax_gathered_at_the_next_token(tiny):
    cfg, params = tiny
    tokens = TOKENS
    z = _np_forward(params, tokens, cfg)[:, :-1]
    ref = z - np.log(np.exp(z).sum(-1, keepdims=True))
    ref = np.take_along_axis(ref, np.asarray(tokens)[:, 1:, None], -1)[..., 0]
    got = _logprobs(params, tokens, cfg)
    assert got.shape == (2, 6) and got.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(got), ref, atol=FP32_VS_FP64)
    for chunk in (4, 6):  # 6 positions: two blocks with padding, one exact block
        np.testing.assert_allclose(np.asarray(_logprobs(params, tokens, cfg, chunk)), got, atol=CHUNKED)


def test_chunked_gradient_equals_unchunked(tiny):
    cfg, params = tiny

    def f(p, chunk):
        return jnp.sum(jnp.sin(lp.token_logprobs(model.transformer(cfg), p, TOKENS, chunk=chunk)))

    g_full, g_chunk = (jax.jit(jax.grad(f), static_argnums=1)(params, c) for c in (None, 4))
    for a, b in zip(jax.tree_util.tree_leaves(g_full), jax.tree_util.tree_leaves(g_chunk), strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=CHUNKED * 10, rtol=1e-4)


def test_chunked_pass_never_holds_the_full_logits():
    """Compiled temp memory of value-and-grad: the chunked pass saves more than one fp32 [B, T-1, V] buffer."""
    cfg = model.config("tiny", vocab=4096, max_len=129, compute_dtype="float32")  # 129 positions below
    policy = model.transformer(cfg)
    params = jax.eval_shape(lambda k: model.init(k, cfg), jax.random.key(0))  # compiled, never run
    tokens = jnp.zeros((4, 129), jnp.int32)

    def temp_bytes(chunk):
        f = jax.jit(jax.value_and_grad(lambda p: jnp.sum(lp.token_logprobs(policy, p, tokens, chunk=chunk))))
        stats_ = f.lower(params).compile().memory_analysis()
        assert stats_ is not None, "this backend reports no compiled memory analysis"
        return stats_.temp_size_in_bytes

    full_logits = 4 * 128 * cfg.vocab * 4
    assert temp_bytes(None) - temp_bytes(16) > full_logits


def test_sequence_logprobs_sum_the_response_only():
    logp = jnp.array([[-1.0, -2.0, -3.0], [-0.5, -0.25, -4.0]])
    mask = jnp.array([[0, 1, 1], [1, 0, 0]])
    np.testing.assert_array_equal(np.asarray(lp.sequence_logprobs(logp, mask)), [-5.0, -0.5])
    with pytest.raises(ValueError, match=r"mask\[0, 1\] = 2"):
        lp.sequence_logprobs(logp, jnp.array([[0, 2, 1], [1, 1, 1]]))
    with pytest.raises(ValueError, match="shape of token_logps"):
        lp.sequence_logprobs(logp, mask[:, :2])


def test_bad_tokens_are_named(tiny):
    cfg, params = tiny
    policy = model.transformer(cfg)
    with pytest.raises(ValueError, match=r"tokens\[1, 2\] = 16 is outside the vocabulary \[0, 16\)"):
        lp.token_logprobs(policy, params, jnp.array([[0, 1, 2], [3, 4, 16]]))
    with pytest.raises(TypeError, match="integer array"):
        lp.token_logprobs(policy, params, jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="T >= 2"):
        lp.token_logprobs(policy, params, jnp.zeros((2, 1), jnp.int32))
    with pytest.raises(ValueError, match="chunk must be None or an int >= 1, got 0"):
        lp.token_logprobs(policy, params, jnp.zeros((2, 3), jnp.int32), chunk=0)


# --- generation --------------------------------------------------------------------------------------


def test_kv_cache_greedy_equals_recomputing_the_prefix(tiny):
    cfg, params = tiny
    prompt = TOKENS[:, :2]
    sample = gen.generate(params, prompt, cfg, steps=5, key=jax.random.key(0), temperature=0.0)
    assert sample.tokens.shape == TOKENS.shape
    # no cache: the full sequence through the model; by causality (tested above) position t's logits
    # are those of recomputing the prefix tokens[:, :t+1] alone
    z = np.asarray(_apply(params, sample.tokens, cfg))
    np.testing.assert_array_equal(np.argmax(z[:, 1:-1], -1), np.asarray(sample.tokens[:, 2:]))
    recomputed = _logprobs(params, sample.tokens, cfg)[:, 1:]
    np.testing.assert_allclose(np.asarray(sample.logprobs), np.asarray(recomputed), atol=FP32_VS_FP64)


def test_sampled_sequence_frequencies_match_the_model_at_vocab_3_length_2():
    cfg = model.config("tiny", vocab=3, d_model=8, n_heads=2, d_ff=16, n_layers=1, compute_dtype="float32")
    params = _init(jax.random.key(7), cfg)
    n = 20_000
    sample = gen.generate(params, jnp.zeros((n, 1), jnp.int32), cfg, steps=2, key=jax.random.key(11))
    seqs = list(itertools.product(range(3), repeat=2))
    full = jnp.array([[0, a, b] for a, b in seqs])
    prob = np.exp(np.asarray(lp.sequence_logprobs(_logprobs(params, full, cfg), jnp.ones((9, 2)))))
    np.testing.assert_allclose(prob.sum(), 1.0, rtol=1e-6)  # fp32 softmax sums over 9 sequences
    idx = np.asarray(sample.tokens[:, 1] * 3 + sample.tokens[:, 2])
    counts = np.bincount(idx, minlength=9)
    chi2 = float(np.sum((counts - n * prob) ** 2 / (n * prob)))
    # fixed seed: deterministic; a correct sampler exceeds this with probability 1e-6 over seeds
    assert chi2 < stats.chi2.ppf(1 - 1e-6, df=8), (chi2, counts, n * prob)
    # the sampler's recorded log-probs are the model's
    got = np.asarray(sample.logprobs.sum(1))
    np.testing.assert_allclose(got, np.log(prob[idx]), atol=FP32_VS_FP64)


def test_generate_rejects_bad_arguments(tiny):
    cfg, params = tiny
    key = jax.random.key(0)
    prompt = jnp.array([[1, 2]])
    with pytest.raises(ValueError, match="steps must be an int >= 1, got 0"):
        gen.generate(params, prompt, cfg, steps=0, key=key)
    with pytest.raises(ValueError, match="temperature must be a float >= 0, got -1"):
        gen.generate(params, prompt, cfg, steps=2, key=key, temperature=-1)
    with pytest.raises(ValueError, match=r"exceeds cfg.max_len = 64"):
        gen.generate(params, prompt, cfg, steps=63, key=key)
    with pytest.raises(ValueError, match=r"prompt\[0, 1\] = 99"):
        gen.generate(params, jnp.array([[1, 99]]), cfg, steps=2, key=key)


def test_the_sequence_table_policy_goes_through_the_same_log_prob_pass():
    """gpu.tasks.SequenceTable has the Policy fields; gpu.logprobs recovers log softmax(theta) per sequence."""
    from gpu import tasks

    task = tasks.make_task(vocab=3, length=2, num_prompts=2, seed=1)
    table = tasks.sequence_table(task)
    assert set(model.Policy._fields) <= set(type(table)._fields)
    params = table.init(logits=jax.random.normal(jax.random.key(2), (2, 9)))
    tokens = jnp.asarray(task.tokens)
    seq = lp.sequence_logprobs(lp.token_logprobs(table, params, tokens), jnp.ones((18, 2)))
    # float32 log-probs of 9 sequences: a few ulps of |log pi| <= 5
    np.testing.assert_allclose(np.asarray(seq), np.asarray(tasks.table_log_pi(params)).reshape(-1), atol=FP32_VS_FP64)
    assert lp.token_logprobs(table, params, tokens, chunk=1).shape == (18, 2)  # no features/head: unchunked
