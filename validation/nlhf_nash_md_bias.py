"""Nash-MD with a constant step: KL_t <= (1 - eta beta)^t KL_0 + 2 eta / beta and its O(eta) bias (``nash_md.bias``)."""

from __future__ import annotations

import polopt as po

from . import Experiment, Outcome
from ._common import figure
from .nlhf_common import measured, rate_experiment

THEOREM = "nash_md.bias"
#: The step as a fraction of the theorem's range ``eta beta <= 1`` (read from the theorem).
STEP_FRACTION = 0.5


def hparams(game) -> dict:
    return {"schedule": "constant", "eta": STEP_FRACTION * po.theory.get(THEOREM).max_step(game)}


def run(quick: bool) -> Outcome:
    fig, axes = figure(2, f"Nash-MD, constant step eta = {STEP_FRACTION:g}/beta: biased fixed point")
    worst, failures, rows = rate_experiment("nash_md", THEOREM, hparams, quick, axes, sampled=None)
    bias = {r["instance"]: r["final_kl"] for r in rows}
    lo, hi = min(bias.values()), max(bias.values())
    text = measured(len(rows), worst, failures) + f"; final KL (bias) from {lo:.2g} to {hi:.2g}"
    return Outcome(text, not failures, fig, {"rows": rows})


EXPERIMENT = Experiment.from_theorem(
    THEOREM, run, name="nlhf_nash_md_bias",
    setting=f"eta = {STEP_FRACTION:g}/beta on perturbed RPS and EGPO 10 x 10 games; the last iterate stalls at a "
    "positive KL",
)
