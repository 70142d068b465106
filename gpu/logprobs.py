"""Per-token and per-sequence log-probabilities of a policy, in float32, chunked over the sequence.

For tokens y [B, T] and a :class:`gpu.model.Policy` with logits z = apply(params, y) [B, T, V]::

    token_logprobs[b, t] = z[b, t, y[b, t+1]] - logsumexp_v z[b, t, v]       t = 0 .. T-2   [B, T-1]
    sequence_logprobs[b] = sum_t mask[b, t] * token_logprobs[b, t]                          [B]

``mask`` [B, T-1] marks the response tokens (the prompt's own tokens are not the policy's
choice): ``mask[b, t] = 1`` iff ``y[b, t+1]`` was generated.

Chunking: when the policy exposes ``features`` / ``head`` (the transformer does) and ``chunk``
is given, the vocabulary projection, the logsumexp and the gather run under ``lax.scan`` over
blocks of ``chunk`` positions with ``jax.checkpoint``: only one block's ``[B, chunk, V]`` logits
exist at a time, in the forward and in the backward pass (which recomputes them). The
``[B, T, V]`` logits are never materialised (tunix ``compute_chunked_logps``;
``../shared/papers/llm_scale.md`` section 0.3). The result equals the unchunked pass; tests
check both that and the lower compiled peak memory.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .model import Policy


def gather_logprobs(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """``logits[..., targets] - logsumexp(logits)`` in float32; logits [..., V], targets [...] int."""
    z = logits.astype(jnp.float32)
    picked = jnp.take_along_axis(z, targets[..., None], axis=-1)[..., 0]
    return picked - jax.nn.logsumexp(z, axis=-1)


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_tokens(tokens, vocab: int, name: str = "tokens", min_len: int = 2) -> None:
    """TypeError / ValueError unless ``tokens`` is an int [B, T] array (T >= min_len) with values in [0, vocab).

    Values are checked only on concrete arrays (inside a jit trace they are unknown).
    """
    dtype = getattr(tokens, "dtype", None)
    if dtype is None or not jnp.issubdtype(dtype, jnp.integer):
        raise TypeError(f"{name} must be an integer array [B, T], got dtype {dtype}")
    if tokens.ndim != 2 or tokens.shape[1] < min_len or tokens.shape[0] < 1:
        raise ValueError(f"{name} must have shape [B, T] with B >= 1, T >= {min_len}, got {tuple(tokens.shape)}")
    if _is_concrete(tokens):
        arr = np.asarray(tokens)
        bad = np.argwhere((arr < 0) | (arr >= vocab))
        if bad.size:
            i = tuple(int(j) for j in bad[0])
            raise ValueError(f"{name}{list(i)} = {int(arr[i])} is outside the vocabulary [0, {vocab})")


def token_logprobs(policy: Policy, params, tokens: jax.Array, *, chunk: int | None = None) -> jax.Array:
    """float32 [B, T-1]: log pi(tokens[:, t+1] | tokens[:, :t+1]) (see the module docstring).

    ``chunk``: positions per block of the chunked pass (any int >= 1; the last block is padded);
    ``None`` computes the full logits at once. A policy without ``features`` / ``head`` is
    always computed unchunked.
    """
    check_tokens(tokens, policy.vocab)
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
        raise ValueError(f"chunk must be None or an int >= 1, got {chunk!r}")
    targets = tokens[:, 1:]
    if chunk is None or policy.features is None or policy.head is None:
        return gather_logprobs(policy.apply(params, tokens)[:, :-1], targets)
    h = policy.features(params, tokens)[:, :-1]  # [B, T-1, D]
    b, n, d = h.shape
    blocks = -(-n // chunk)
    pad = blocks * chunk - n
    h = jnp.pad(h, ((0, 0), (0, pad), (0, 0))).reshape(b, blocks, chunk, d).swapaxes(0, 1)
    y = jnp.pad(targets, ((0, 0), (0, pad))).reshape(b, blocks, chunk).swapaxes(0, 1)

    @jax.checkpoint
    def block(hc, yc):
        return gather_logprobs(policy.head(params, hc), yc)

    _, out = jax.lax.scan(lambda c, xs: (c, block(*xs)), None, (h, y))
    return out.swapaxes(0, 1).reshape(b, blocks * chunk)[:, :n]


def sequence_logprobs(token_logps: jax.Array, mask: jax.Array) -> jax.Array:
    """[B]: ``sum_t mask[b, t] * token_logps[b, t]``; mask [B, T-1] of 0/1 (bool or float)."""
    if token_logps.shape != mask.shape:
        raise ValueError(f"mask must have the shape of token_logps {tuple(token_logps.shape)}, got {tuple(mask.shape)}")
    if _is_concrete(mask):
        m = np.asarray(mask)
        bad = np.argwhere((m != 0) & (m != 1))
        if bad.size:
            i = tuple(int(j) for j in bad[0])
            raise ValueError(f"mask{list(i)} = {m[i].item()!r}, expected 0 or 1")
    return jnp.sum(jnp.where(mask.astype(bool), token_logps, 0.0), axis=-1)


__all__ = ["check_tokens", "gather_logprobs", "sequence_logprobs", "token_logprobs"]
