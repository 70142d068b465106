"""NPG on a batch of random MDPs: JAX (jit + vmap, float64) vs a NumPy loop over instances.

Usage::

    python -m bench.bench_pg [--quick] [--out FILE.json] [--repeat N] [--numpy-instances M] [--busy N]

Workload: ``B = 100`` random MDPs (``polopt.problems.random.random_mdp(S=100, A=10, gamma=0.9,
seed=i)``), ``T = 1000`` NPG iterations each (``polopt.rules.pg.npg`` with the exact oracle
``polopt.oracles.MDPOracle``, eta = 1, uniform start). The same rule code runs on both backends:

* ``jax``: one ``jax.jit(jax.vmap(run))`` over the batch, the T steps inside ``lax.fori_loop``;
  compile time is reported separately and excluded from the timing (best of ``--repeat``).
* ``numpy``: a Python loop over instances and iterations (float64). It is timed on the first
  ``--numpy-instances`` MDPs (default all); the per-instance time is multiplied by B when fewer are
  run, and the JSON says so (``numpy_extrapolated``).

Correctness: the final policies of both backends agree to ``BACKEND`` (1e-10) on the instances
run by both; the JSON records the max difference. ``solve_floor`` times one dense ``S x S``
solve on each backend: every exact NPG iteration needs one per instance, so NumPy's time per
iteration divided by JAX's solve time bounds the speed-up batching can give on this machine
(``speedup_bound_from_solve``). ``--quick`` uses B = 8, S = 20, A = 4, T = 100.
Output: ``bench/results/pg.json`` by default (``--out``).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from bench import best_time
from bench._common import add_busy_argument, busy, load_average, summary_row, write_json

#: NumPy vs JAX x64 running the same rule (different op ordering): polopt.testing.tolerances.BACKEND.
from polopt.testing.tolerances import BACKEND

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "pg.json"


def instances(B: int, S: int, A: int, gamma: float):
    from polopt.problems.random import random_mdp

    mdps = [random_mdp(S, A, gamma=gamma, seed=i) for i in range(B)]
    P = np.stack([m.dense_P() for m in mdps])
    r = np.stack([m.r for m in mdps])
    rho = np.stack([m.rho for m in mdps])
    return P, r, rho


def numpy_run(P, r, rho, gamma: float, eta: float, T: int) -> np.ndarray:
    import polopt as po
    from polopt.rules import pg

    rule, oracle = pg.npg(eta=eta), pg.MDPOracle(P, r, gamma, rho)
    state = pg.policy_init(np.full(r.shape, 1.0 / r.shape[-1]))
    # as po.solve runs it: OpenBLAS's threads on these 100 x 100 solves cost 20x beside busy processes
    with po.single_threaded():
        for _ in range(T):
            state = rule.update(state, oracle)
    return np.exp(state.log_pi)


def jax_runner(gamma: float, eta: float, T: int):
    import jax
    import jax.numpy as jnp

    from polopt.rules import pg

    rule = pg.npg(eta=eta)

    def run(P, r, rho):
        state = pg.policy_init(jnp.full(r.shape, 1.0 / r.shape[-1]))
        oracle = pg.MDPOracle(P, r, gamma, rho)

        def body(_, st):
            return rule.update(st, oracle)

        return jnp.exp(jax.lax.fori_loop(0, T, body, state).log_pi)

    return jax.jit(jax.vmap(run))


def solve_floor_us(S: int, gamma: float, repeat: int = 200) -> dict:
    """Microseconds of one dense ``S x S`` solve of ``(I - gamma P_pi) v = r_pi`` in NumPy and in jitted JAX.

    Each NPG iteration with the exact oracle needs at least this one LU per instance on either
    backend, so ``numpy time per iteration / JAX solve time`` bounds the speed-up any batching
    of this workload can reach on the machine.
    """
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    M = np.eye(S) - gamma * rng.dirichlet(np.ones(S), size=S)
    b = rng.random(S)
    np_s, _ = best_time(lambda: [np.linalg.solve(M, b) for _ in range(repeat)], 3)
    body = lambda _, v: jnp.linalg.solve(jnp.asarray(M) + 1e-300 * v[0], v)  # noqa: E731  (a dependent chain)
    loop = jax.jit(lambda v: jax.lax.fori_loop(0, repeat, body, v))
    vj = jnp.asarray(b)
    loop(vj).block_until_ready()
    jax_s, _ = best_time(lambda: loop(vj).block_until_ready(), 3)
    return {"numpy_solve_us": np_s / repeat * 1e6, "jax_solve_us": jax_s / repeat * 1e6}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="B=8, S=20, A=4, T=100 (seconds)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="JSON output file")
    parser.add_argument("--repeat", type=int, default=3, help="timed JAX runs (best is kept)")
    parser.add_argument("--numpy-instances", type=int, default=None,
                        help="instances timed in NumPy, rest extrapolated (default: all with --quick, 10 otherwise)")
    add_busy_argument(parser)
    args = parser.parse_args(argv)
    with busy(args.busy):
        report = _run(args)
    write_json(report, args.out)
    return report


def summary(report: dict) -> list[dict]:
    """Rows of the ``polopt bench`` table: the batched JAX rule against the NumPy loop of the same rule."""
    w = report["workload"]
    return [summary_row(f"npg batch B={w['batch']} S={w['num_states']} A={w['num_actions']} T={w['iterations']}",
                        report["jax_vmap_s"], "numpy loop", report["numpy_loop_s"])]


def _run(args) -> dict:
    """The timed workload (see the module docstring); the report without the output path."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    B, S, A, T = (8, 20, 4, 100) if args.quick else (100, 100, 10, 1000)
    gamma, eta = 0.9, 1.0
    P, r, rho = instances(B, S, A, gamma)
    # the full NumPy loop alone takes ~15 minutes on 2 cores: time 10 instances, scale to B
    default_m = B if args.quick else 10
    m = default_m if args.numpy_instances is None else max(1, min(B, args.numpy_instances))

    run = jax_runner(gamma, eta, T)
    Pj, rj, rhoj = jnp.asarray(P), jnp.asarray(r), jnp.asarray(rho)
    t0 = time.perf_counter()
    run(Pj, rj, rhoj).block_until_ready()
    compile_s = time.perf_counter() - t0
    jax_s, pi_jax = best_time(lambda: run(Pj, rj, rhoj).block_until_ready(), args.repeat)
    pi_jax = np.asarray(pi_jax)

    t0 = time.perf_counter()
    pi_np = np.stack([numpy_run(P[i], r[i], rho[i], gamma, eta, T) for i in range(m)])
    numpy_s = (time.perf_counter() - t0) * (B / m)
    diff = float(np.max(np.abs(pi_np - pi_jax[:m])))
    floor = solve_floor_us(S, gamma)
    numpy_iter_us = numpy_s / (B * T) * 1e6

    report = {
        "workload": {"batch": B, "num_states": S, "num_actions": A, "iterations": T, "gamma": gamma, "eta": eta,
                     "rule": "polopt.rules.pg.npg + MDPOracle (exact oracle)", "quick": args.quick},
        "jax_vmap_s": jax_s,
        "jax_compile_s": compile_s,
        "numpy_loop_s": numpy_s,
        "numpy_instances_timed": m,
        "numpy_extrapolated": m < B,
        "speedup_numpy_over_jax": numpy_s / jax_s,
        "max_abs_policy_diff": diff,
        "numpy_us_per_instance_iteration": numpy_iter_us,
        "jax_us_per_instance_iteration": jax_s / (B * T) * 1e6,
        "solve_floor": floor,
        # one LU per instance and iteration cannot be batched away on a CPU
        "speedup_bound_from_solve": numpy_iter_us / floor["jax_solve_us"],
        "agree": diff <= BACKEND,
        "busy": args.busy,
        "load_average": load_average(),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpu_count": os.cpu_count(), "numpy": np.__version__, "jax": jax.__version__,
                    "jax_backend": jax.default_backend()},
    }
    print(f"B={B} S={S} A={A} T={T}: jax vmap {jax_s:.3f} s (compile {compile_s:.1f} s), numpy loop "
          f"{numpy_s:.3f} s{f' (extrapolated from {m})' if m < B else ''}, speedup {numpy_s / jax_s:.1f}x, "
          f"max |pi_np - pi_jax| = {diff:.2e}; one {S}x{S} solve: numpy {floor['numpy_solve_us']:.1f} us, jax "
          f"{floor['jax_solve_us']:.1f} us (speed-up bound {numpy_iter_us / floor['jax_solve_us']:.1f}x)", flush=True)
    return report


if __name__ == "__main__":
    main()
