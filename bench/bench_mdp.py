"""Exact MDP solving: polopt vs QuantEcon ``DiscreteDP`` and pymdptoolbox, in one run.

Usage::

    python -m bench.bench_mdp [--quick] [--out FILE.json] [--repeat N] [--busy N]

Instances (``--quick`` uses small versions that run in seconds):

* dense ``random_discrete_dp(500, 100, gamma, random_state=0)`` at gamma 0.95 and 0.99;
* state-action sparse ``random_discrete_dp(3000, 50, 0.95, k=5, sparse=True, sa_pair=True,
  random_state=0)`` (rows sorted into polopt's ``s*A + a`` order);
* RiverSwim ``n = 10^4``, gamma 0.99 (``catalogue.river_swim(10000, 0.99, sparse=True)``).

Every solver is asked for sup-norm error <= 1e-8 and its error is measured against a
reference ``v*``: the value of :func:`polopt.exact.solve_mdp`'s policy computed by a direct
sparse solve, accepted only if its Bellman residual certifies ``||v_ref - v*|| <=
||T v_ref - v_ref|| / (1-gamma) <= 1e-9``. Times are the best of ``--repeat`` runs or more
(:func:`bench.best_times`: the solvers of an instance are called in turn, round after round, each
until its calls took ``MIN_TOTAL_S``; numba kernels are compiled before timing). The JSON holds
``instances -> solver -> {time_s, error, num_iter}``, the ratio ``best accurate QuantEcon time /
polopt solve_mdp time`` per instance, and machine information. Solvers that are far too slow on an instance (PI that
flips one RiverSwim state per improvement) are listed under ``skipped`` with the reason.
"""

from __future__ import annotations

import argparse
import os
import platform
import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from bench import best_times
from bench._common import add_busy_argument, busy, load_average, summary_row, write_json

#: Accuracy every solver is asked for, and the bar for counting a run as accurate.
TARGET = 1e-8
#: The reference value must be certified to this (a decade below TARGET).
REFERENCE_CERT = 1e-9


def _polopt_mdp_from_sa(ddp, S, A, gamma):
    from polopt.problems import TabularMDP

    order = np.lexsort((ddp.a_indices, ddp.s_indices))
    Q = sp.csr_matrix(ddp.Q)[order]
    return TabularMDP(Q, np.asarray(ddp.R)[order].reshape(S, A), gamma=gamma)


def build_instances(quick: bool):
    from quantecon.markov import DiscreteDP, random_discrete_dp

    from polopt.problems import TabularMDP, catalogue

    dense_size = (60, 20) if quick else (500, 100)
    sparse_size = (300, 10) if quick else (3000, 50)
    river_n = 500 if quick else 10_000
    out = {}
    for gamma in (0.95, 0.99):
        n, m = dense_size
        ddp = random_discrete_dp(n, m, gamma, random_state=0)
        out[f"dense_{n}x{m}_g{gamma}"] = (TabularMDP(ddp.Q, ddp.R, gamma=gamma), ddp, True)
    n, m = sparse_size
    ddp = random_discrete_dp(n, m, 0.95, k=5, sparse=True, sa_pair=True, random_state=0)
    out[f"sparse_sa_{n}x{m}_k5_g0.95"] = (_polopt_mdp_from_sa(ddp, n, m, 0.95), ddp, False)
    river = catalogue.river_swim(river_n, 0.99, sparse=True)
    s_idx, a_idx = np.repeat(np.arange(river_n), 2), np.tile([0, 1], river_n)
    ddp = DiscreteDP(river.r.ravel(), river.P_sparse, 0.99, s_idx, a_idx)
    out[f"river_swim_{river_n}_g0.99"] = (river, ddp, False)
    return out


def reference_value(mdp) -> np.ndarray:
    """``v*`` as the exact value of solve_mdp's policy (direct solve), certified by its residual."""
    from polopt.certificates import bellman_residual
    from polopt.exact import solve_mdp

    sigma = solve_mdp(mdp, tol=TARGET * 1e-2).policy
    S, A, gamma = mdp.num_states, mdp.num_actions, mdp.gamma
    rows = np.arange(S) * A + sigma
    Psig = sp.csr_matrix(mdp.P_sa[rows])
    v = spla.spsolve((sp.identity(S, format="csc") - gamma * Psig).tocsc(), mdp.r[np.arange(S), sigma])
    bound = bellman_residual(mdp.P_sa, mdp.r, gamma, v) / (1.0 - gamma)
    if bound > REFERENCE_CERT:
        raise RuntimeError(f"reference value not certified: residual bound {bound:.3g} > {REFERENCE_CERT:g}")
    return v


#: A solver slower than this (seconds) is timed once: repeats would not change the verdict.
SLOW_S = 2.0
#: Fast solvers are called until their calls took this long in all (best kept; see best_times).
MIN_TOTAL_S = 0.3


def solvers(mdp, ddp, dense: bool, quick: bool):
    """name -> callable returning (v, num_iter); and skipped {name: reason}."""
    import polopt as po
    from polopt.exact import (
        linear_program,
        modified_policy_iteration,
        policy_iteration,
        solve_mdp,
        value_iteration,
    )

    river = mdp.num_states >= 1000 and mdp.num_actions == 2
    tol = TARGET
    s = {
        "polopt.solve_mdp": lambda: (lambda r: (r.v, r.num_iter))(solve_mdp(mdp, tol=tol)),
        "polopt.modified_policy_iteration": lambda: (lambda r: (r.v, r.num_iter))(
            modified_policy_iteration(mdp, tol=tol)
        ),
        "polopt.value_iteration": lambda: (lambda r: (r.v, r.num_iter))(value_iteration(mdp, tol=tol)),
        "polopt.policy_iteration": lambda: (lambda r: (r.v, r.num_iter))(policy_iteration(mdp)),
        "polopt.linear_program": lambda: (linear_program(mdp).v, 1),
        # the entry point, as a user reaches the same solvers: the default method and named methods
        "po.solve(default)": lambda: (lambda r: (r.value, r.num_iter))(po.solve(mdp, tol=tol)),
        "po.solve.modified_policy_iteration": lambda: (lambda r: (r.value, r.num_iter))(
            po.solve(mdp, method="modified_policy_iteration", iters=10**6, tol=tol)),
        "po.solve.value_iteration": lambda: (lambda r: (r.value, r.num_iter))(
            po.solve(mdp, method="value_iteration", iters=10**6, tol=tol)),
        "po.solve.policy_iteration": lambda: (lambda r: (r.value, r.num_iter))(
            po.solve(mdp, method="policy_iteration", iters=10**5)),
        "quantecon.pi": lambda: (lambda r: (r.v, r.num_iter))(ddp.solve("pi")),
        "quantecon.mpi": lambda: (lambda r: (r.v, r.num_iter))(ddp.solve("mpi", epsilon=tol, max_iter=10**6)),
        "quantecon.vi": lambda: (lambda r: (r.v, r.num_iter))(ddp.solve("vi", epsilon=tol, max_iter=10**6)),
    }
    if dense:
        import mdptoolbox.mdp

        P = np.ascontiguousarray(np.transpose(mdp.dense_P(), (1, 0, 2)))
        R = np.array(mdp.r)

        def mdpt(cls, **kw):
            def run():
                m = cls(P, R, mdp.gamma, **kw)
                m.run()
                return np.array(m.V), m.iter

            return run

        s["pymdptoolbox.PolicyIteration"] = mdpt(mdptoolbox.mdp.PolicyIteration, max_iter=10**5)
        s["pymdptoolbox.ValueIteration"] = mdpt(mdptoolbox.mdp.ValueIteration, epsilon=tol, max_iter=10**6)
    skipped = {}
    if not dense:
        skipped["pymdptoolbox.*"] = "builds a dense S x S policy matrix per evaluation (seconds per call)"
    if river:
        for name in ("polopt.policy_iteration", "po.solve.policy_iteration", "quantecon.pi"):
            s.pop(name)
            skipped[name] = "Howard PI from the myopic policy flips one chain state per improvement (thousands)"
        s.pop("quantecon.vi")
        skipped["quantecon.vi"] = "needs ~gamma-contraction sweeps to 1e-8 on a slowly mixing chain"
    if not quick and mdp.num_states * mdp.num_actions > 20_000 and not river:
        s.pop("polopt.linear_program")
        skipped["polopt.linear_program"] = "HiGHS on an LP with this many constraints takes minutes"
    return s, skipped


#: QuantEcon's name for each named po.solve method (same algorithm, same stopping accuracy).
QUANTECON_NAME = {"policy_iteration": "pi", "modified_policy_iteration": "mpi", "value_iteration": "vi"}


def entry_ratios(table: dict) -> dict:
    """What a ``po.solve`` user gets, as ratios: the default against QuantEcon's best accurate method
    (target >= 3), each named method against QuantEcon's same-named one (target >= 1) and against
    the ``po.exact`` function it wraps (target <= 1.2: the entry point is as fast as the solver)."""
    def t(name):
        row = table.get(name)
        return row["time_s"] if row and row["accurate"] else None

    qe = [v["time_s"] for k, v in table.items() if k.startswith("quantecon") and v["accurate"]]
    out = {"default_vs_quantecon_best": (min(qe) / t("po.solve(default)")) if qe and t("po.solve(default)") else None,
           "default_over_exact_solve_mdp": (t("po.solve(default)") / t("polopt.solve_mdp"))
           if t("po.solve(default)") and t("polopt.solve_mdp") else None}
    for method, qe_name in QUANTECON_NAME.items():
        ours, exact, anchor = t(f"po.solve.{method}"), t(f"polopt.{method}"), t(f"quantecon.{qe_name}")
        out[f"{method}_vs_quantecon"] = anchor / ours if ours and anchor else None
        out[f"{method}_over_exact"] = ours / exact if ours and exact else None
    return out


def run(quick: bool, repeat: int):
    from polopt.exact import solve_mdp

    # compile the numba kernels outside the timings
    from polopt.problems import catalogue

    solve_mdp(catalogue.river_swim(5, 0.9, sparse=True))
    solve_mdp(catalogue.river_swim(5, 0.9))
    results, ratios = {}, {}
    for name, (mdp, ddp, dense) in build_instances(quick).items():
        v_ref = reference_value(mdp)
        table, (fns, skipped) = {}, solvers(mdp, ddp, dense, quick)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            timed = best_times(fns, repeat, SLOW_S, MIN_TOTAL_S)
        for solver, (t, (v, k)) in timed.items():
            err = float(np.max(np.abs(np.asarray(v) - v_ref)))
            table[solver] = {"time_s": t, "error": err, "num_iter": int(k), "accurate": err <= TARGET}
            print(f"{name:32s} {solver:34s} {t * 1e3:10.2f} ms  err {err:9.2e}  iters {k}", flush=True)
        qe = [v["time_s"] for s_, v in table.items() if s_.startswith("quantecon") and v["accurate"]]
        ours = table["polopt.solve_mdp"]
        ratio = (min(qe) / ours["time_s"]) if qe and ours["accurate"] else None
        ratios[name] = ratio
        entry = entry_ratios(table)
        results[name] = {"solvers": table, "skipped": skipped, "ratio_quantecon_best_over_polopt": ratio,
                         "entry_point": entry}
        print(f"{name:32s} ratio QuantEcon-best / polopt.solve_mdp = {ratio}; po.solve: {entry}", flush=True)
    return results, ratios


def machine_info() -> dict:
    import numba
    import quantecon
    import scipy

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "quantecon": quantecon.__version__,
    }


def summary(report: dict) -> list[dict]:
    """Rows of the ``polopt bench`` table: ``solve_mdp`` against QuantEcon's best accurate method."""
    rows = []
    for name, inst in report["instances"].items():
        table = inst["solvers"]
        qe = {k: v["time_s"] for k, v in table.items() if k.startswith("quantecon") and v["accurate"]}
        best = min(qe, key=qe.get) if qe else None
        rows.append(summary_row(name, table["polopt.solve_mdp"]["time_s"], best, qe.get(best)))
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small instances (seconds)")
    parser.add_argument("--out", default=None, help="write the results as JSON to this file")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per solver (best is kept)")
    add_busy_argument(parser)
    args = parser.parse_args(argv)
    with busy(args.busy):
        results, ratios = run(args.quick, args.repeat)
        load = load_average()
    report = {
        "target_error": TARGET,
        "quick": args.quick,
        "busy": args.busy,
        "load_average": load,
        "instances": results,
        "ratios": ratios,
        "machine": machine_info(),
    }
    write_json(report, args.out)
    return report


if __name__ == "__main__":
    main()
