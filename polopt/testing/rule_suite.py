"""The contract every registered update rule passes, run over the method table's rule rows.

``tests/test_rule_suite.py`` parametrises each check over :func:`polopt.methods.rule_rows` (the
rows themselves, never a list of names typed again), so a rule added to the table is checked
without touching the tests. Checks, per rule:

* :func:`check_fixed_point` — the exact optimum is a fixed point of one update (the regularized
  equilibrium for rules that take ``beta``, the unregularized full-support Nash equilibrium for
  those that do not), except for rules whose documented fixed point is biased (:data:`BIASED`);
* :func:`check_backends` — NumPy float64 and ``jax.numpy`` (x64) agree to
  :data:`~polopt.testing.tolerances.BACKEND`: for games and PG rules ``jit`` of ``vmap`` over a batch
  of instances (the update traced once); for the LLM estimators and preference losses, whose oracles
  are NumPy (exact moments by enumeration, numba and NumPy samplers), eagerly, the oracle's arrays
  handed over as ``jnp`` arrays and its outputs converted at its boundary, with the same draws for
  sampled oracles, and every array of the JAX state required to be a JAX array;
* :func:`check_extremes` — finite log-policies summing to one at ``beta = 1e-6``, ``eta = 1e3``
  and probabilities ``1e-300`` in the initial policy and the reference;
* :func:`check_rejects_bad_hparams` — ``eta`` in (0, -1, inf, nan) is refused by the factory
  with an error naming the rule and ``eta``;
* :func:`check_oracle_calls` — one update makes exactly ``rule.oracle_calls`` oracle calls;
* :func:`check_stops_at_tol` — ``po.solve(..., iters=10**7, tol=...)`` stops during the run
  (a handful of chunks), with status ``"converged"`` (rules with a last-iterate guarantee;
  :data:`NO_LAST_ITERATE` says why the others are exempt);
* :func:`check_regularized_fixed_point` / :func:`check_regularized_backends` /
  :func:`check_regularized_extremes` — for the PG rules that also optimize the RLHF objective
  (:func:`regularized_rows`): the regularized optimum is a fixed point, NumPy = JAX with the oracle's
  reference batched, and finite steps with 1e-300 probabilities in the start and the reference.

A family the suite does not know yet fails :func:`families_covered` rather than being skipped. Every
family of :data:`FAMILIES` passes every check, the backend one included.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np

from ..methods import _PROBE, Method
from ..oracles import GameOracle
from ..problems import catalogue
from ..problems.random import random_intransitive, random_tournament
from .tolerances import BACKEND, IDENTITY_F64

#: Families whose rules the suite knows how to build an instance and an oracle for.
FAMILIES = ("games", "pg", "llm_estimators", "llm_losses")
#: Further forms of a rule (its other hyper-parameter regimes) that the backend and extreme-value
#: checks run too: approximate Nash-MP, EGPO's IPO-loss SGD form, the decaying Nash-MD step, SPPO's
#: squared-loss regression, REINFORCE's variance-optimal baseline, GRPO's k3 KL in the loss and its
#: clipped multi-epoch step (on a sampled oracle).
FORMS = {
    "mirror_prox": ({"inner_steps": 3},),
    "extragradient": ({"form": "ipo_loss", "eta": 0.05},),
    "nash_md": ({"schedule": "decaying", "eta": None},),
    "sppo": ({"form": "squared_loss", "inner_steps": 2},),
    "reinforce": ({"baseline": "optimal"},),
    "grpo": ({"kl": "k3"}, {"epochs": 2}),
}
#: Rules whose fixed point is documented to differ from the equilibrium, with the reason.
BIASED = {
    "nash_md": "constant step: the fixed point solves pi ∝ mu exp(P pi^mu / beta), an O(eta) bias "
               "(Munos et al., arXiv 2312.00886, §6); the decaying schedule removes it",
    "ipo_md": "pairs drawn from the mixture pi^(1-b) mu^b: its stationary point is not pi*_beta for b > 0",
}
#: Rules for which ``eta = inf`` is a defined limit (the policy-iteration step), not a bad value.
INF_IS_A_LIMIT = ("npg", "policy_mirror_descent")
#: Rules without last-iterate convergence (the stopping test does not apply), with the reason.
NO_LAST_ITERATE = {
    "nash_ema": "a fictitious-play-like heuristic: the last iterate cycles",
    "sppo": "multiplicative weights: only the average converges (Hedge)",
    "dno": "multiplicative weights: only the average converges (Hedge)",
    "log_barrier_pg": "converges to the barrier-regularized optimum, not to the optimum the certificate measures",
}
#: One update from an exact optimum moves it by Newton's residual times a step of at most 2.
FIXED_POINT = 1e-8
BETA = 0.1
EXTREME_BETA, EXTREME_ETA = 1e-6, 1e3


def takes(row: Method, name: str) -> bool:
    """Whether the row's factory has hyper-parameter ``name``."""
    return name in inspect.signature(row.rule).parameters


def cases(rows) -> list[tuple[Method, dict]]:
    """``(row, form)`` pairs: every row at its probe hyper-parameters, then its :data:`FORMS`."""
    return [(row, form) for row in rows for form in ({}, *FORMS.get(row.name, ()))]


def case_id(case) -> str:
    row, form = case
    return row.name + "".join(f"-{k}={v}" for k, v in form.items() if k != "eta")


def make_rule(row: Method, beta: float = BETA, form: dict | None = None, **override):
    """The row's rule at its probe hyper-parameters and ``form`` (``beta`` where the factory takes it)."""
    hp = dict(_PROBE.get(row.name, {}))
    if takes(row, "beta"):
        hp.setdefault("beta", beta)
    hp.update(form or {})
    hp.update({k: v for k, v in override.items() if not (form and k in form)})
    return row.rule(**{k: v for k, v in hp.items() if v is not None})


def _reference_game(row: Method):
    """(game, its optimum, beta): regularized RPS for rules with beta, unregularized RPS otherwise."""
    if takes(row, "beta"):
        return catalogue.perturbed_rps(BETA), catalogue.RPS_REGULARIZED[BETA], BETA
    return catalogue.perturbed_rps(0.0), catalogue.RPS_NASH, 0.0


class _Games:
    """Preference-game rules: the oracle is a :class:`~polopt.oracles.GameOracle`, queried by ``pref``."""

    query = "pref"

    @staticmethod
    def reference(row, form=None):
        """(rule, oracle, log-optimum, problem) with the optimum a fixed point of the rule."""
        game, star, beta = _reference_game(row)
        return make_rule(row, beta=beta, form=form), GameOracle(game.P, np.log(game.mu)), np.log(star), game

    @staticmethod
    def batch(B: int = 4, K: int = 4):
        """(arrays batched over B instances, oracle builder, log-policies [B, K])."""
        rng = np.random.default_rng(7)
        P = np.stack([random_intransitive(K, seed=i).P for i in range(B)])
        log_mu = np.log(rng.dirichlet(np.ones(K), size=B))
        return (P, log_mu), GameOracle, np.log(rng.dirichlet(np.ones(K), size=B))

    @staticmethod
    def extreme(row, form=None):
        game = random_tournament(6, seed=1)
        pi0 = np.full(6, 1e-300)
        pi0[0] = 1.0
        mu = np.full(6, 1e-300)
        mu[2] = 1.0
        override = {"eta": EXTREME_ETA} if takes(row, "eta") else {}
        if row.name == "extragradient":
            override = {"eta": 1e-3 / EXTREME_BETA * 0.5}  # eta beta < 1 is the rule's own condition
        if form and form.get("form") == "ipo_loss":
            form = {**form, "eta": 1e-3}  # an SGD learning rate: 4 eta / (beta K) must stay below 1 / beta
        rule = make_rule(row, beta=EXTREME_BETA, form=form, **override)
        return rule, GameOracle(game.P, np.log(mu / mu.sum())), np.log(pi0 / pi0.sum())


class _PG:
    """Policy-gradient rules on a discounted MDP: the oracle is an :class:`~polopt.oracles.MDPOracle`."""

    query = "evaluate"
    TAU = 0.1

    @staticmethod
    def _mdp(seed: int = 0):
        from ..problems.random import random_mdp

        return random_mdp(5, 3, gamma=0.9, seed=seed)

    @classmethod
    def reference(cls, row, form=None):
        from ..exact import soft_value_iteration, solve_mdp
        from ..oracles import MDPOracle

        mdp = cls._mdp()
        rule = make_rule(row, form=form)
        if row.name == "entropy_npg":  # its fixed point is the entropy-regularized optimum
            star = soft_value_iteration(mdp, rule.hparams.tau).policy
        else:
            star = np.eye(mdp.num_actions)[solve_mdp(mdp).policy]
        with np.errstate(divide="ignore"):
            log_star = np.log(star)
        return rule, MDPOracle(mdp.dense_P(), mdp.r, mdp.gamma, mdp.rho), log_star, mdp

    @classmethod
    def batch(cls, B: int = 3):
        from ..oracles import MDPOracle

        mdps = [cls._mdp(seed) for seed in range(B)]
        P, r, rho = (np.stack(x) for x in zip(*[(m.dense_P(), m.r, m.rho) for m in mdps], strict=True))
        rng = np.random.default_rng(3)
        log_pi0 = np.log(rng.dirichlet(np.ones(3), size=(B, 5)))
        return (P, r, rho), lambda P1, r1, rho1: MDPOracle(P1, r1, 0.9, rho1), log_pi0

    @classmethod
    def extreme(cls, row, form=None):
        from ..oracles import MDPOracle

        mdp = cls._mdp(1)
        pi0 = np.full((5, 3), 1e-300)
        pi0[:, 0] = 1.0
        override = {"eta": EXTREME_ETA} if takes(row, "eta") and row.name != "entropy_npg" else {}
        rule = make_rule(row, form=form, **override)
        return rule, MDPOracle(mdp.dense_P(), mdp.r, mdp.gamma, mdp.rho), np.log(pi0 / pi0.sum(-1, keepdims=True))


class _RegularizedPG(_PG):
    """The policy-gradient rules on the RLHF objective ``V - beta KL(pi || mu)`` (rows of
    :data:`polopt._methods.pg.REGULARIZED`): the oracle carries ``log_mu`` and ``beta``, the fixed point is
    the regularized optimum (soft value iteration with the reference)."""

    @staticmethod
    def _reference_policy(seed: int, S: int = 5, A: int = 3) -> np.ndarray:
        return np.random.default_rng(100 + seed).dirichlet(np.ones(A), size=S)

    @classmethod
    def reference(cls, row, form=None):
        from ..exact import soft_value_iteration
        from ..oracles import MDPOracle

        mdp, mu = cls._mdp(), cls._reference_policy(0)
        star = soft_value_iteration(mdp, BETA, mu).policy
        oracle = MDPOracle(mdp.dense_P(), mdp.r, mdp.gamma, mdp.rho, 0.0, np.log(mu), BETA)
        return make_rule(row, form=form), oracle, np.log(star), mdp

    @classmethod
    def batch(cls, B: int = 3):
        from ..oracles import MDPOracle

        (P, r, rho), _, log_pi0 = _PG.batch(B)
        log_mu = np.log(np.stack([cls._reference_policy(b) for b in range(B)]))
        return (P, r, rho, log_mu), lambda P1, r1, rho1, lm1: MDPOracle(P1, r1, 0.9, rho1, 0.0, lm1, BETA), log_pi0


    @classmethod
    def extreme(cls, row, form=None, beta: float = EXTREME_BETA):
        """Start and reference with probabilities 1e-300 (on different actions), ``eta = 1e3``."""
        from ..oracles import MDPOracle

        rule, _, log_pi0 = _PG.extreme(row, form)
        mdp = cls._mdp(1)
        mu = np.full((5, 3), 1e-300)
        mu[:, 2] = 1.0
        mu /= mu.sum(axis=-1, keepdims=True)
        return rule, MDPOracle(mdp.dense_P(), mdp.r, mdp.gamma, mdp.rho, 0.0, np.log(mu), beta), log_pi0


def regularized_rows(rows) -> list[Method]:
    """The rows whose rule also optimizes the RLHF objective (read off the PG family's table module)."""
    from .._methods.pg import REGULARIZED

    return [r for r in rows if r.family == "pg" and r.name in REGULARIZED]


#: Regularized rows whose step is discontinuous at the optimum, with the finding (kept as a test: the check
#: asserts that the optimum *moves*).
REGULARIZED_UNSTABLE = {
    "ppo": "the exact clipped-surrogate maximizer moves every ratio to 1 +- eps by the sign of the advantage: "
           "pi*_beta (regularized advantage 0) is fixed only in exact arithmetic, and the round-off of the soft "
           "optimum (|A| ~ 1e-13) already moves it by O(eps pi) (tests/test_rlhf_pg.py: cycles or collapses)",
}


def check_regularized_fixed_point(row: Method) -> None:
    """The regularized optimum ``pi*_beta`` (an interior point) is a fixed point of two updates."""
    _assert_fixed(row.name, *_RegularizedPG.reference(row)[:3], REGULARIZED_UNSTABLE, "unstable")


def _assert_fixed(name: str, rule, oracle, log_star, exempt: dict, kind: str) -> None:
    """``log_star`` moves by at most FIXED_POINT in two updates, or (``name`` in ``exempt``) by far more."""
    state = rule.update(rule.update(rule.init(log_star, oracle), oracle), oracle)
    moved = float(np.max(np.abs(np.exp(state.log_pi) - np.exp(log_star))))
    if name in exempt:
        assert moved > 1e3 * FIXED_POINT, f"{name}: documented as {kind} ({exempt[name]}) but fixed"
    else:
        assert moved <= FIXED_POINT, f"{name}: the optimum moved by {moved:.3g} in two updates"


def check_regularized_backends(row: Method, steps: int = 5) -> None:
    """NumPy and ``jit(vmap)`` JAX agree with the oracle's reference batched (``log_mu`` vmapped)."""
    _check_backends_on(row, _RegularizedPG, None, steps)


def check_regularized_extremes(row: Method, steps: int = 20) -> None:
    """Finite log-policies summing to one with 1e-300 probabilities in the start and the reference, at
    ``beta = 1e-6`` and ``beta = 10`` (the magnet dominates the step)."""
    for beta in (EXTREME_BETA, 10.0):
        rule, oracle, log_pi0 = _RegularizedPG.extreme(row, beta=beta)
        _run_finite(row, rule, oracle, log_pi0, steps)


def _bandit(seed: int = 0, K: int = 4, beta: float = BETA, mu=None):
    """A regularized bandit (rewards in [0, 1], a full-support reference): interior optimum mu exp(r/beta)/Z."""
    from ..problems import Bandit

    rng = np.random.default_rng(seed)
    return Bandit(rng.uniform(0.0, 1.0, K), reference=rng.dirichlet(np.ones(K)) if mu is None else mu, beta=beta)


def _extreme_bandit(K: int = 6):
    """Reference and initial policy with probabilities 1e-300 (log -690.8), beta = 1e-6."""
    mu = np.full(K, 1e-300)
    mu[2] = 1.0
    pi0 = np.full(K, 1e-300)
    pi0[0] = 1.0
    return _bandit(1, K, EXTREME_BETA, mu / mu.sum()), np.log(pi0 / pi0.sum())[None, :]


class _Estimators:
    """Sampled-estimator rules on a bandit: the oracle is a :class:`~polopt.oracles.bandit.BanditOracle`
    (exact moments of the estimator), queried by ``estimate``; the KL enters the reward."""

    query = "estimate"
    GROUP = 4

    @classmethod
    def _rule(cls, row, form=None, **override):
        form = dict(form or {})
        if takes(row, "kl"):
            form.setdefault("kl", "reward")  # shaped reward: the regularized optimum is the fixed point
        return make_rule(row, form=form, **override)

    @classmethod
    def reference(cls, row, form=None):
        from .._methods.llm import make_oracle
        from ..exact.soft import regularized_bandit_optimum

        bandit = _bandit()
        star = regularized_bandit_optimum(bandit).policy
        oracle = make_oracle(bandit, group_size=cls.GROUP)
        return cls._rule(row, form), oracle, np.log(star)[None, :], bandit

    @classmethod
    def _oracle(cls, bandit, form=None, sampled: bool = False):
        """The exact oracle, or (``sampled``, and always for the clipped multi-epoch form, which needs
        samples) two groups per call drawn from a fixed seed: every call of this builds the same draws."""
        from .._methods.llm import make_oracle

        if sampled or (form or {}).get("epochs", 1) > 1:
            return make_oracle(bandit, group_size=cls.GROUP, num_samples=2, mode="sampled", seed=11)
        return make_oracle(bandit, group_size=cls.GROUP)

    @classmethod
    def extreme(cls, row, form=None):
        bandit, log_pi0 = _extreme_bandit()
        override = {"eta": EXTREME_ETA} if takes(row, "eta") else {}
        rule = cls._rule(row, form, beta=EXTREME_BETA, **override)
        return rule, cls._oracle(bandit, form), log_pi0

    @classmethod
    def eager_cases(cls, row, form=None):
        """(rule, oracle builder, log-policy [X, K]) on a bandit and a 2-context bandit, exact and sampled."""
        rule = cls._rule(row, form)
        exact = () if (form or {}).get("epochs", 1) > 1 else (False,)
        return [(rule, lambda b=b, s=s: cls._oracle(b, form, s), lp) for b, lp in _eager_bandits()
                for s in (*exact, True)]


class _Losses:
    """Preference-loss rules on a Bradley-Terry bandit: the oracle is a
    :class:`~polopt.oracles.bandit.PairOracle`; on-policy rules query ``on_policy_pairs``, offline ones
    read its fixed pair weights (one pass over the data per update)."""

    query = "on_policy_pairs"

    @staticmethod
    def _rule(row, beta, form=None, **override):
        return make_rule(row, beta=beta, form=form, **override)

    @classmethod
    def reference(cls, row, form=None):
        from .._methods.llm_losses import make_oracle, optimum_policy

        bandit = _bandit()
        rule = cls._rule(row, BETA, form)
        star = optimum_policy(row.name, bandit, rule)
        with np.errstate(divide="ignore"):
            return rule, make_oracle(row.name, bandit), np.log(star), bandit

    @classmethod
    def extreme(cls, row, form=None):
        from .._methods.llm_losses import make_oracle

        bandit, log_pi0 = _extreme_bandit()
        override = {"eta": EXTREME_ETA} if takes(row, "eta") else {}
        return cls._rule(row, EXTREME_BETA, form, **override), make_oracle(row.name, bandit), log_pi0

    @classmethod
    def eager_cases(cls, row, form=None):
        """(rule, oracle builder, logits [X, K]) on a bandit and a 2-context bandit; rules that sample
        on-policy pairs (``num_pairs``) also with 16 sampled pairs per context from a fixed seed."""
        from .._methods.llm_losses import make_oracle

        rule = cls._rule(row, BETA, form)
        pairs = ({}, {"num_pairs": 16}) if "num_pairs" in row.extra else ({},)
        return [(rule, lambda b=b, hp=hp: make_oracle(row.name, b, hp, seed=11), lp) for b, lp in _eager_bandits()
                for hp in pairs]


def _eager_bandits():
    """(problem, log start [X, K]) for the eager backend check: the suite's bandit and a 2-context bandit
    (per-context steps and baselines), each from a full-support start away from its optimum."""
    from ..problems import ContextualBandit

    rng = np.random.default_rng(5)
    two = ContextualBandit(rng.uniform(0.0, 1.0, (2, 3)), contexts=[0.3, 0.7],
                           reference=rng.dirichlet(np.ones(3), size=2), beta=BETA)
    return [(_bandit(), np.log(rng.dirichlet(np.ones(4), size=1))), (two, np.log(rng.dirichlet(np.ones(3), size=2)))]


_FAMILY = {"games": _Games, "pg": _PG, "llm_estimators": _Estimators, "llm_losses": _Losses}
#: Rules whose optimum is a vertex (logits -> +-inf): no finite fixed point to start from; they stop by
#: their own rule (APO: the reward gap at round-off), checked without ``tol``.
VERTEX_OPTIMUM = {"apo": "its optimum is uniform on argmax r, approached as the extrapolated reference sharpens"}
#: Rules whose constant-step iterates end in a limit cycle around the optimum (the optimum itself is
#: fixed): the stopping check asserts the cycle instead, a finding kept as a test.
LIMIT_CYCLE = {
    "grpo": "the std-normalized group advantage is scale-free: near pi* it does not shrink with the reward "
            "spread, so constant-step GRPO cycles at distance O(eta) (measured on the suite's bandit, G = 8, "
            "KL-shaped rewards: ||grad J|| cycles in [8e-4, 1.7e-3] at eta = 1, [1e-5, 2.6e-4] at eta = 0.1)",
}
#: Rules that read the oracle's arrays instead of querying it, with what they read: their declared call
#: is one pass over those arrays, checked as zero queries of ``on_policy_pairs``.
NO_QUERY = {
    **dict.fromkeys(("dpo", "ipo", "chi_po", "copg"), "a fixed dataset: pair weights W or frequencies nu"),
    "online_dpo": "the exact expected online step: the preference model P, with pi x pi formed from the iterate",
    "apo": "exact DPO (proximal-point) steps: the rewards r and the reference",
    "xpo": "exact pairs (pi_t, ref) formed from the iterate and the reference, labelled by P",
}


#: Families whose rules are learners with an environment oracle (episodes sampled from a model, regret
#: measured against exact values): their contract is checked by their own suites, named here.
OWN_SUITE = {
    "learning": "tests/test_learning_machinery.py (ridge and planner by hand, EVI, zero regret with the true "
                "model, seeds reproducible, bad input)",
    "adversarial": "tests/test_learning_adversarial.py (the FTRL step by hand, unbiased estimator by enumeration, "
                   "NumPy = JAX, regret by hand and as a property test)",
    "reward_free": "tests/test_learning_reward_free.py (widths, radii and weights by hand, planning on the true "
                   "model optimal, confidence check at and below the theorem's radius)",
}


def families_covered(rows) -> list[str]:
    """The families of ``rows`` the suite has no instances for and no own suite (should be empty)."""
    return sorted({r.family for r in rows} - set(FAMILIES) - set(OWN_SUITE))


def check_fixed_point(row: Method) -> None:
    if row.name in VERTEX_OPTIMUM:
        return
    _assert_fixed(row.name, *_FAMILY[row.family].reference(row)[:3], BIASED, "biased")


def check_backends(row: Method, form: dict | None = None, steps: int = 5) -> None:
    family = _FAMILY[row.family]
    if hasattr(family, "eager_cases"):
        _check_backends_eager(row, family, form, steps)
    else:
        _check_backends_on(row, family, form, steps)


def _on_jax(oracle):
    """``oracle`` (a NamedTuple) with every NumPy array field as a ``jax.numpy`` array (generators,
    callables and sizes unchanged)."""
    import jax.numpy as jnp

    return oracle._replace(**{k: jnp.asarray(v) for k, v in oracle._asdict().items() if isinstance(v, np.ndarray)})


def _check_backends_eager(row: Method, family, form: dict | None, steps: int) -> None:
    """NumPy and eager ``jax.numpy`` agree for the families whose oracle is NumPy (exact moments by
    enumeration, numba / NumPy samplers): the JAX run gets the oracle's arrays as ``jnp`` arrays, and the
    oracle converts at its boundary; sampled oracles are rebuilt from the same seed, so both runs see the
    same draws. Every array field of the JAX state must be a JAX array (the update ran on ``jax.numpy``)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    for rule, make_oracle, log_pi0 in family.eager_cases(row, form):
        runs = []
        for oracle, lp in ((make_oracle(), log_pi0), (_on_jax(make_oracle()), jnp.asarray(log_pi0))):
            s = rule.init(lp, oracle)
            for _ in range(steps):
                s = rule.update(s, oracle)
            runs.append(s)
        want, got = runs
        for field in want._fields:
            w, g = getattr(want, field), getattr(got, field)
            if w is None:
                assert g is None, f"{row.name}.{field}: None in NumPy, {type(g).__name__} in JAX"
                continue
            if np.ndim(w) > 0:
                assert isinstance(g, jax.Array), f"{row.name}.{field}: {type(g).__name__}, not a JAX array"
            _assert_backend_close(row.name, field, w, g)


def _assert_backend_close(name: str, field: str, want, got) -> None:
    want, got = np.asarray(want), np.asarray(got)
    if field.startswith("log"):  # compare probabilities: -inf logits agree as zeros
        want, got = np.exp(want), np.exp(got)
    # BACKEND both ways: absolute for probabilities, relative for unnormalized logits and steps of 1 / curvature
    np.testing.assert_allclose(got, want, rtol=BACKEND, atol=BACKEND, err_msg=f"{name}.{field}")


def _check_backends_on(row: Method, family, form: dict | None, steps: int) -> None:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    rule = make_rule(row, form=form)
    arrays, make_oracle, log_pi0 = family.batch()

    def run_np(*args):
        *data, lp = args
        oracle = make_oracle(*data)
        s = rule.init(lp, oracle)
        for _ in range(steps):
            s = rule.update(s, oracle)
        return s

    def run_jax(*args):
        *data, lp = args
        oracle = make_oracle(*data)
        return jax.lax.fori_loop(0, steps, lambda i, s: rule.update(s, oracle), rule.init(lp, oracle))

    B = log_pi0.shape[0]
    ref = [run_np(*(a[b] for a in arrays), log_pi0[b]) for b in range(B)]
    out = jax.jit(jax.vmap(run_jax))(*(jnp.asarray(a) for a in arrays), jnp.asarray(log_pi0))
    for field in ref[0]._fields:
        _assert_backend_close(row.name, field, np.stack([np.asarray(getattr(s, field)) for s in ref]),
                              getattr(out, field))


def check_extremes(row: Method, form: dict | None = None, steps: int = 20) -> None:
    rule, oracle, log_pi0 = _FAMILY[row.family].extreme(row, form)
    _run_finite(row, rule, oracle, log_pi0, steps)


def _run_finite(row: Method, rule, oracle, log_pi0, steps: int) -> None:
    s = rule.init(log_pi0, oracle)
    with np.errstate(all="raise", under="ignore"):
        for _ in range(steps):
            s = rule.update(s, oracle)
            assert not np.any(np.isnan(s.log_pi)), row.name
            pi = np.exp(s.log_pi)
            assert np.all(np.isfinite(pi)) and np.all(np.abs(pi.sum(-1) - 1.0) <= IDENTITY_F64), row.name


def check_rejects_bad_hparams(row: Method) -> None:
    if not takes(row, "eta"):
        return
    for bad in (0.0, -1.0, np.nan) if row.name in INF_IS_A_LIMIT else (0.0, -1.0, np.inf, np.nan):
        try:
            make_rule(row, eta=bad)
        except (TypeError, ValueError) as exc:
            assert row.name in str(exc) and "eta" in str(exc), f"{row.name}: unclear error {exc}"
        else:
            raise AssertionError(f"{row.name} accepted eta = {bad}")


class _Counting:
    """An oracle stand-in that forwards everything and counts calls of the family's query method."""

    def __init__(self, oracle, query: str):
        self._oracle, self._query, self.calls = oracle, query, 0

    def __getattr__(self, name):
        attr = getattr(self._oracle, name)
        if name != self._query:
            return attr

        def counted(*args, **kwargs):
            self.calls += 1
            return attr(*args, **kwargs)

        return counted


def check_oracle_calls(row: Method) -> None:
    family = _FAMILY[row.family]
    rule, oracle, log_star, _ = family.reference(row)
    counting = _Counting(oracle, family.query)
    state = rule.init(np.log(np.full(np.shape(log_star), 1.0 / np.shape(log_star)[-1])), counting)
    counting.calls = 0
    rule.update(state, counting)
    want = 0 if row.name in NO_QUERY else rule.oracle_calls
    assert counting.calls == want, f"{row.name}: {counting.calls} calls of {family.query}, expected {want}"


#: Steps for the stopping check where the theory default is tiny (softmax PG's (1-gamma)^3/8 needs
#: ~1e6 updates here): the check is that ``tol`` ends the run, not how fast the default step is.
STOP_HPARAMS = {"softmax_pg": {"eta": 10.0}, "projected_pg": {"eta": 5.0},
                # Mei et al.'s 5/2 span(r) for rewards in [0, 1] plus the KL term's curvature (~ beta):
                # solve asks for L when beta > 0; the check is that tol ends the run
                # the SNR step shrinks with the estimator's variance: many groups per update (free for
                # the exact oracle, whose cost does not grow with them) keep SNR ~ 1 near pi*
                "oblr_po": {"smoothness": 2.5 + 2 * BETA, "num_samples": 10**6}}
#: Stopping tolerance per family: float64 round-off of the games' linear rates; a sublinear
#: policy-gradient rate (BPO's subgradient steps) reaches 1e-3 in a few thousand updates.
STOP_TOL = {"games": 1e-6, "pg": 1e-3, "llm_estimators": 1e-6, "llm_losses": 1e-8}


def check_stops_at_tol(row: Method) -> None:
    import polopt as po

    if row.name in BIASED or row.name in NO_LAST_ITERATE:
        return  # no last-iterate convergence to the optimum the certificates measure
    *_, problem = _FAMILY[row.family].reference(row)
    hp = {k: v for k, v in _PROBE.get(row.name, {}).items() if k != "beta"}  # beta is the game's
    if row.family == "llm_estimators" and takes(row, "kl"):
        hp["kl"] = "reward"  # GRPO's in-loss KL has another fixed point; shaped rewards target pi*
    if row.name in VERTEX_OPTIMUM:
        res = po.solve(problem, method=row.name, iters=10**7, **hp)
        assert res.status == "converged" and res.num_iter < 10**5, (row.name, res.status, res.num_iter)
        return
    if row.name in LIMIT_CYCLE:
        res = po.solve(problem, method=row.name, iters=2000, tol=STOP_TOL[row.family], **hp)
        tail = res.info["grad_norm"][-100:]
        assert res.status == "max_iter" and tail.min() > 1e2 * STOP_TOL[row.family], (row.name, res.status, tail.min())
        assert tail.max() < 1e-2, f"{row.name}: the cycle is wider than documented ({tail.max():.3g})"
        return
    hp.update(STOP_HPARAMS.get(row.name, {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        res = po.solve(problem, method=row.name, iters=10**7, tol=STOP_TOL[row.family], **hp)
    assert res.status == "converged" and res.num_iter < 10**5, (row.name, res.status, res.num_iter)
