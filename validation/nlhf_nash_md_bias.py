"""Nash-MD with a constant step: KL_t <= (1 - eta beta)^t KL_0 + 2 eta / beta and its O(eta) bias (``nash_md.bias``)."""

from __future__ import annotations

from . import Experiment, Outcome
from ._common import figure
from .nlhf_common import measured, rate_experiment


def run(quick: bool) -> Outcome:
    fig, axes = figure(2, "Nash-MD, constant step eta = 0.5/beta: biased fixed point")
    worst, failures, rows = rate_experiment(
        "nash_md", "nash_md.bias", lambda g: {"schedule": "constant", "eta": 0.5 / g.beta}, quick, axes, sampled=None
    )
    bias = {r["instance"]: r["final_kl"] for r in rows}
    lo, hi = min(bias.values()), max(bias.values())
    text = measured(len(rows), worst, failures) + f"; final KL (bias) from {lo:.2g} to {hi:.2g}"
    return Outcome(text, not failures, fig, {"rows": rows})


EXPERIMENT = Experiment(
    name="nlhf_nash_md_bias",
    claim="Nash-MD, constant eta (eta beta <= 1): KL_t <= (1 - eta beta)^t KL_0 + 2 eta/beta; the last iterate "
    "stalls at a positive KL",
    source="Munos et al., arXiv 2312.00886, Theorem 1 recursion (recalled), unrolled",
    confidence="recalled",
    run=run,
)
