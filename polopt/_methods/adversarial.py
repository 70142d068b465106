"""``solve`` row, oracle and exact regret of the log-barrier FTRL learner on an adversarial MDP.

``po.solve(problem, method="ftrl_log_barrier", iters=K, seed=..., eta=..., feedback="full"|"bandit",
lam=...)`` on a :class:`~polopt.problems.adversarial.AdversarialMDP` plays ``min(iters, num_episodes)``
episodes through :func:`polopt.solve.run_rule`: in episode k the committed policy is the state's policy
before update k (``res.iterates[k-1]`` [H, S, A]); the oracle reveals the episode's feedback.

Everything measured is exact (only the learner's data is random): ``V^{pi_k}(l_k)`` by backward
evaluation of the committed policy on episode k's loss, and the best fixed policy in hindsight by one
backward induction on the summed loss (``sum_k V^pi(l_k) = V^pi(sum_k l_k)`` for fixed transitions).

Result: ``certificates["regret"]`` [T+1], ``regret[t] = sum_{k<=t} V^{pi_k}(l_k) - min_pi V^pi(sum_{k<=t} l_k)``
(``regret[0] = 0``); ``info``: ``"episode_loss"`` [T], ``"best_in_hindsight"`` [T], ``"best_policy"``
[H, S, A] (one-hot, for the full horizon played), ``"feedback"``, ``"covariance"`` (how the bandit
estimator's covariance is obtained). ``value`` = the exact loss ``rho . V^{pi_T}`` of the final policy on
the last episode's loss; ``"best_fixed_policy"`` (the default ``solve`` of an AdversarialMDP) returns
the hindsight minimiser and its summed loss; ``status`` ``"completed"`` once the episodes are played (a
regret learner has no tolerance to stop at).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._validation import as_distribution, as_positive_int
from ..exact import one_hot
from ..oracles.sampling import as_generator
from ..problems.adversarial import AdversarialMDP
from ..result import COMPLETED, CONVERGED, LazyCertificates, Optimum, SolveResult
from ..rules import adversarial as _adv
from . import reject_unknown

#: Hyper-parameters the runner takes besides the factory's.
COMMON = ("record",)
#: How the bandit estimator's covariance is obtained (said in ``info`` and on figures).
COVARIANCE = "exact E_pi[phi phi^T] from the occupancy (the limit of the paper's simulator estimate)"


class BanditFeedback(NamedTuple):
    """One episode of bandit feedback: ``states``/``actions`` int [H], ``losses`` [H] observed along the
    trajectory, ``cov`` [H, d, d] the exact feature covariance of the policy at each step."""

    states: np.ndarray
    actions: np.ndarray
    losses: np.ndarray
    cov: np.ndarray


def is_adversarial(problem) -> bool:
    return isinstance(problem, AdversarialMDP)


# --------------------------------------------------------------------------- exact evaluation
def _kernels(problem: AdversarialMDP) -> np.ndarray:
    """[H, S, A, S] (a view broadcast over steps for a stationary kernel)."""
    P = problem.P
    return P if P.ndim == 4 else np.broadcast_to(P, (problem.horizon,) + P.shape)


def evaluate_losses(problem: AdversarialMDP, policies: np.ndarray, losses: np.ndarray):
    """Exact ``(V [..., H+1, S], Q [..., H, S, A])`` of ``policies`` [..., H, S, A] on ``losses`` [..., H, S, A].

    ``Q_h = l_h + P_h V_{h+1}``, ``V_h = sum_a pi_h Q_h``, ``V_H = 0``; batched over the leading axes.
    """
    Ps = _kernels(problem)
    H = problem.horizon
    lead = np.broadcast_shapes(policies.shape[:-3], losses.shape[:-3])
    V = np.zeros(lead + (H + 1, problem.num_states))
    Q = np.zeros(lead + (H, problem.num_states, problem.num_actions))
    for h in range(H - 1, -1, -1):
        Q[..., h, :, :] = losses[..., h, :, :] + np.einsum("sat,...t->...sa", Ps[h], V[..., h + 1, :])
        V[..., h, :] = np.sum(policies[..., h, :, :] * Q[..., h, :, :], axis=-1)
    return V, Q


def occupancy(problem: AdversarialMDP, pi: np.ndarray) -> np.ndarray:
    """``d_h(s, a)`` [H, S, A] of policy ``pi`` [H, S, A] from ``rho``."""
    Ps = _kernels(problem)
    d = np.asarray(problem.rho, dtype=np.float64)
    out = np.empty_like(pi)
    for h in range(problem.horizon):
        out[h] = d[:, None] * pi[h]
        d = np.einsum("sa,sat->t", out[h], Ps[h])
    return out


def best_in_hindsight(problem: AdversarialMDP, num_episodes: int | None = None):
    """``(values [T], policy [H, S, A])``: ``values[t-1] = min_pi rho . V^pi(sum_{k<=t} l_k)`` for every prefix
    (one backward induction on each summed loss, batched over t) and the minimiser for the full T."""
    T = problem.num_episodes if num_episodes is None else num_episodes
    summed = np.cumsum(problem.losses[:T], axis=0)  # [T, H, S, A]
    Ps = _kernels(problem)
    V = np.zeros((T, problem.num_states))
    sigma = np.empty((problem.horizon, problem.num_states), dtype=np.int64)
    for h in range(problem.horizon - 1, -1, -1):
        Q = summed[:, h] + np.einsum("sat,kt->ksa", Ps[h], V)
        sigma[h] = np.argmin(Q[-1], axis=-1)
        V = Q.min(axis=-1)
    return V @ problem.rho, one_hot(sigma, problem.num_actions)


def regret(problem: AdversarialMDP, played: np.ndarray):
    """Exact cumulative regret [T+1] of the committed policies ``played`` [T, H, S, A] (one per episode),
    with the per-episode losses ``V^{pi_k}(l_k)`` [T] and the hindsight values [T]."""
    T = played.shape[0]
    V, _ = evaluate_losses(problem, played, problem.losses[:T])
    episode = V[:, 0, :] @ problem.rho
    best, _ = best_in_hindsight(problem, T)
    return np.concatenate([[0.0], np.cumsum(episode) - best]), episode, best


# --------------------------------------------------------------------------- the oracle
class AdversarialOracle:
    """What the learner may ask in episode k: the exact Q of its policy on ``l_k`` (full information), or
    one trajectory of its policy with the losses along it plus the exact feature covariance (bandit).

    Seeded; only :meth:`bandit_feedback` draws. ``calls`` counts oracle calls (episodes).
    """

    def __init__(self, problem: AdversarialMDP, seed=None):
        self.problem = problem
        self.phi = problem.phi
        self.rng = as_generator(seed)
        self.calls = 0
        self._P = _kernels(problem)
        self._outer = np.einsum("sad,sae->sade", problem.phi, problem.phi)

    def q_values(self, pi: np.ndarray, k: int) -> np.ndarray:
        self.calls += 1
        _, Q = evaluate_losses(self.problem, np.asarray(pi), self.problem.losses[int(k)])
        return Q

    def bandit_feedback(self, pi: np.ndarray, k: int) -> BanditFeedback:
        self.calls += 1
        pi = np.asarray(pi)
        prob, loss, rng = self.problem, self.problem.losses[int(k)], self.rng
        H = prob.horizon
        states, actions = np.empty(H, dtype=np.int64), np.empty(H, dtype=np.int64)
        seen = np.empty(H)
        s = int(rng.choice(prob.num_states, p=prob.rho))
        for h in range(H):
            a = int(rng.choice(prob.num_actions, p=pi[h, s]))
            states[h], actions[h], seen[h] = s, a, loss[h, s, a]
            s = int(rng.choice(prob.num_states, p=self._P[h, s, a]))
        cov = np.einsum("hsa,sade->hde", occupancy(prob, pi), self._outer)
        return BanditFeedback(states, actions, seen, cov)


# --------------------------------------------------------------------------- defaults and runner
def regret_bound_constant(num_actions: int, t) -> np.ndarray:
    """``C_A(t) = (A-1) log t - log A - log(1 - (1 - 1/A)/t)`` (0 at t = 1): ``eta (Psi(u_eps) - Psi(pi_1))``
    for the comparator smoothed to ``u_eps = (1 - 1/t) e_a + 1/(t A)``; 0 for t = 0."""
    t = np.asarray(t, dtype=np.float64)
    A = float(num_actions)
    safe = np.maximum(t, 1.0)
    c = (A - 1.0) * np.log(safe) - np.log(A) - np.log1p(-(1.0 - 1.0 / A) / safe)
    return np.where(t >= 1, np.maximum(c, 0.0), 0.0)


def tuned_eta(horizon: int, num_actions: int, episodes: int) -> float:
    """The step minimising the full-information bound ``H C_A(K)/eta + (eta/2) K sum_h (H-h)^2``:
    ``eta = sqrt(2 H C_A(K) / (K sum_h (H-h)^2))`` (with ``C_A`` floored at 1 so that K = 1 or A = 1 gives a step)."""
    H, K = int(horizon), int(episodes)
    squares = H * (H + 1) * (2 * H + 1) / 6.0
    c = max(float(regret_bound_constant(num_actions, K)), 1.0)
    return float(np.sqrt(2.0 * H * c / (K * squares)))


def defaults(problem, iters: int, given: dict) -> dict:
    """``eta`` from :func:`tuned_eta` for the episodes played; ``lam = 1/K`` for bandit feedback (with one-hot
    features the estimator's downward bias ``Q lam/(d + lam)`` then costs O(1) over K episodes, while
    ``lam = 1/sqrt(K)`` was measured to hold action probabilities near ``lam/d_h(s)`` and stop learning on a
    fixed loss table)."""
    K = max(1, min(int(iters), problem.num_episodes))
    out = {"eta": tuned_eta(problem.horizon, problem.num_actions, K)}
    if given.get("feedback", "full") == "bandit":
        out["lam"] = 1.0 / K
    return out


def _init_policy(problem: AdversarialMDP, init) -> np.ndarray:
    H, S, A = problem.horizon, problem.num_states, problem.num_actions
    if init is None:
        return np.full((H, S, A), 1.0 / A)
    arr = np.asarray(init)
    if arr.shape == (S, A):
        return np.broadcast_to(as_distribution("init", init, (S, A)), (H, S, A)).copy()
    return np.array(as_distribution("init", init, (H, S, A)))


def run(problem, *, iters, init, seed, **hparams) -> SolveResult:
    """Play ``min(iters, K)`` episodes of log-barrier FTRL and measure the exact regret (module docstring)."""
    from ..solve import run_rule

    name = "ftrl_log_barrier"
    reject_unknown(name, hparams, ("eta", "feedback", "lam", *COMMON))
    hp = dict(hparams)
    record = as_positive_int("record", hp.pop("record", 1))
    if record != 1:
        raise ValueError(f"{name}: record must be 1 (the regret needs the policy of every episode), got {record}")
    episodes = as_positive_int("iters (episodes)", iters, minimum=1)
    T = min(episodes, problem.num_episodes)
    given = {k: v for k, v in hp.items() if v is not None}
    for k, v in defaults(problem, T, given).items():
        given.setdefault(k, v)
    rule = _adv.ftrl_log_barrier(**given)
    pi0 = _init_policy(problem, init)
    oracle = AdversarialOracle(problem, seed)
    with np.errstate(divide="ignore"):  # log 0 = -inf is a zero-probability action of init
        state = rule.init(np.log(pi0), oracle)
    traj = run_rule(rule, oracle, state, T)
    policies = np.exp(traj.records)  # [T+1, H, S, A]; iterate k-1 is committed in episode k
    reg, episode, best = regret(problem, policies[:-1])
    _, best_policy = best_in_hindsight(problem, T)
    final_V, _ = evaluate_losses(problem, policies[-1], problem.losses[T - 1])
    return SolveResult(
        policy=policies[-1],
        iterates=policies,
        value=float(final_V[0] @ problem.rho),
        optimum=Optimum(best_policy, float(best[-1])),
        certificates=LazyCertificates({"regret": reg}),
        status=COMPLETED if traj.status == CONVERGED or traj.num_iter == T else traj.status,
        method=name,
        hparams=rule.hparams._asdict(),
        num_iter=traj.num_iter,
        info={"episode_loss": episode, "best_in_hindsight": best, "best_policy": best_policy,
              "feedback": rule.hparams.feedback, "episodes": T,
              "covariance": COVARIANCE if rule.hparams.feedback == "bandit" else None,
              "oracle_calls": oracle.calls},
        problem=problem,
    )


def run_best_fixed_policy(problem, *, iters, init, seed, **hparams) -> SolveResult:
    """The best fixed policy in hindsight for all K episodes: one backward induction on the summed loss."""
    reject_unknown("best_fixed_policy", hparams, ())
    best, policy = best_in_hindsight(problem)
    return SolveResult(policy=policy, iterates=policy[None], value=float(best[-1]),
                       optimum=Optimum(policy, float(best[-1])), certificates={}, status=CONVERGED,
                       method="best_fixed_policy", hparams={}, num_iter=0, info={"best_in_hindsight": best},
                       problem=problem)


def rows():
    """The method-table rows: the adversarial learner (family ``"adversarial"``) and its exact benchmark."""
    from ..methods import Method

    return (
        Method("best_fixed_policy", is_adversarial, run_best_fixed_policy,
               "best fixed policy in hindsight of an adversarial MDP (backward induction on the summed loss)",
               family="exact", needs="an AdversarialMDP"),
        Method("ftrl_log_barrier", is_adversarial, run,
               "log-barrier FTRL on an adversarial linear-Q MDP, exact regret vs the best fixed policy "
               "(Dai, Luo, Wei, Zimmert 2023)",
               _adv.ftrl_log_barrier, ("log_barrier_ftrl",), defaults, COMMON, "adversarial",
               "an AdversarialMDP (polopt.problems.adversarial): a kernel, a loss sequence [K, H, S, A] and features"),
    )
