"""Magnetic mirror descent at eta = 4 beta: KL_t <= (1 + eta beta)^{-t} KL_0 (``mmd.rate``)."""

from __future__ import annotations

from . import Experiment, Outcome
from ._common import figure
from .nlhf_common import measured, rate_experiment


def run(quick: bool) -> Outcome:
    fig, axes = figure(2, "MMD (eta = alpha / L^2 = 4 beta) on perturbed RPS and EGPO 10x10 games")
    worst, failures, rows = rate_experiment("mmd", "mmd.rate", lambda g: {"eta": 4.0 * g.beta}, quick, axes)
    return Outcome(measured(len(rows), worst, failures), not failures, fig, {"rows": rows})


EXPERIMENT = Experiment(
    name="nlhf_mmd_rate",
    claim="MMD in self-play, alpha = beta, eta = 4 beta: KL(pi*_beta||pi_t) <= (1 + eta beta)^{-t} KL_0",
    source="Sokota et al., arXiv 2206.05825 (linear rate for eta <= alpha/L^2; recalled)",
    confidence="recalled",
    run=run,
)
