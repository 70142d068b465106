"""Policy iteration improves monotonically and stops after finitely many improvements."""

from __future__ import annotations

import polopt as po
from polopt.plotting import plot_certificate
from polopt.problems import catalogue
from polopt.problems.random import random_mdp

from . import Experiment, Outcome
from ._common import figure


def run(quick: bool) -> Outcome:
    instances = {"RiverSwim n=30 g=0.99": catalogue.river_swim(30, 0.99),
                 "forest S=10": catalogue.forest(S=10)}
    for seed in range(4 if quick else 30):
        instances[f"random seed={seed}"] = random_mdp(40, 6, gamma=0.95, seed=seed)
    fig, (ax,) = figure(title="Policy iteration: suboptimality per improvement")
    failures, iters = [], []
    for i, (name, mdp) in enumerate(instances.items()):
        res = po.solve(mdp, method="policy_iteration")
        iters.append(res.num_iter)
        for thm in ("pi.monotone", "pi.finite_termination"):
            if not po.theory.check(res, thm).holds:
                failures.append((name, thm))
        if i < 4:
            plot_certificate(res, "suboptimality", ax=ax, label=name)
    measured = f"{len(instances)} MDPs; improvements per run {min(iters)}-{max(iters)}; violations: {len(failures)}"
    return Outcome(measured, not failures, fig, {"iterations": iters, "failures": failures})


EXPERIMENT = Experiment(
    name="pi_monotone",
    claim="Policy iteration: v^{pi_{k+1}} >= v^{pi_k} and termination at an optimal policy",
    source="Puterman (1994) Prop. 6.4.1, Thm 6.4.2",
    confidence="paper",
    run=run,
)
