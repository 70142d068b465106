"""Bringing problems from other libraries: a Gymnasium env, a QuantEcon model, an OpenSpiel game.

Run: ``python examples/interop.py``. Gymnasium and OpenSpiel are optional
(``pip install 'polopt[interop]'``); a part whose library is missing says so and is left out.
"""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np

import polopt as po


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# --------------------------------------------------------------------------- a Gymnasium env
if have("gymnasium"):
    import gymnasium as gym

    env = gym.make("CliffWalking-v1")
    mdp = po.TabularMDP.from_gymnasium(env, gamma=0.99)  # `terminated` -> an absorbing state
    res = po.solve(mdp)
    start = int(np.argmax(mdp.rho))
    print(f"CliffWalking: {mdp}, V(start) = {res.value[start]:.4f} "
          f"(13 steps of -1: {-(1 - 0.99**13) / 0.01:.4f})")

    # the env itself agrees: one rollout of the optimal policy (the dynamics are deterministic)
    base = env.unwrapped
    s, _ = base.reset(seed=0)
    ret, disc, terminated = 0.0, 1.0, False
    while not terminated:
        s, reward, terminated, _, _ = base.step(int(res.policy[s].argmax()))
        ret += disc * reward
        disc *= 0.99
    print(f"  rollout of the env with that policy: {ret:.4f}")
else:
    print("gymnasium is not installed (pip install 'polopt[interop]'): the Gymnasium part is left out")

# --------------------------------------------------------------------------- QuantEcon, both ways
if have("quantecon"):
    import quantecon.markov as qe

    ddp = qe.random_discrete_dp(50, 5, beta=0.95, random_state=0)
    mdp = po.TabularMDP.from_quantecon(ddp)
    ours, theirs = po.solve(mdp), ddp.solve(method="policy_iteration")
    print(f"QuantEcon DiscreteDP: |V_polopt - V_quantecon| = {np.abs(ours.value - theirs.v).max():.2e}, "
          f"same policy: {bool(np.array_equal(ours.policy.argmax(axis=1), theirs.sigma))}, "
          f"round trip: {type(mdp.to_quantecon()).__name__}")

# --------------------------------------------------------------------------- an OpenSpiel game
if have("pyspiel"):
    import pyspiel

    game = po.MatrixGame.from_openspiel(pyspiel.load_matrix_game("matrix_brps"))  # biased RPS, payoffs in [-50, 50]
    res = po.solve(game)
    print(f"OpenSpiel matrix_brps: Nash row {np.round(res.policy.row, 4)}, value {res.value:.2e}, "
          f"duality gap {res.certificates['duality_gap'][-1]:.1e}")
    alpha = 2.0  # OpenSpiel's QRE temperature, in payoff units: beta = alpha / (2c) = 0.02
    qre = po.solve(game.with_beta(alpha / (2 * game.scale)), method="mirror_prox", iters=2000)
    print(f"  alpha = {alpha} QRE by Nash-MP: {qre.status} after {qre.num_iter} iterations, "
          f"row {np.round(qre.policy.row, 4)}")
else:
    print("open_spiel is not installed (pip install 'polopt[interop]'): the OpenSpiel part is left out")

# --------------------------------------------------------------------------- matching pennies by every rule
pennies = po.MatrixGame([[1.0, -1.0], [-1.0, 1.0]], beta=0.05)
# omwu and sppo target the unregularized game (beta unused) and sppo's last iterate cycles: they end
# with status "max_iter" (and a NotConvergedWarning, silenced here: the printed status says it)
warnings.simplefilter("ignore", po.NotConvergedWarning)
for name in ("mirror_prox", "extragradient", "mmd", "omwu", "sppo"):
    res = po.solve(pennies, method=name, iters=3000, init=([0.9, 0.1], [0.3, 0.7]))
    last = res.certificates["duality_gap"][-1]
    avg = res.certificates.get("duality_gap_average")
    print(f"matching pennies, beta = 0.05, {name:14s} {res.status:9s} gap(last) {last:.1e}"
          + ("" if avg is None else f"  gap(average) {avg[-1]:.1e}"))
