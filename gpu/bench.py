"""Throughput of the LLM-scale pieces against the device's own limits: ``python -m gpu.bench``.

Measured in one run, on one process's devices (``--mesh``), each timing the best of
``--repeats`` calls after a compile-and-warm-up call:

* ``matmul``: a square ``n x n`` matmul in the compute dtype, ``2 n^3`` FLOPs: the *measured* peak;
* ``copy``: ``x <- x + 1`` in place (donated) over ``nbytes`` of float32, ``2 nbytes`` moved: the measured bandwidth;
* ``train_step``: the sharded, donated AdamW step of :mod:`gpu.train` on the next-token
  cross-entropy of the transformer; tokens/s, model TFLOP/s with ``6 N + 6 L T D`` FLOPs per token
  (:func:`gpu.model.train_flops_per_token`) and MFU against the datasheet peak (where the device is
  known) and against the measured matmul peak;
* ``logprobs``: the float32 gather - logsumexp over materialised logits ``[B, T, V]``, as bytes of
  logits read per second and as a fraction of the measured copy bandwidth; and the whole chunked
  log-prob pass of the model (tokens/s);
* ``decode``: KV-cache sampling (:mod:`gpu.generate`), generated tokens/s.

Datasheet peaks (dense bf16, HBM): H100 SXM 989.4 TFLOP/s, 3.35 TB/s; H200 989.4 TFLOP/s, 4.8 TB/s
(``../shared/papers/llm_scale.md`` section 5). Targets there: >= 35 % MFU for a ~100M model,
>= 70 % of the copy bandwidth for the log-prob pass. On a CPU the datasheet fields are null and the
fractions are against the measured peaks only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from . import mesh as mesh_lib
from . import model
from .generate import generate
from .logprobs import gather_logprobs, token_logprobs
from .train import batch_shardings, init_state, make_optimizer, make_train_step, place, state_shardings

#: device-kind substring -> (dense bf16 FLOP/s, HBM bytes/s) from the datasheets (llm_scale.md section 5)
DATASHEET = {"H100": (989.4e12, 3.35e12), "H200": (989.4e12, 4.8e12)}

#: sizes per mode: the quick CPU run must finish well under a minute on a busy 2-core machine
SIZES = {
    "quick": dict(
        size="small", batch=8, seq_len=128, matmul_n=512, copy_mb=32, logits=(8, 128, 4096), decode=(8, 8, 32)
    ),
    "cpu": dict(
        size="small", batch=16, seq_len=256, matmul_n=1024, copy_mb=128, logits=(8, 256, 8192), decode=(16, 16, 64)
    ),
    "gpu": dict(
        size="100m", batch=16, seq_len=1024, matmul_n=8192, copy_mb=2048, logits=(16, 1024, 32000), decode=(64, 64, 256)
    ),
}


def best_time(fn, *args, repeats: int = 5) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``fn(*args)`` (results blocked on), after one warm-up."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def device_info() -> dict:
    d = jax.devices()[0]
    kind = getattr(d, "device_kind", d.platform)
    peak = next((v for k, v in DATASHEET.items() if k in kind), (None, None))
    return {
        "platform": d.platform,
        "device_kind": kind,
        "device_count": jax.device_count(),
        "datasheet_flops": peak[0],
        "datasheet_bandwidth": peak[1],
        "jax": jax.__version__,
        "python": platform.python_version(),
        "host": platform.machine(),
        "cpu_count": os.cpu_count(),
        # timings on a shared machine move with its load: recorded beside them
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def bench_matmul(n: int, dtype: str, repeats: int) -> dict:
    k1, k2 = jax.random.split(jax.random.key(0))
    a = jax.random.normal(k1, (n, n), jnp.dtype(dtype))
    b = jax.random.normal(k2, (n, n), jnp.dtype(dtype))
    t = best_time(jax.jit(jnp.matmul), a, b, repeats=repeats)
    return {"n": n, "dtype": dtype, "seconds": t, "flops_per_s": 2.0 * n**3 / t}


def bench_copy(nbytes: int, repeats: int) -> dict:
    # donated and threaded through: the output reuses the input's buffer, so no call pays for fresh memory
    f = jax.jit(lambda x: x + 1.0, donate_argnums=0)
    holder = {"x": jnp.zeros((nbytes // 4,), jnp.float32)}

    def step():
        holder["x"] = f(holder["x"])
        return holder["x"]

    t = best_time(step, repeats=repeats)
    return {"bytes": nbytes, "seconds": t, "bytes_per_s": 2.0 * nbytes / t}  # one read + one write


def bench_train_step(cfg: model.Config, batch: int, seq_len: int, mesh, repeats: int, peaks: dict) -> dict:
    policy = model.transformer(cfg)
    optimizer = make_optimizer("adamw", lr=1e-4)
    state0 = init_state(jax.jit(policy.init)(jax.random.key(0)), optimizer)
    sh = state_shardings(state0, optimizer, mesh)
    tokens = jax.random.randint(jax.random.key(1), (batch, seq_len + 1), 0, cfg.vocab)
    data = {"tokens": tokens}
    b_sh = batch_shardings(data, mesh)

    def loss_fn(params, b):
        return -jnp.mean(token_logprobs(policy, params, b["tokens"], chunk=min(seq_len, 256))), {}

    step = make_train_step(loss_fn, optimizer, sh, b_sh, mesh)
    holder = {"state": place(state0, sh)}
    data = place(data, b_sh)

    def run(b):  # the state is donated: thread it through
        holder["state"], metrics = step(holder["state"], b)
        return metrics["loss"]

    t = best_time(run, data, repeats=repeats)
    toks = batch * seq_len
    flops = toks * model.train_flops_per_token(cfg, seq_len)
    out = {
        "params": model.param_count(cfg),
        "matmul_params": model.matmul_param_count(cfg),
        "batch": batch,
        "seq_len": seq_len,
        "seconds": t,
        "tokens_per_s": toks / t,
        "model_flops_per_s": flops / t,
        "mfu_vs_measured_matmul": flops / t / peaks["measured"],
        "mfu_vs_datasheet": None if peaks["datasheet"] is None else flops / t / peaks["datasheet"],
    }
    return out


def bench_logprobs(shape: tuple[int, int, int], repeats: int, copy_bw: float) -> dict:
    b, t, v = shape
    k1, k2 = jax.random.split(jax.random.key(2))
    logits = jax.random.normal(k1, shape, jnp.float32)
    targets = jax.random.randint(k2, (b, t), 0, v)
    secs = best_time(jax.jit(gather_logprobs), logits, targets, repeats=repeats)
    nbytes = 4 * b * t * v
    return {
        "shape": list(shape),
        "seconds": secs,
        "bytes_per_s": nbytes / secs,
        "fraction_of_copy": nbytes / secs / copy_bw,
    }


def bench_logprob_pass(cfg: model.Config, batch: int, seq_len: int, repeats: int) -> dict:
    policy = model.transformer(cfg)
    params = jax.jit(policy.init)(jax.random.key(0))
    tokens = jax.random.randint(jax.random.key(3), (batch, seq_len + 1), 0, cfg.vocab)
    f = jax.jit(lambda p, x: token_logprobs(policy, p, x, chunk=min(seq_len, 256)))
    secs = best_time(f, params, tokens, repeats=repeats)
    return {"batch": batch, "seq_len": seq_len, "seconds": secs, "tokens_per_s": batch * seq_len / secs}


def bench_decode(cfg: model.Config, shape: tuple[int, int, int], repeats: int) -> dict:
    batch, prompt_len, steps = shape
    params = jax.jit(model.init, static_argnums=1)(jax.random.key(0), cfg)
    prompt = jax.random.randint(jax.random.key(4), (batch, prompt_len), 0, cfg.vocab)
    secs = best_time(lambda: generate(params, prompt, cfg, steps=steps, key=jax.random.key(5)).tokens, repeats=repeats)
    return {
        "batch": batch,
        "prompt_len": prompt_len,
        "steps": steps,
        "seconds": secs,
        "tokens_per_s": batch * steps / secs,
    }


def run(mode: str = "quick", *, mesh: str = "1", size: str | None = None, repeats: int = 3) -> dict:
    sizes = dict(SIZES[mode])
    if size is not None:
        sizes["size"] = size
    info = device_info()
    cfg = model.config(sizes["size"])
    m = mesh_lib.make_mesh(mesh, batch=sizes["batch"])
    matmul = bench_matmul(sizes["matmul_n"], cfg.compute_dtype, repeats)
    copy = bench_copy(sizes["copy_mb"] << 20, repeats)
    peaks = {"measured": matmul["flops_per_s"], "datasheet": info["datasheet_flops"]}
    out = {
        "suite": "gpu",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": mode,
        "device": info,
        "mesh": dict(m.shape),
        "model": {**cfg._asdict(), "preset": sizes["size"]},
        "matmul": matmul,
        "copy": copy,
        "train_step": bench_train_step(cfg, sizes["batch"], sizes["seq_len"], m, repeats, peaks),
        "logprobs_gather": bench_logprobs(sizes["logits"], repeats, copy["bytes_per_s"]),
        "logprob_pass": bench_logprob_pass(cfg, sizes["batch"], sizes["seq_len"], repeats),
        "decode": bench_decode(cfg, sizes["decode"], repeats),
    }
    if info["platform"] == "cpu":
        out["note"] = (
            "CPU run (no GPU available): MFU and bandwidth fractions are against this CPU's own measured "
            "matmul and copy; no GPU figure is implied"
        )
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m gpu.bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (CPU, well under a minute)")
    p.add_argument("--mode", choices=sorted(SIZES), default=None, help="size set (default: gpu on a GPU, else cpu)")
    p.add_argument("--size", default=None, help="model preset (overrides the mode's)")
    p.add_argument("--mesh", default="1")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=None, help="JSON path (default: print only)")
    args = p.parse_args(argv)
    mode = "quick" if args.quick else args.mode or ("cpu" if jax.default_backend() == "cpu" else "gpu")
    try:
        mesh_lib.check_mesh(mesh_lib.parse_mesh(args.mesh), jax.device_count(), SIZES[mode]["batch"])
        if args.size is not None:
            model.config(args.size)
        if args.repeats < 1:
            raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    except (TypeError, ValueError) as exc:
        print(f"python -m gpu.bench: error: {exc}", file=sys.stderr)
        return 2
    result = run(mode, mesh=args.mesh, size=args.size, repeats=args.repeats)
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
