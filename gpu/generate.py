"""Jitted sampling from the transformer with a KV cache, for the on-policy rules.

Given a prompt x [B, P], ``generate`` draws ``steps`` tokens autoregressively::

    y_t ~ softmax(z_t / temperature),   z_t = logits of pi(. | x, y_<t)       (temperature > 0)
    y_t = argmax z_t                                                       (temperature = 0)

The prompt is run once (prefill) and writes its keys / values into a cache of capacity
P + steps; each later token runs one position against the cache (``gpu.model.forward`` with
``cache=``), so a step costs O(P + t) attention instead of a full recomputation. Tests check
that cached greedy decoding equals recomputing the whole prefix at every step, and that sampled
sequence frequencies match the model's exact sequence probabilities (vocabulary 3, length 2).

``Sample.logprobs`` [B, steps] are the *untempered* policy's log pi(y_t | x, y_<t) in float32,
the ``old_logp`` of the on-policy losses (at temperature 1 they are the sampler's own).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .logprobs import check_tokens, gather_logprobs
from .model import Config, empty_cache, forward, head


class Sample(NamedTuple):
    tokens: jax.Array  # int32 [B, P + steps]: the prompt followed by the sampled tokens
    logprobs: jax.Array  # float32 [B, steps]: log pi(y_t | x, y_<t) of the untempered policy


def _check(prompt, cfg: Config, steps, temperature) -> None:
    check_tokens(prompt, cfg.vocab, "prompt", min_len=1)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if prompt.shape[1] + steps > cfg.max_len:
        raise ValueError(f"prompt length {prompt.shape[1]} + steps {steps} exceeds cfg.max_len = {cfg.max_len}")
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not temperature >= 0:
        raise ValueError(f"temperature must be a float >= 0, got {temperature!r}")


@partial(jax.jit, static_argnames=("cfg", "steps", "temperature"))
def _generate(params, prompt, key, *, cfg: Config, steps: int, temperature: float) -> Sample:
    b, p = prompt.shape
    h, cache = forward(params, prompt, cfg, cache=empty_cache(cfg, b, p + steps), start=0)
    logits = head(params, h[:, -1], cfg)

    def step(carry, t):
        logits, cache, key = carry
        key, sub = jax.random.split(key)
        if temperature == 0:
            y = jnp.argmax(logits, axis=-1)
        else:
            y = jax.random.categorical(sub, logits / temperature, axis=-1)
        y = y.astype(jnp.int32)
        logp = gather_logprobs(logits, y)
        h, cache = forward(params, y[:, None], cfg, cache=cache, start=p + t)
        return (head(params, h[:, 0], cfg), cache, key), (y, logp)

    _, (ys, logps) = jax.lax.scan(step, (logits, cache, key), jnp.arange(steps))
    return Sample(jnp.concatenate([prompt.astype(jnp.int32), ys.T], axis=1), logps.T)


def generate(params, prompt: jax.Array, cfg: Config, *, steps: int, key: jax.Array, temperature: float = 1.0) -> Sample:
    """Sample ``steps`` tokens after ``prompt`` [B, P] (see the module docstring); one compiled program
    per (cfg, B, P, steps, temperature)."""
    prompt = jnp.asarray(prompt)
    _check(prompt, cfg, steps, temperature)
    return _generate(params, prompt, key, cfg=cfg, steps=steps, temperature=float(temperature))


__all__ = ["Sample", "generate"]
