"""Nash-MD with the decaying step: KL(pi*_beta || pi_T) <= 8/(beta^2 (T+1)) (``nash_md.rate``)."""

from __future__ import annotations

from .nlhf_common import rate_module

EXPERIMENT = rate_module("nlhf_nash_md_rate", "nash_md.rate", "nash_md", lambda g: {"schedule": "decaying"},
                         "eta_t = 2/(beta(t+2))", "Nash-MD, decaying step, on perturbed RPS and EGPO 10x10 games")
