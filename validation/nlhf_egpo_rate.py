"""Tabular EGPO's linear KL rate (``egpo.linear_rate``) at a step inside the theorem's range."""

from __future__ import annotations

import polopt as po

from .nlhf_common import rate_module

THEOREM = "egpo.linear_rate"
#: The step as a fraction of the theorem's range ``max_step`` (read from the theorem, not re-typed).
STEP_FRACTION = 0.5


def hparams(game) -> dict:
    """``s = STEP_FRACTION * max_step(game)`` (= 1 / (1 + 2 beta)), inside the theorem's range."""
    return {"eta": STEP_FRACTION * po.theory.get(THEOREM).max_step(game)}


EXPERIMENT = rate_module("nlhf_egpo_rate", THEOREM, "extragradient", hparams,
                         f"s = {STEP_FRACTION:g} x the theorem's largest step",
                         f"EGPO (s = {STEP_FRACTION:g} x max step) on perturbed RPS and EGPO 10x10 games")
