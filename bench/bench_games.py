"""Nash equilibria of random intransitive preference games: polopt vs SciPy HiGHS vs nashpy.

Run ``python -m bench.bench_games [--quick] [--out FILE.json] [--busy N]``. For each K the instance is the
EGPO generator (strictly-lower entries U(0, 1), upper = 1 - lower, diagonal 1/2; seed 0) and
each solver reports its wall time and the certified duality gap ``2 max_y (P pi)(y) - 1`` of
its answer (:func:`polopt.certificates.duality_gap`). nashpy (Lemke–Howson and support
enumeration on the bimatrix game ``(P - 1/2, 1/2 - P)``) runs only for ``K <= 10`` (support
enumeration for ``K <= 6``): Lemke–Howson did not finish in 300 s at K = 50.
``polopt_nash_auto`` is the interior point with crossover of
:func:`polopt.exact.games.nash`; its ``method`` field says which path certified the answer.
Compare ratios within one run, not absolute times across machines. ``--busy N`` runs N
spinning processes beside the timings (``bench/_common.py``); the JSON records ``busy``.
"""

from __future__ import annotations

import json

import numpy as np
from scipy.optimize import linprog

from bench import best_times
from bench._common import rows_main, summary_row
from polopt import certificates
from polopt.exact import games
from polopt.problems import PreferenceGame

#: A solver slower than this is timed once; faster ones until MIN_TOTAL_S of calls (see best_times).
SLOW_S, MIN_TOTAL_S = 5.0, 0.5
FULL_SIZES = (10, 200, 500, 1000)
QUICK_SIZES = (5, 10, 100, 200)
NASHPY_MAX_K = 10
#: nashpy support enumeration visits all support pairs: 69 s at K = 10 here, so only up to this K.
SUPPORT_ENUM_MAX_K = 6


def random_intransitive(K: int, seed: int = 0) -> PreferenceGame:
    rng = np.random.default_rng(seed)
    L = np.tril(rng.uniform(size=(K, K)), -1)
    return PreferenceGame(L + np.triu(1.0 - L.T, 1) + 0.5 * np.eye(K))


def _scipy_direct(P: np.ndarray) -> np.ndarray:
    """The textbook LP ``max v s.t. P.T pi >= v, pi in simplex`` with SciPy's default HiGHS options."""
    K = P.shape[0]
    c = np.zeros(K + 1)
    c[-1] = -1.0
    res = linprog(
        c, A_ub=np.hstack([-P.T, np.ones((K, 1))]), b_ub=np.zeros(K),
        A_eq=np.concatenate([np.ones(K), [0.0]])[None, :], b_eq=[1.0],
        bounds=[(0.0, None)] * K + [(None, None)], method="highs",
    )
    pi = np.clip(res.x[:K], 0.0, None)
    return pi / pi.sum()


def _nashpy(P: np.ndarray, algorithm: str) -> np.ndarray:
    import nashpy

    S = P - 0.5
    game = nashpy.Game(S, -S)
    if algorithm == "lemke_howson":
        pi, _ = game.lemke_howson(initial_dropped_label=0)
    else:
        pi, _ = next(iter(game.support_enumeration()))
    pi = np.clip(np.asarray(pi, dtype=np.float64), 0.0, None)
    return pi / pi.sum()


def run(sizes, repeat: int = 3) -> list[dict]:
    rows = []
    for K in sizes:
        game = random_intransitive(K)
        P = game.P
        reps = repeat
        solvers = {
            "polopt_nash_auto": lambda g=game: games.nash(g).policy,
            "polopt_nash_lp": lambda g=game: games.nash_lp(g).policy,
            "scipy_highs_lp": lambda P=P: _scipy_direct(P),
        }
        if K <= NASHPY_MAX_K:
            solvers["nashpy_lemke_howson"] = lambda P=P: _nashpy(P, "lemke_howson")
        if K <= SUPPORT_ENUM_MAX_K:
            solvers["nashpy_support_enumeration"] = lambda P=P: _nashpy(P, "support_enumeration")
        row = {"K": K}
        # interleaved, each solver at least `reps` times and 0.5 s of calls (HiGHS at K = 1000: once)
        for name, (seconds, pi) in best_times(solvers, reps, SLOW_S, MIN_TOTAL_S).items():
            gap = certificates.duality_gap(P, pi)
            row[name] = {"seconds": seconds, "duality_gap": gap, "support": int((pi > 0).sum())}
        info = games.nash(game)
        row["polopt_nash_auto"]["method"] = info.method  # which path certified: ipm_crossover, interior_point, lp
        row["polopt_nash_auto"]["ipm_iterations"] = info.num_iter
        base = row["scipy_highs_lp"]["seconds"]
        row["speedup_vs_scipy"] = {k: base / v["seconds"] for k, v in row.items() if isinstance(v, dict)}
        rows.append(row)
        print(json.dumps(row))
    return rows


def summary(report: dict) -> list[dict]:
    """Rows of the ``polopt bench`` table: polopt's certified solver against each anchor that ran."""
    out = []
    for row in report["rows"]:
        ours = row["polopt_nash_auto"]["seconds"]
        for anchor in ("scipy_highs_lp", "nashpy_lemke_howson"):
            if anchor in row:
                out.append(summary_row(f"nash K={row['K']}", ours, anchor, row[anchor]["seconds"]))
    return out


def main(argv=None) -> dict:
    return rows_main(argv, __doc__, "nash_symmetric_preference_game", f"sizes {QUICK_SIZES} instead of {FULL_SIZES}",
                     lambda quick: run(QUICK_SIZES if quick else FULL_SIZES))

if __name__ == "__main__":
    main()
