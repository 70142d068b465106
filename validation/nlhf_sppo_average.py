"""SPPO / MWU: DG_0 of the average <= sqrt(2 ln n / T) at the Hedge step; the last iterate does not converge."""

from __future__ import annotations

import numpy as np

import polopt as po
from polopt.problems import catalogue
from polopt.problems.random import random_intransitive

from . import Experiment, Outcome
from ._common import figure
from .nlhf_common import semilogy, solve


def run(quick: bool) -> Outcome:
    T = 300 if quick else 10_000
    games = {"RPS": catalogue.perturbed_rps(), "EGPO 10x10 s0": random_intransitive(10, seed=0)}
    if not quick:
        games.update({f"EGPO 10x10 s{s}": random_intransitive(10, seed=s) for s in (1, 2)})
    fig, (ax,) = figure(1, f"SPPO / MWU, eta = sqrt(8 ln n / T), T = {T}: unregularized duality gap")
    rows, failures = [], []
    for i, (label, game) in enumerate(games.items()):
        res = solve(game, "sppo", iters=T, tol=1e-300)
        verdict = po.theory.check(res, "sppo.average_duality_gap")
        t = np.arange(res.num_iter + 1)
        avg = res.certificates["duality_gap_unregularized_average"]
        last = res.certificates["duality_gap_unregularized"]
        n = game.num_actions
        tail = float(np.min(last[-T // 10:]))
        rows.append({"instance": label, "holds": verdict.holds, "worst_ratio": verdict.worst_ratio,
                     "avg_gap_T": float(avg[-1]), "sqrt_2lnn_T": float(np.sqrt(2 * np.log(n) / T)),
                     "last_gap_min_over_last_10pct": tail})
        if not verdict.holds:
            failures.append(label)
        semilogy(ax, t, avg, color=f"C{i}", label=f"{label} average")
        semilogy(ax, t, last, color=f"C{i}", lw=0.6, alpha=0.6, label=f"{label} last iterate")
        semilogy(ax, t, po.theory.get("sppo.average_duality_gap").bound(res, t), color=f"C{i}", ls="--", lw=0.9)
    ax.set_xlabel("iteration t")
    ax.legend(fontsize=6)
    no_conv = all(r["last_gap_min_over_last_10pct"] > r["sqrt_2lnn_T"] for r in rows)
    text = "; ".join(f"{r['instance']}: DG0(avg) = {r['avg_gap_T']:.2g} <= {r['sqrt_2lnn_T']:.2g}, "
                     f"DG0(last) >= {r['last_gap_min_over_last_10pct']:.2g}" for r in rows)
    return Outcome(text, not failures and no_conv, fig, {"rows": rows})


EXPERIMENT = Experiment.from_theorem(
    "sppo.average_duality_gap", run, name="nlhf_sppo_average",
    setting="SPPO/MWU (exact, eta = sqrt(8 ln n/T)): DG_0(average of pi_0..pi_t) <= 2(ln n/(eta(t+1)) + eta/8), "
    "= sqrt(2 ln n/T) at t+1 = T; the last iterate's DG_0 stays above sqrt(2 ln n/T) over the last 10% of "
    "iterations (it does not converge)",
)
