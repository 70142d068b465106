"""Magnetic mirror descent's linear KL rate (``mmd.rate``) at the largest step it covers (4 beta)."""

from __future__ import annotations

import polopt as po

from .nlhf_common import rate_module

THEOREM = "mmd.rate"


def hparams(game) -> dict:
    """The theorem's largest step ``eta = alpha / L^2 = 4 beta``, read from the theorem."""
    return {"eta": po.theory.get(THEOREM).max_step(game)}


EXPERIMENT = rate_module("nlhf_mmd_rate", THEOREM, "mmd", hparams, "eta = the theorem's largest step (4 beta)",
                         "MMD (eta = alpha / L^2 = 4 beta) on perturbed RPS and EGPO 10x10 games")
