"""The optimizer, the one jitted sharded train step, and ``python -m gpu.train``.

A training objective is a pure function ``loss_fn(params, batch) -> (loss, aux)`` (``aux`` a
dict of scalars); one step is::

    g          = grad_params loss_fn(params, batch)
    updates, s = optimizer.update(g, s, params)          # clip_by_global_norm(c) then AdamW, or plain SGD
    params     = params + updates                        # SGD: params - lr * g, exactly

:func:`make_train_step` compiles it once with ``jax.jit(step, in_shardings=(state, batch),
out_shardings=(state, replicated), donate_argnums=(0,))``: parameters and optimizer moments
stay at the partition rules' shardings (:mod:`gpu.mesh`), the batch is split over
(data, fsdp), and the old state's buffers are reused for the new one (donated). Place the
state at its shardings before the first call (:func:`place`), otherwise the step compiles twice
(llm_scale.md section 1, tunix ``_shard_optimizer``).

The CLI trains the transformer with a lifted loss of :mod:`gpu.losses` on the synthetic
closed-form task (additive reward, zero LM head: the reference policy is uniform and the
KL-regularised optimum is known; llm_scale.md section 6, item 2)::

    python -m gpu.train --loss NAME --mesh 2x4 --size tiny --steps 20

Every step prints a progress line to stderr and a JSON line of metrics to stdout (or ``--out``).
A bad mesh, a vocabulary / length mismatch, an unknown loss name or hyper-parameters the
loss's rule rejects raise before anything is compiled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from polopt.rules._core import coefficient, step_size

from . import mesh as mesh_lib

OPTIMIZERS = ("adamw", "sgd")


class TrainState(NamedTuple):
    params: Any
    opt_state: Any
    step: jax.Array  # int32 scalar: number of updates applied


def make_optimizer(
    name: str = "adamw",
    *,
    lr: float = 1e-3,
    clip: float = 1.0,
    weight_decay: float = 0.0,
    b1: float = 0.9,
    b2: float = 0.95,
    eps: float = 1e-8,
) -> optax.GradientTransformation:
    """``"adamw"``: clip_by_global_norm(clip) then AdamW(lr, b1, b2, eps, weight_decay) (Loshchilov &
    Hutter, arXiv 1711.05101); ``"sgd"``: plain ``params - lr * grad`` (no clip, no momentum), the
    update the exactness tests compare with a tabular rule's step."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
    lr = step_size(name, "lr", lr)
    if name == "sgd":
        return optax.sgd(lr)
    clip = step_size(name, "clip", clip)
    weight_decay = coefficient(name, "weight_decay", weight_decay)
    b1 = coefficient(name, "b1", b1, high=1.0)
    b2 = coefficient(name, "b2", b2, high=1.0)
    eps = coefficient(name, "eps", eps, low_open=True)
    return optax.chain(optax.clip_by_global_norm(clip), optax.adamw(lr, b1, b2, eps, weight_decay))


def init_state(params, optimizer: optax.GradientTransformation) -> TrainState:
    return TrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32))


def state_shardings(state: TrainState, optimizer, mesh, rules=mesh_lib.PARTITION_RULES, *, strict: bool = False):
    """A TrainState of NamedShardings: parameters and every parameter-shaped optimizer leaf (Adam's
    moments) by the partition rules, the other optimizer leaves (counts) and the step replicated.
    ``state`` may hold arrays or ``jax.ShapeDtypeStruct`` (``jax.eval_shape``)."""
    params = mesh_lib.param_shardings(state.params, mesh, rules, strict=strict)
    rep = mesh_lib.replicated(mesh)
    opt = optax.tree_map_params(optimizer, lambda _, s: s, state.opt_state, params, transform_non_params=lambda _: rep)
    return TrainState(params, opt, rep)


def batch_shardings(batch, mesh):
    """Each batch array split over (data, fsdp) along its leading axis."""
    return jax.tree_util.tree_map(lambda x: mesh_lib.batch_sharding(mesh, x.ndim), batch)


def place(tree, shardings):
    """``jax.device_put`` of ``tree`` at ``shardings`` (a matching pytree of NamedShardings)."""
    return jax.device_put(tree, shardings)


def make_train_step(
    loss_fn: Callable[[Any, Any], tuple[jax.Array, dict]],
    optimizer: optax.GradientTransformation,
    shardings: TrainState,
    batch_sh,
    mesh,
):
    """The compiled step ``(state, batch) -> (state, metrics)``; ``state`` is donated.

    ``metrics``: ``loss``, ``grad_norm`` (global L2 norm of the gradient, before clipping) and
    the loss's ``aux`` entries, replicated scalars.
    """

    def step(state: TrainState, batch):
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, batch)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {"loss": loss, "grad_norm": optax.global_norm(grads), **aux}
        return TrainState(params, opt_state, state.step + 1), metrics

    return jax.jit(
        step,
        in_shardings=(shardings, batch_sh),
        out_shardings=(shardings, mesh_lib.replicated(mesh)),
        donate_argnums=(0,),
    )


__all__ = [
    "OPTIMIZERS",
    "TrainState",
    "batch_shardings",
    "init_state",
    "make_optimizer",
    "make_train_step",
    "place",
    "state_shardings",
]
