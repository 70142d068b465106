"""Nash Mirror Prox's linear KL rate (theorem ``nash_mp.kl``) at the largest step it covers (eta = 2)."""

from __future__ import annotations

import polopt as po

from .nlhf_common import rate_module

THEOREM = "nash_mp.kl"


def hparams(game) -> dict:
    """The theorem's largest step ``eta = 1/L = 2``, read from the theorem."""
    return {"eta": po.theory.get(THEOREM).max_step(game)}


EXPERIMENT = rate_module("nlhf_nash_mp_rate", THEOREM, "mirror_prox", hparams, "eta = the theorem's largest step (2)",
                         "Nash Mirror Prox (eta = 2) on perturbed RPS and EGPO 10x10 games")
