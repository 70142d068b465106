"""Loss, gradients and one train step agree on every mesh: ``python -m gpu.sharding_check``.

Needs several devices; on a CPU machine simulate them (the flag must be set before JAX starts)::

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m gpu.sharding_check --meshes 1x8,2x4,2x2x2

For each mesh: the parameters are placed by the partition rules with ``strict=True`` (every
rule really splits its dimensions), their shardings are asserted, then the loss and gradient of
a fixed objective (a REINFORCE-weighted sequence log-likelihood through the chunked log-prob
pass) are compared with the same computation on one device; on the last mesh also the
parameters after one donated AdamW train step (against the same update applied op by op on one
device) and the shardings of its output state; one step compile per run keeps the check fast on
a small CPU. ``--distributed N`` adds the N-process check of :mod:`gpu.distributed_check` (its
workers run meanwhile). Prints one JSON object; exit status 1 if any relative difference exceeds ``--rtol``.
"""

from __future__ import annotations

import argparse
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import mesh as mesh_lib
from . import model
from .logprobs import sequence_logprobs, token_logprobs
from .train import batch_shardings, init_state, make_optimizer, make_train_step, place, state_shardings

#: fp32 sums reordered across at most 8 shards move results by a few ulps (~1e-7 relative); 1e-5
#: is the issue's tolerance and leaves two orders of magnitude for the deeper reductions of the grads.
RTOL = 1e-5


def objective(policy):
    """``-mean_b reward[b] * log pi(y_b)`` over the response, plus the mean token log-prob as a metric."""

    def loss_fn(params, batch):
        logp = token_logprobs(policy, params, batch["tokens"], chunk=4)
        seq = sequence_logprobs(logp, batch["mask"])
        return -jnp.mean(batch["reward"] * seq), {"mean_logp": jnp.mean(logp)}

    return loss_fn


def rel_err(a, b) -> float:
    """max over leaves of ||a - b||_inf / ||b||_inf (0/0 counts as 0)."""
    worst = 0.0
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        scale = np.max(np.abs(y))
        diff = np.max(np.abs(x - y))
        worst = max(worst, 0.0 if diff == 0 else diff / scale)
    return worst


def run(meshes: list[str], batch: int = 8, length: int = 9, cli_mesh: str | None = None, distributed: int = 0) -> dict:
    """The mesh checks (module docstring); ``distributed > 0`` also runs ``gpu.distributed_check`` with that
    many worker processes, started first so that they run while the meshes are checked (one launcher
    process fewer for the test suite)."""
    from . import distributed_check

    workers = distributed_check.start(distributed) if distributed else None
    cfg = model.config("tiny", compute_dtype="float32")
    policy = model.transformer(cfg)
    params = policy.init(jax.random.key(0))
    k1, k2 = jax.random.split(jax.random.key(1))
    data = {
        "tokens": jax.random.randint(k1, (batch, length), 0, cfg.vocab),
        "mask": jnp.concatenate([jnp.zeros((batch, 2)), jnp.ones((batch, length - 3))], axis=1),
        "reward": jax.random.normal(k2, (batch,)),
    }
    loss_fn = objective(policy)
    optimizer = make_optimizer("adamw", lr=1e-2)

    def evaluate(m, train_step: bool):
        p_sh = mesh_lib.param_shardings(params, m, strict=True)
        b_sh = batch_shardings(data, m)
        p, b = place(params, p_sh), place(data, b_sh)
        mesh_lib.assert_tree_shardings(p, p_sh)
        mesh_lib.assert_tree_shardings(b, b_sh)
        vg = jax.jit(jax.value_and_grad(loss_fn, has_aux=True), in_shardings=(p_sh, b_sh))
        (loss, _), grads = vg(p, b)
        info = {
            "wq_shard_shape": list(p["layers"]["wq"].addressable_shards[0].data.shape),
            "tokens_shard_shape": list(b["tokens"].addressable_shards[0].data.shape),
        }
        if not train_step:
            return float(loss), grads, None, info
        # the step donates its state: give it a copy (device_put at an unchanged sharding aliases params)
        state0 = init_state(jax.tree_util.tree_map(jnp.copy, params), optimizer)
        s_sh = state_shardings(state0, optimizer, m, strict=True)
        step = make_train_step(loss_fn, optimizer, s_sh, b_sh, m)
        state, metrics = step(place(state0, s_sh), b)
        mesh_lib.assert_tree_shardings(state, s_sh)
        return float(loss), grads, state.params, {**info, "step_loss": float(metrics["loss"])}

    ref_loss, ref_grads, _, ref_info = evaluate(mesh_lib.make_mesh("1", devices=jax.devices()[:1]), False)
    # the reference step, op by op on one device (no second compile of the step): params + AdamW(grads)
    updates, _ = optimizer.update(ref_grads, optimizer.init(params), params)
    ref_params = optax.apply_updates(params, updates)
    out = {"devices": jax.device_count(), "reference": {"loss": ref_loss, **ref_info}, "meshes": {}, "rtol": RTOL}
    ok = True
    for i, spec in enumerate(meshes):
        last = i == len(meshes) - 1
        loss, grads, new_params, info = evaluate(mesh_lib.make_mesh(spec, batch=batch), last)
        row = {"loss_rel_err": abs(loss - ref_loss) / abs(ref_loss), "grad_rel_err": rel_err(grads, ref_grads), **info}
        if last:
            row["step_params_rel_err"] = rel_err(new_params, ref_params)
        row["ok"] = bool(max(v for k, v in row.items() if k.endswith("rel_err")) <= RTOL)
        ok &= row["ok"]
        out["meshes"][spec] = row
    if cli_mesh is not None:  # the CLI end to end on a mesh: sampler outputs re-split, step compiled once
        from .train import _parser, train

        args = _parser().parse_args(["--loss", "grpo", "--mesh", cli_mesh, "--steps", "1", "--batch", "16"])
        out["cli"] = train(args, emit=lambda line: None)[0]
        ok &= bool(np.isfinite(out["cli"]["loss"]))
    if workers is not None:
        out["distributed"] = distributed_check.collect(workers)
        ok &= out["distributed"]["ok"]
    out["ok"] = ok
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu.sharding_check", description=__doc__.split("\n")[0])
    parser.add_argument("--meshes", default="1x8,2x4,2x2x2", help="comma-separated mesh shapes")
    parser.add_argument("--cli-mesh", default=None, help="also run one step of python -m gpu.train on this mesh")
    parser.add_argument("--distributed", type=int, default=0, metavar="N",
                        help="also run gpu.distributed_check with N processes (0: not)")
    args = parser.parse_args(argv)
    if args.distributed < 0:
        parser.error(f"--distributed must be >= 0, got {args.distributed}")
    result = run([s for s in args.meshes.split(",") if s], cli_mesh=args.cli_mesh, distributed=args.distributed)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
