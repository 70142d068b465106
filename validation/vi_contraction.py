"""Value iteration contracts at rate gamma: ||v_k - v*|| <= gamma^k ||v_0 - v*||."""

from __future__ import annotations

import polopt as po
from polopt.plotting import plot_certificate
from polopt.problems import catalogue
from polopt.problems.random import random_mdp

from . import Experiment, Outcome
from ._common import figure


def run(quick: bool) -> Outcome:
    instances = {
        "RiverSwim n=20, gamma=0.95": catalogue.river_swim(20, 0.95),
        "Puterman 2-state, gamma=0.95": catalogue.puterman_two_state(0.95),
    }
    for seed in range(3 if quick else 20):
        instances[f"random S=30 A=5 seed={seed}"] = random_mdp(30, 5, gamma=0.9, seed=seed)
    fig, (ax,) = figure(title="Value iteration: sup-norm error vs the gamma^k bound")
    worst, failures = 0.0, []
    for i, (name, mdp) in enumerate(instances.items()):
        res = po.solve(mdp, method="value_iteration", iters=100000)
        verdict = po.theory.check(res, "vi.contraction")
        worst = max(worst, verdict.worst_ratio)
        if not verdict.holds:
            failures.append(name)
        if i < 3:
            plot_certificate(res, "value_error", theorem="vi.contraction" if i == 0 else None, ax=ax, label=name)
    holds = not failures
    measured = (f"{len(instances)} MDPs; max_t error/bound = {worst:.3g}"
                + (f"; violated on {failures}" if failures else ""))
    return Outcome(measured, holds, fig, {"worst_ratio": worst, "failures": failures,
                                          "instances": list(instances)})


EXPERIMENT = Experiment.from_theorem(
    "vi.contraction", run, name="vi_contraction",
    setting="Value iteration: ||v_k - v*||_inf <= gamma^k ||v_0 - v*||_inf at every k",
)
