"""Nash-MD with eta_t = 2/(beta(t+2)): KL(pi*_beta || pi_T) <= 8/(beta^2 (T+1)) (``nash_md.rate``)."""

from __future__ import annotations

from . import Experiment, Outcome
from ._common import figure
from .nlhf_common import measured, rate_experiment


def run(quick: bool) -> Outcome:
    fig, axes = figure(2, "Nash-MD, decaying step, on perturbed RPS and EGPO 10x10 games")
    worst, failures, rows = rate_experiment("nash_md", "nash_md.rate", lambda g: {"schedule": "decaying"}, quick, axes)
    return Outcome(measured(len(rows), worst, failures), not failures, fig, {"rows": rows})


EXPERIMENT = Experiment(
    name="nlhf_nash_md_rate",
    claim="Nash-MD, exact, eta_t = 2/(beta(t+2)): KL(pi*_beta||pi_T) <= 8/(beta^2 (T+1)) at every T",
    source="Munos et al., arXiv 2312.00886, Theorem 1 (recalled)",
    confidence="recalled",
    run=run,
)
