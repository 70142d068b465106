"""NPG: V*(rho) - V_t(rho) <= log|A|/(eta t) + 1/((1-gamma)^2 t) (AKM Thm 5.3)."""

from __future__ import annotations

import numpy as np

import polopt as po

from . import Experiment, Outcome
from ._common import figure
from .pg_common import curve, instances, solve, verdicts


def run(quick: bool) -> Outcome:
    T = 60 if quick else 300
    runs = {f"{name}, eta={eta}": solve(mdp, "npg", T, eta=eta)
            for name, mdp in instances(quick).items() for eta in (0.1, 1.0)}
    holds, worst, bad = verdicts(runs, "npg.akm")
    fig, (ax,) = figure(title="NPG sub-optimality vs the AKM Thm 5.3 bound")
    t = np.arange(T + 1)
    for i, (name, res) in enumerate(list(runs.items())[:2]):
        (line,) = curve(ax, res.certificates["suboptimality"], name)
        curve(ax, po.theory.get("npg.akm").bound(res, t), "bound" if i == 0 else None, "--", color=line.get_color())
    ax.set_xscale("symlog")
    ax.set_xlabel("iteration t")
    ax.legend(fontsize=7)
    measured = f"{len(runs)} runs; max_t gap/bound = {worst:.3g}" + (f"; violated on {bad}" if bad else "")
    return Outcome(measured, holds, fig, {"worst_ratio": worst, "failures": bad})


EXPERIMENT = Experiment.from_theorem(
    "npg.akm", run, name="pg_npg_akm",
    setting="NPG from uniform: V*(rho) - V_t(rho) <= log|A|/(eta t) + span(r)/((1-gamma)^2 t)",
)
