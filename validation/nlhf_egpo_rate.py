"""Tabular EGPO: KL(pi*_beta || pi_t) <= (1 - s beta)^t KL_0 for s <= 2/(1+2beta) (``egpo.linear_rate``)."""

from __future__ import annotations

from . import Experiment, Outcome
from ._common import figure
from .nlhf_common import measured, rate_experiment


def run(quick: bool) -> Outcome:
    fig, axes = figure(2, "EGPO (default step 1/(beta+2)) on perturbed RPS and EGPO 10x10 games")
    worst, failures, rows = rate_experiment("extragradient", "egpo.linear_rate", lambda g: {}, quick, axes)
    return Outcome(measured(len(rows), worst, failures), not failures, fig, {"rows": rows})


EXPERIMENT = Experiment(
    name="nlhf_egpo_rate",
    claim="EGPO, exact, step s = 1/(beta+2): KL(pi*_beta||pi_t) <= (1 - s beta)^t KL_0 at every t",
    source="Zhou, Fazel, Du, arXiv 2503.08942 (linear last-iterate rate; condition recalled)",
    confidence="recalled",
    run=run,
)
