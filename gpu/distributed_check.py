"""Two processes on localhost through ``jax.distributed`` give the single-process loss.

``python -m gpu.distributed_check --processes 2`` starts ``--processes`` copies of itself
(``--worker I``), each with one CPU device, joined by :func:`gpu.mesh.initialize_distributed`
on a free localhost port. Each worker builds the same parameters and the same global batch,
computes the loss of :func:`gpu.sharding_check.objective` on a mesh over all processes'
devices (the batch split over ``data``) and, on its own device alone, the single-process loss.
The launcher prints one JSON object: each worker's two losses and their relative difference, or
the error a worker hit (the CPU backend's cross-process collectives depend on the jax build).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

from .sharding_check import RTOL

_DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"
#: Seconds a worker may take (start-up, initialisation, two compiles on a busy 2-core machine).
WORKER_TIMEOUT_S = 240


def _worker(index: int, processes: int, port: int) -> dict:
    import jax

    # cross-process collectives on the CPU backend go through gloo (jax's CPU default is none)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    from . import mesh as mesh_lib

    mesh_lib.initialize_distributed(f"localhost:{port}", processes, index)
    import numpy as np

    from . import model
    from .sharding_check import objective
    from .train import batch_shardings

    cfg = model.config("tiny", compute_dtype="float32")
    policy = model.transformer(cfg)
    params = policy.init(jax.random.key(0))
    batch = 4 * processes
    k1, k2 = jax.random.split(jax.random.key(1))
    data = {
        "tokens": np.asarray(jax.random.randint(k1, (batch, 6), 0, cfg.vocab)),
        "mask": np.ones((batch, 5), np.float32),
        "reward": np.asarray(jax.random.normal(k2, (batch,))),
    }
    loss_fn = objective(policy)
    local = jax.local_devices()[0]
    single = float(jax.jit(lambda p, b: loss_fn(p, b)[0])(jax.device_put(params, local), jax.device_put(data, local)))

    m = mesh_lib.make_mesh(str(jax.device_count()), batch=batch)
    b_sh = batch_shardings(data, m)
    rep = mesh_lib.replicated(m)
    # every process holds the whole global batch; each contributes the rows its devices own
    glob = {k: jax.make_array_from_callback(v.shape, b_sh[k], lambda idx, v=v: v[idx]) for k, v in data.items()}
    p = jax.tree_util.tree_map(
        lambda x: jax.make_array_from_callback(x.shape, rep, lambda idx, x=x: np.asarray(x)[idx]), params
    )
    multi = jax.jit(lambda p, b: loss_fn(p, b)[0], out_shardings=rep)(p, glob)
    multi = float(np.asarray(multi.addressable_data(0)))
    return {
        "process": index,
        "devices": jax.device_count(),
        "single_process_loss": single,
        "multi_process_loss": multi,
        "rel_err": abs(multi - single) / abs(single),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def start(processes: int = 2) -> list[subprocess.Popen]:
    """Start the ``processes`` workers (each with one CPU device: a simulated device count in this process's
    XLA_FLAGS is dropped, other XLA flags are passed on); :func:`collect` waits for them. Split so that a
    caller can do other work meanwhile (``python -m gpu.sharding_check --distributed 2`` runs its meshes
    while the workers run)."""
    port = _free_port()
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(_DEVICE_COUNT_FLAG)]
    env = {**os.environ, "XLA_FLAGS": " ".join(flags), "JAX_PLATFORMS": "cpu"}
    cmd = [sys.executable, "-m", "gpu.distributed_check", "--processes", str(processes), "--port", str(port)]
    return [
        subprocess.Popen([*cmd, "--worker", str(i)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(processes)
    ]


def launch(processes: int = 2) -> dict:
    return collect(start(processes))


def collect(procs: list[subprocess.Popen]) -> dict:
    """Wait for the workers of :func:`start`; one JSON-able dict with each worker's losses or error."""
    processes = len(procs)
    workers = []
    for i, proc in enumerate(procs):
        try:
            out, err = proc.communicate(timeout=WORKER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            workers.append({"process": i, "error": f"timed out after {WORKER_TIMEOUT_S} s", "stderr": err[-2000:]})
            continue
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if proc.returncode == 0 and lines:
            workers.append(json.loads(lines[-1]))
        else:
            workers.append({"process": i, "error": f"exit status {proc.returncode}", "stderr": err[-2000:]})
    ok = all(w.get("rel_err", float("inf")) <= RTOL for w in workers)
    return {"processes": processes, "ok": ok, "workers": workers}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu.distributed_check", description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(_worker(args.worker, args.processes, args.port)))
        return 0
    result = launch(args.processes)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
