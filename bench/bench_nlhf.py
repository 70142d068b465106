"""Batched Nash Mirror Prox: ``jax.vmap`` (float64, one ``jit``) vs a plain NumPy loop, same instances.

Run ``python -m bench.bench_nlhf [--quick] [--out FILE.json] [--busy N]``.

1. **Batch**: ``B`` EGPO random games of ``K = 10`` actions (strictly-lower entries U(0, 1),
   upper = 1 - lower; reference = softmax of N(0, 1) logits; seed 0), ``beta = 0.1``, ``eta = 2``,
   ``T`` Nash-MP iterations each (full: B = 1000, T = 1000; quick: B = 100, T = 200).
   * ``jax_vmap``: ``jit(vmap(fori_loop(mirror_prox_update)))`` over ``(P, log_mu)`` — the rule of
     :mod:`polopt.rules.nlhf` itself, traced once; compile time is reported separately.
   * ``numpy_loop``: for each game, ``T`` calls of the same ``mirror_prox_update`` on NumPy arrays.
   Both start at ``mu``; their final log-policies must agree to ``BACKEND`` (1e-10), and the
   batch's mean ``KL(pi*_beta || pi_T)`` (``pi*`` by :func:`polopt.exact.regularized_nash`) is
   reported as a correctness check.
2. **Large n**: one game with ``n = 10^4`` actions (quick: ``2000``), iterations per second of
   the jitted JAX loop and of the NumPy rule (each iteration = two ``P @ pi`` products, i.e.
   ``4 n^2`` flops).

Compare ratios within one run; absolute times depend on the machine (recorded in the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from bench import best_time
from bench._common import add_busy_argument, busy, load_average, summary_row, write_json

BETA = 0.1
ETA = 2.0
FULL = {"batch": 1000, "iters": 1000, "large_n": 10_000, "large_iters": 20}
QUICK = {"batch": 100, "iters": 200, "large_n": 2000, "large_iters": 20}
K = 10
#: NumPy float64 vs JAX x64 running the same rule (polopt.testing.tolerances.BACKEND).
AGREEMENT = 1e-10


def egpo_games(B: int, n: int, seed: int = 0):
    """``P`` [B, n, n] and ``log mu`` [B, n] from EGPO's generator (NumPy, one Generator)."""
    rng = np.random.default_rng(seed)
    low = np.tril(rng.random((B, n, n)), -1)
    P = low + np.triu(1.0 - np.swapaxes(low, -1, -2), 1) + 0.5 * np.eye(n)
    logits = rng.standard_normal((B, n))
    log_mu = logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True))
    return P, log_mu


def _large_game(n: int, seed: int = 0):
    """One n x n game built in place (a few n^2 arrays at most: 800 MB each at n = 10^4)."""
    rng = np.random.default_rng(seed)
    P = np.tril(rng.random((n, n)), -1)
    P += np.triu(1.0 - P.T, 1)
    P[np.diag_indices(n)] = 0.5
    return P, np.full(n, -np.log(n))


def numpy_run(P, log_mu, iters: int):
    from polopt.rules import nlhf

    out = np.empty_like(log_mu)
    for b in range(P.shape[0]):
        state = nlhf.mirror_prox_init(log_mu[b])
        for _ in range(iters):
            state = nlhf.mirror_prox_update(state, P[b], log_mu[b], eta=ETA, beta=BETA)
        out[b] = state.log_pi
    return out


def jax_runner(iters: int, batched: bool):
    import jax

    jax.config.update("jax_enable_x64", True)
    from polopt.rules import nlhf

    def run_one(P, log_mu):
        state = nlhf.mirror_prox_init(log_mu)
        body = lambda _, s: nlhf.mirror_prox_update(s, P, log_mu, eta=ETA, beta=BETA)  # noqa: E731
        return jax.lax.fori_loop(0, iters, body, state).log_pi

    return jax.jit(jax.vmap(run_one) if batched else run_one)


def bench_batch(cfg: dict, repeat: int) -> dict:
    import jax.numpy as jnp

    from polopt import certificates
    from polopt.exact import regularized_nash
    from polopt.problems import PreferenceGame

    B, T = cfg["batch"], cfg["iters"]
    P, log_mu = egpo_games(B, K)
    run = jax_runner(T, batched=True)
    Pj, lj = jnp.asarray(P), jnp.asarray(log_mu)
    t0 = time.perf_counter()
    run(Pj, lj).block_until_ready()
    compile_s = time.perf_counter() - t0
    jax_s, out_j = best_time(lambda: run(Pj, lj).block_until_ready(), repeat)
    np_s, out_n = best_time(lambda: numpy_run(P, log_mu, T), 1)
    diff = float(np.max(np.abs(np.asarray(out_j) - out_n)))
    kls = []
    for b in range(min(B, 100)):  # the exact optimum of the first 100 games as a correctness check
        star = regularized_nash(PreferenceGame(P[b], np.exp(log_mu[b]), BETA)).policy
        kls.append(certificates.kl_to_optimum(np.exp(out_n[b]), star))
    return {
        "games": B, "actions": K, "iters": T, "beta": BETA, "eta": ETA,
        "jax_vmap_seconds": jax_s, "jax_compile_seconds": compile_s, "numpy_loop_seconds": np_s,
        "speedup": np_s / jax_s, "target_speedup": 20.0,
        "max_abs_logpi_difference": diff, "agree": diff <= AGREEMENT,
        "mean_kl_to_optimum_first_100": float(np.mean(kls)),
        "updates_per_second_jax": B * T / jax_s, "updates_per_second_numpy": B * T / np_s,
    }


def bench_large(cfg: dict) -> dict:
    import jax.numpy as jnp

    from polopt.rules import nlhf

    n, T = cfg["large_n"], cfg["large_iters"]
    P, log_mu = _large_game(n)
    run = jax_runner(T, batched=False)
    Pj, lj = jnp.asarray(P), jnp.asarray(log_mu)
    run(Pj, lj).block_until_ready()  # compile
    jax_s, out_j = best_time(lambda: run(Pj, lj).block_until_ready(), 2)

    def numpy_loop():
        state = nlhf.mirror_prox_init(log_mu)
        for _ in range(T):
            state = nlhf.mirror_prox_update(state, P, log_mu, eta=ETA, beta=BETA)
        return state.log_pi

    np_s, out_n = best_time(numpy_loop, 2)
    return {
        "actions": n, "iters": T, "jax_iters_per_second": T / jax_s, "numpy_iters_per_second": T / np_s,
        "max_abs_logpi_difference": float(np.max(np.abs(np.asarray(out_j) - out_n))),
    }


def machine() -> dict:
    import jax

    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "jax": jax.__version__, "jax_devices": [str(d) for d in jax.devices()]}


def summary(report: dict) -> list[dict]:
    """Rows of the ``polopt bench`` table: the jitted JAX rule against the NumPy loop of the same rule."""
    b, large = report["batch"], report["large_n"]
    return [
        summary_row(f"nash_mp batch B={b['games']} K={b['actions']} T={b['iters']}", b["jax_vmap_seconds"],
                    "numpy loop", b["numpy_loop_seconds"]),
        summary_row(f"nash_mp n={large['actions']} T={large['iters']}", large["iters"] / large["jax_iters_per_second"],
                    "numpy loop", large["iters"] / large["numpy_iters_per_second"]),
    ]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK} instead of {FULL}")
    parser.add_argument("--out", default=None, help="write the results as JSON to this file")
    parser.add_argument("--repeat", type=int, default=3)
    add_busy_argument(parser)
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    with busy(args.busy):
        batch = bench_batch(cfg, args.repeat)
        print(json.dumps(batch))
        large = bench_large(cfg)
        print(json.dumps(large))
        load = load_average()
    report = {"benchmark": "nash_mirror_prox_batched", "quick": args.quick, "busy": args.busy,
              "load_average": load, "batch": batch, "large_n": large, "machine": machine()}
    write_json(report, args.out)
    return report


if __name__ == "__main__":
    main()
