"""Softmax PG plateaus on the Li et al.-type chain while NPG does not (iterations to reach 1/10 of the initial gap)."""

from __future__ import annotations

import numpy as np

from polopt.problems import catalogue
from polopt.rules import pg

from . import Experiment, Outcome
from ._common import figure
from .pg_common import curve


def _trace(mdp, rule, eta, T):
    """Sub-optimality rho.(v* - v_t) of ``rule`` (softmax_pg | npg) for T steps (rules called directly: fast)."""
    P, r, rho, g = mdp.dense_P(), mdp.r, mdp.rho, mdp.gamma
    v_star = catalogue.softmax_pg_hard_chain_value(mdp.num_states - 1, g)
    state = pg.policy_init(np.full(r.shape, 1.0 / r.shape[1]))
    step = (pg.softmax_pg if rule == "softmax_pg" else pg.npg)(eta=eta)
    oracle = pg.MDPOracle(P, r, g, rho)
    out = np.empty(T + 1)
    for k in range(T + 1):
        out[k] = rho @ (v_star - oracle.evaluate(np.exp(state.log_pi)).v)
        if k < T:
            state = step.update(state, oracle)
    return out


def _first_below(y, level):
    hit = np.flatnonzero(y <= level)
    return int(hit[0]) if hit.size else None


def run(quick: bool) -> Outcome:
    T = 1500 if quick else 30000
    gamma = 0.9
    sizes = (2, 3, 4) if quick else (2, 3, 4, 5, 6)
    fig, (ax,) = figure(title="Hard chain (after Li et al.): softmax PG (eta=1) vs NPG (eta=1)")
    data = {}
    for n in sizes:
        mdp = catalogue.softmax_pg_hard_chain(n, gamma)
        soft = _trace(mdp, "softmax_pg", 1.0, T)
        nat = _trace(mdp, "npg", 1.0, min(T, 200))
        data[n] = {"softmax_pg": _first_below(soft, soft[0] / 10), "npg": _first_below(nat, nat[0] / 10)}
        (line,) = curve(ax, soft, f"softmax PG, n={n}")
        curve(ax, nat, None, ":", color=line.get_color())
    ax.set_xscale("symlog")
    ax.set_xlabel("iteration t (dotted: NPG)")
    ax.legend(fontsize=7)
    soft_steps = [d["softmax_pg"] for d in data.values()]
    npg_steps = [d["npg"] for d in data.values()]
    # the claim shown: softmax PG needs far more iterations than NPG, and the count grows with n
    grows = all(s is None or (p is not None and s > 10 * p) for s, p in zip(soft_steps, npg_steps, strict=True))
    measured = "iterations to reach 1/10 of the initial gap, n -> (softmax PG, NPG): " + ", ".join(
        f"{n}: ({d['softmax_pg'] if d['softmax_pg'] is not None else f'>{T}'}, {d['npg']})" for n, d in data.items())
    return Outcome(measured, grows, fig, data)


EXPERIMENT = Experiment(
    name="pg_hard_chain",
    claim="Softmax PG can need exponentially many iterations (plateaus) on a chain where NPG needs few",
    source="Li, Wei, Chi, Gu, Chen, arXiv 2102.11270 (lower bound; our same-mechanism chain, not their instance)",
    confidence="paper",
    run=run,
)
