"""Nash-MP(eta) = EGPO(eta/(1+eta beta)) and MMD(eta) = OMD/INPO(eta/(1+eta beta)), trajectory by trajectory."""

from __future__ import annotations

import numpy as np

import polopt as po
from polopt.theory import nlhf as tn

from . import Experiment, Outcome
from ._common import figure
from .nlhf_common import instances, semilogy, solve


def run(quick: bool) -> Outcome:
    T = 50 if quick else 500
    fig, (ax,) = figure(1, "Identities: max_y |pi_t(y) - twin_t(y)| per iterate")
    rows, failures = [], []
    games = list(instances(quick).items())
    for i, (label, game) in enumerate(games[: 3 if quick else len(games)]):
        for method, theorem, twin, eta in (("mirror_prox", "nash_mp.egpo_identity", "extragradient", 2.0),
                                           ("mmd", "mmd.omd_identity", "inpo", 4.0 * game.beta)):
            res = solve(game, method, eta=eta, iters=T, tol=1e-300)
            verdict = po.theory.check(res, theorem)
            s = eta / (1 + eta * game.beta)
            other = solve(game, twin, eta=s, iters=res.num_iter, tol=1e-300)
            a, b = tn.common_iterates(res, other)
            diff = np.max(np.abs(a - b), axis=-1)
            rows.append({"instance": label, "theorem": theorem, "holds": verdict.holds,
                         "max_difference": float(diff.max())})
            if not verdict.holds:
                failures.append(f"{label} {theorem}")
            semilogy(ax, np.arange(diff.shape[0]), diff, color=f"C{i}", ls="-" if method == "mmd" else ":",
                     label=f"{label}: {method} vs {twin}")
    ax.axhline(tn.IDENTITY_TRAJECTORY_TOL, color="k", ls="--", lw=0.8, label="tolerance")
    ax.set_xlabel("iteration t")
    ax.legend(fontsize=6)
    worst = max(r["max_difference"] for r in rows)
    text = f"{len(rows)} pairs; max |difference| = {worst:.2g}" + (f"; failed on {failures}" if failures else "")
    return Outcome(text, not failures, fig, {"rows": rows})


EXPERIMENT = Experiment(
    name="nlhf_identities",
    claim="Nash-MP with step eta equals tabular EGPO with step eta/(1+eta beta); MMD with step eta equals "
    "OMD/INPO with step eta/(1+eta beta) (same iterates to round-off)",
    source="derived (proofs/nash_mp_egpo_proof.py, proofs/mmd_omd_proof.py)",
    confidence="derived",
    run=run,
)
