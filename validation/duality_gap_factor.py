"""Duality gap = 2 x exploitability in symmetric preference games."""

from __future__ import annotations

import numpy as np

from polopt import certificates
from polopt.problems.random import random_intransitive
from polopt.testing.tolerances import IDENTITY_F64

from . import Experiment, Outcome
from ._common import figure


def run(quick: bool) -> Outcome:
    rng = np.random.default_rng(0)
    f, dg = [], []
    for seed in range(20 if quick else 200):
        K = int(rng.integers(2, 12))
        beta = float(rng.choice([0.0, 0.01, 0.1, 1.0]))
        g = random_intransitive(K, seed=seed, beta=beta)
        pi = rng.dirichlet(np.ones(K))
        f.append(certificates.exploitability(g, pi, beta))
        dg.append(certificates.duality_gap(g, pi, beta))
    f, dg = np.array(f), np.array(dg)
    err = float(np.max(np.abs(dg - 2 * f)))
    fig, (ax,) = figure(title="Duality gap vs exploitability (random games, policies, beta)")
    ax.loglog(f, dg, "o", ms=3, label="instances")
    xs = np.array([f.min(), f.max()])
    ax.loglog(xs, 2 * xs, "k--", lw=1, label="DG = 2 f")
    ax.set_xlabel("exploitability f_beta(pi)")
    ax.set_ylabel("duality gap DG_beta(pi)")
    ax.legend(fontsize=8)
    return Outcome(f"{len(f)} random (game, policy, beta); max |DG - 2f| = {err:.1e}", err <= IDENTITY_F64,
                   fig, {"max_abs_error": err})


EXPERIMENT = Experiment(
    name="duality_gap_factor",
    claim="For symmetric constant-sum preference games, duality gap = 2 x exploitability",
    source="derived (proofs/duality_gap_proof.py); convention of EGPO / INPO dual gap",
    confidence="derived",
    run=run,
)
