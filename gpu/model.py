"""A decoder-only transformer as a params pytree and pure functions, and the policy interface.

The policy interface (every policy in ``gpu/`` satisfies it, the transformer here and the
sequence-table policy of ``gpu.tasks``)::

    Policy(init, apply, vocab, features=None, head=None)
        init(key) -> params                          # a pytree of float arrays
        apply(params, tokens) -> logits              # tokens int [B, T] -> float32 [B, T, V]
        vocab: int                                   # V
        features(params, tokens) -> h                # optional: [B, T, D], with
        head(params, h) -> logits                    #   apply == head(params, features(params, tokens))

Position ``t``'s logits are the policy's next-token distribution given ``tokens[:, :t+1]``:
``log pi(tokens[:, t+1] | tokens[:, :t+1]) = log_softmax(logits[:, t])[tokens[:, t+1]]``
(:mod:`gpu.logprobs`). ``features`` / ``head`` let the log-prob pass apply the vocabulary
projection chunk by chunk, so the ``[B, T, V]`` logits are never all in memory.

The transformer (Llama layout, pre-norm)::

    h_0 = E[tokens] + W_pos[positions]                                   E [V, D], W_pos [max_len, D]
    a   = Attn(RMSNorm(h_l)) ;  h' = h_l + a                             causal, RoPE on q and k
    h_{l+1} = h' + W_down (silu(W_gate x) * W_up x),  x = RMSNorm(h')    SwiGLU
    logits = RMSNorm(h_L) W_head                                         W_head [D, V], untied

RMSNorm(x) = g * x / sqrt(mean(x^2) + eps); RoPE rotates feature pairs (i, i + Dh/2) of each
head by the angle ``pos * base^(-2i/Dh)`` (Su et al., RoFormer, arXiv 2104.09864, eq. 34);
SwiGLU: Shazeer, arXiv 2002.05202, eq. 6. Attention is ``jax.nn.dot_product_attention``
(``is_causal=True``; with a KV cache, an explicit position mask).

Absolute positions (``W_pos``, learned, GPT-2 style; on by default, ``learned_positions=False``
drops it): RoPE alone makes attention scores depend on relative positions only, so on a prefix
made of one repeated token every position has the same hidden state (causal attention averages
identical values) and ``pi(a | x) = pi(a | x, x) = pi(a | x, x, x)`` for every parameter. The
enumerable tasks (``gpu.tasks``) and the closed-form task of ``gpu.train`` start a row with the
prompt id, a vocabulary token, and no BOS, so without ``W_pos`` the decoder cannot represent their
optima (``tests/test_gpu_exactness_transformer.py`` keeps the counterexample and shows that with
``W_pos`` it reaches the tabular fixed point on the task as built). ``W_pos`` rather than a BOS
token: it needs no extra vocabulary entry, so the zero-head reference stays uniform over exactly
the ``V`` response tokens (the closed form of the KL-regularised optimum). Layers are stacked
(``params["layers"][name]`` has a leading [L] axis) and run under ``lax.scan``: one layer is
compiled, whatever L.

Precision: parameters are float32; matmuls run in ``cfg.compute_dtype`` (``"bfloat16"`` by
default on GPU, ``"float32"`` on CPU); norms, softmax statistics and logits are float32.
``zero_head=True`` initialises ``W_head = 0``: logits are identically 0, so the initial
policy is uniform over every sequence whatever the trunk (the reference policy of the closed-form
task, ``../shared/papers/llm_scale.md`` section 6).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

_DTYPES = ("float32", "bfloat16", "float16", "float64")


class Policy(NamedTuple):
    """A policy over token sequences: see the module docstring for the contract."""

    init: Callable[[jax.Array], Any]
    apply: Callable[[Any, jax.Array], jax.Array]
    vocab: int
    features: Callable[[Any, jax.Array], jax.Array] | None = None
    head: Callable[[Any, jax.Array], jax.Array] | None = None


class Config(NamedTuple):
    """Sizes of the decoder. Hashable: it is a static argument of the jitted functions."""

    vocab: int
    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    max_len: int = 2048
    rope_base: float = 10000.0
    norm_eps: float = 1e-6
    zero_head: bool = False
    compute_dtype: str = "float32"
    learned_positions: bool = True  # W_pos: without it a repeated-token prefix has one hidden state (module doc)
    remat: bool = False  # recompute each layer in the backward pass (memory for FLOPs; not counted in MFU)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


#: Named sizes. ``param_count`` (with the default ``learned_positions``): tiny 6,736; small 149,824;
#: 100m 134,892,288 (85.0M outside the embeddings and head); 1b 957,417,472.
PRESETS: dict[str, dict] = {
    "tiny": dict(vocab=16, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_len=64),
    "small": dict(vocab=256, d_model=64, n_layers=2, n_heads=4, d_ff=176, max_len=256),
    "100m": dict(vocab=32000, d_model=768, n_layers=12, n_heads=12, d_ff=2048, max_len=1024),
    "1b": dict(vocab=32000, d_model=2048, n_layers=16, n_heads=16, d_ff=5632, max_len=2048),
}


def default_compute_dtype() -> str:
    """``"bfloat16"`` on an accelerator, ``"float32"`` on CPU (XLA's CPU bf16 matmuls are emulated)."""
    return "float32" if jax.default_backend() == "cpu" else "bfloat16"


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def config(size: str = "tiny", **overrides) -> Config:
    """The preset ``size`` with ``overrides`` (any :class:`Config` field), validated.

    ``compute_dtype`` defaults to :func:`default_compute_dtype`.
    """
    if size not in PRESETS:
        raise ValueError(f"size must be one of {sorted(PRESETS)}, got {size!r}")
    unknown = sorted(set(overrides) - set(Config._fields))
    if unknown:
        raise TypeError(f"unknown Config field {unknown[0]!r}; fields are {list(Config._fields)}")
    fields = {"compute_dtype": default_compute_dtype(), **PRESETS[size], **overrides}
    return validate_config(Config(**fields))


def validate_config(cfg: Config) -> Config:
    """ValueError naming the first bad field; returns ``cfg``."""
    for name in ("vocab", "d_model", "n_layers", "n_heads", "d_ff", "max_len"):
        _positive_int(name, getattr(cfg, name))
    if cfg.d_model % cfg.n_heads:
        raise ValueError(f"d_model ({cfg.d_model}) must be divisible by n_heads ({cfg.n_heads})")
    if cfg.head_dim % 2:
        raise ValueError(f"head_dim = d_model / n_heads must be even for RoPE, got {cfg.head_dim}")
    for name in ("zero_head", "learned_positions", "remat"):
        if not isinstance(getattr(cfg, name), bool):
            raise TypeError(f"{name} must be a bool, got {getattr(cfg, name)!r}")
    if cfg.compute_dtype not in _DTYPES:
        raise ValueError(f"compute_dtype must be one of {_DTYPES}, got {cfg.compute_dtype!r}")
    if not (cfg.rope_base > 1 and cfg.norm_eps > 0):
        raise ValueError(f"rope_base must be > 1 and norm_eps > 0, got {cfg.rope_base!r}, {cfg.norm_eps!r}")
    return cfg


def param_count(cfg: Config) -> int:
    """Number of scalars in ``init(key, cfg)``: 2 V D [+ max_len D] + D + L (2 D + 4 D^2 + 3 D F)."""
    d, f = cfg.d_model, cfg.d_ff
    pos = cfg.max_len * d if cfg.learned_positions else 0
    return 2 * cfg.vocab * d + pos + d + cfg.n_layers * (2 * d + 4 * d * d + 3 * d * f)


def matmul_param_count(cfg: Config) -> int:
    """Parameters used in a matmul per token (the N of 6N): everything but the embedding lookup and norms."""
    d, f = cfg.d_model, cfg.d_ff
    return cfg.vocab * d + cfg.n_layers * (4 * d * d + 3 * d * f)


def train_flops_per_token(cfg: Config, seq_len: int) -> float:
    """Model FLOPs of one training token: 6 N + 6 L T D (causal attention: half of 12 L T D).

    MaxText's ``calculate_tflops_training_per_device`` / PaLM appendix B (arXiv 2204.02311);
    remat recomputation is not counted (MFU, not HFU).
    """
    return 6.0 * matmul_param_count(cfg) + 6.0 * cfg.n_layers * seq_len * cfg.d_model


def init(key: jax.Array, cfg: Config) -> dict:
    """Random float32 parameters: N(0, 1/fan_in) matrices, unit norm gains, N(0, 1) embeddings
    (token and, with ``learned_positions``, position ``pos_embed [max_len, D]``)."""
    d, f, L, v = cfg.d_model, cfg.d_ff, cfg.n_layers, cfg.vocab
    keys = jax.random.split(key, 10)

    def normal(k, shape, fan_in):
        return jax.random.normal(k, shape, jnp.float32) / math.sqrt(fan_in)

    layers = {
        "attn_norm": jnp.ones((L, d), jnp.float32),
        "wq": normal(keys[1], (L, d, d), d),
        "wk": normal(keys[2], (L, d, d), d),
        "wv": normal(keys[3], (L, d, d), d),
        # residual-branch outputs scaled by 1/sqrt(2L) so the residual stream's variance stays O(1) in depth
        "wo": normal(keys[4], (L, d, d), d * 2 * L),
        "mlp_norm": jnp.ones((L, d), jnp.float32),
        "w_gate": normal(keys[5], (L, d, f), d),
        "w_up": normal(keys[6], (L, d, f), d),
        "w_down": normal(keys[7], (L, f, d), f * 2 * L),
    }
    head = jnp.zeros((d, v), jnp.float32) if cfg.zero_head else normal(keys[8], (d, v), d)
    params = {
        "embed": jax.random.normal(keys[0], (v, d), jnp.float32),
        "layers": layers,
        "final_norm": jnp.ones((d,), jnp.float32),
        "head": head,
    }
    if cfg.learned_positions:
        # a separate key: the other parameters are those of the RoPE-only decoder with the same key
        params["pos_embed"] = jax.random.normal(keys[9], (cfg.max_len, d), jnp.float32)
    return params


def rms_norm(x: jax.Array, gain: jax.Array, eps: float) -> jax.Array:
    """``gain * x / sqrt(mean(x^2, -1) + eps)``, statistics in float32, result in x's dtype."""
    x32 = x.astype(jnp.float32)
    y = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + eps)
    return (y * gain).astype(x.dtype)


def rope(x: jax.Array, positions: jax.Array, base: float) -> jax.Array:
    """Rotate pairs (i, i + Dh/2) of x [B, T, H, Dh] by ``positions[t] * base^(-2i/Dh)`` (RoFormer eq. 34)."""
    half = x.shape[-1] // 2
    freq = base ** (-jnp.arange(half, dtype=jnp.float32) / half)
    angle = positions.astype(jnp.float32)[:, None] * freq[None, :]  # [T, Dh/2]
    cos, sin = jnp.cos(angle)[None, :, None, :], jnp.sin(angle)[None, :, None, :]
    x1, x2 = x[..., :half].astype(jnp.float32), x[..., half:].astype(jnp.float32)
    return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1).astype(x.dtype)


class KVCache(NamedTuple):
    """Keys and values of every layer: k, v [L, B, S, H, Dh] in the compute dtype (S = capacity)."""

    k: jax.Array
    v: jax.Array


def empty_cache(cfg: Config, batch: int, length: int) -> KVCache:
    shape = (cfg.n_layers, batch, length, cfg.n_heads, cfg.head_dim)
    dtype = jnp.dtype(cfg.compute_dtype)
    return KVCache(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype))


def _layer(h, lp, positions, cfg: Config, kv, start):
    """One pre-norm block. ``kv`` None: causal self-attention over h; else (k, v) cache [B, S, H, Dh]
    written at ``start`` and attended with the mask key_pos <= query_pos."""
    dt = jnp.dtype(cfg.compute_dtype)
    b, t, _ = h.shape
    x = rms_norm(h, lp["attn_norm"], cfg.norm_eps)

    def heads(w):
        return (x @ w.astype(dt)).reshape(b, t, cfg.n_heads, cfg.head_dim)

    q = rope(heads(lp["wq"]), positions, cfg.rope_base)
    k = rope(heads(lp["wk"]), positions, cfg.rope_base)
    v = heads(lp["wv"])
    if kv is None:
        att = jax.nn.dot_product_attention(q, k, v, is_causal=True)
        new_kv = None
    else:
        ck = jax.lax.dynamic_update_slice(kv[0], k, (0, start, 0, 0))
        cv = jax.lax.dynamic_update_slice(kv[1], v, (0, start, 0, 0))
        mask = jnp.arange(ck.shape[1])[None, :] <= positions[:, None]  # [T, S]
        att = jax.nn.dot_product_attention(q, ck, cv, mask=mask[None, None])
        new_kv = (ck, cv)
    h = h + att.reshape(b, t, cfg.d_model) @ lp["wo"].astype(dt)
    x = rms_norm(h, lp["mlp_norm"], cfg.norm_eps)
    gate = jax.nn.silu(x @ lp["w_gate"].astype(dt))
    h = h + (gate * (x @ lp["w_up"].astype(dt))) @ lp["w_down"].astype(dt)
    return h, new_kv


def forward(params, tokens: jax.Array, cfg: Config, *, cache: KVCache | None = None, start=0):
    """Final normalised hidden states [B, T, D] (compute dtype) and the updated cache (or None).

    ``tokens`` [B, T] sit at positions ``start, ..., start + T - 1``; with a ``cache`` their keys
    and values are written there and each query attends to every cached position <= its own.
    """
    dt = jnp.dtype(cfg.compute_dtype)
    if isinstance(start, int) and start + tokens.shape[1] > cfg.max_len:
        # a traced gather would clamp the position silently; generate() checks its own (traced) starts
        last = start + tokens.shape[1] - 1
        raise ValueError(f"tokens at positions {start}..{last} exceed cfg.max_len = {cfg.max_len}")
    positions = start + jnp.arange(tokens.shape[1])
    h = params["embed"].astype(dt)[tokens]
    if cfg.learned_positions:
        h = h + params["pos_embed"].astype(dt)[positions][None]

    def body(h, xs):
        lp, kv = xs
        h, new_kv = _layer(h, lp, positions, cfg, kv, start)
        return h, new_kv

    if cfg.remat:
        body = jax.checkpoint(body)
    kv_in = None if cache is None else (cache.k, cache.v)
    h, kv_out = jax.lax.scan(body, h, (params["layers"], kv_in))
    h = rms_norm(h, params["final_norm"], cfg.norm_eps)
    return h, (None if cache is None else KVCache(*kv_out))


def features(params, tokens: jax.Array, cfg: Config) -> jax.Array:
    """[B, T, D] hidden states before the vocabulary projection (the ``features`` of the Policy)."""
    return forward(params, tokens, cfg)[0]


def head(params, h: jax.Array, cfg: Config) -> jax.Array:
    """float32 logits ``h W_head`` [..., V] (matmul in the compute dtype, accumulated and returned in float32)."""
    dt = jnp.dtype(cfg.compute_dtype)
    return jnp.matmul(h.astype(dt), params["head"].astype(dt), preferred_element_type=jnp.float32)


def apply(params, tokens: jax.Array, cfg: Config) -> jax.Array:
    """float32 logits [B, T, V]; position t predicts token t + 1."""
    return head(params, features(params, tokens, cfg), cfg)


def transformer(cfg: Config) -> Policy:
    """The decoder of ``cfg`` as a :class:`Policy` (functions closed over the static ``cfg``)."""
    validate_config(cfg)
    return Policy(
        init=lambda key: init(key, cfg),
        apply=lambda params, tokens: apply(params, tokens, cfg),
        vocab=cfg.vocab,
        features=lambda params, tokens: features(params, tokens, cfg),
        head=lambda params, h: head(params, h, cfg),
    )


__all__ = [
    "PRESETS",
    "Config",
    "KVCache",
    "Policy",
    "apply",
    "config",
    "default_compute_dtype",
    "empty_cache",
    "features",
    "forward",
    "head",
    "init",
    "matmul_param_count",
    "param_count",
    "rms_norm",
    "rope",
    "train_flops_per_token",
    "transformer",
]
