"""Exact solvers and oracles in float64.

Public names (resolved lazily from the submodules, so importing one solver does not load
the others):

* evaluation: ``evaluate``, ``policy_value``, ``q_from_v``, ``Evaluation``
* dynamic programming: ``value_iteration``, ``policy_iteration``,
  ``modified_policy_iteration``, ``backward_induction``, ``solve_mdp``, ``greedy``; operators
  ``bellman_backup``, ``policy_kernel``, ``evaluate_deterministic``
* linear programming: ``linear_program``
* average reward: ``gain_bias``, ``relative_value_iteration``, ``average_reward_lp``,
  ``average_policy_iteration``; the RVI loop ``rvi_trace`` / ``check_rvi_args``
* regularized: ``soft_value_iteration``, ``gibbs_policy``, ``regularized_bandit_optimum``,
  ``regularized_policy_evaluation``, ``soft_policy_iteration``, ``soft_bellman_operator``; the
  soft VI loop ``soft_vi_loop`` and ``reference_policy``
* tabular helpers: ``one_hot``, ``uniform_policy``, ``uniform_feasible`` (uniform on the feasible
  actions), ``greedy_action`` (argmax of a q-table), ``q_from_v`` (one Bellman backup of a value)
* games: ``nash``, ``nash_lp``, ``nash_is_unique``, ``regularized_nash``, ``exploitability``,
  ``duality_gap``, ``best_response`` (each also takes a ``MatrixGame``: :mod:`.matrix_game`), ``nash_conv``
* ``effective_horizon``
* total reward (episodic, terminal states): ``total_policy_iteration``, ``total_value_iteration``,
  ``total_linear_program``, ``total_reward_value``, ``proper_policy``, ``ImproperPolicyError``
* ``diameter``, ``hitting_times`` (minimal expected hitting times; the diameter of UCRL2's bound)
* policy-gradient estimators: ``estimator_moments``, ``contextual_estimator_moments``,
  ``EstimatorMoments``, ``baseline_variance``, ``optimal_constant_baseline``,
  ``expected_objective_after_step``, ``softmax_gradient``, ``objective_hessian``, ``softmax_smoothness``
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "evaluation": ("evaluate", "policy_value", "q_from_v", "Evaluation"),
    "dp": (
        "value_iteration",
        "policy_iteration",
        "modified_policy_iteration",
        "backward_induction",
        "solve_mdp",
        "greedy",
        "bellman_backup",
        "policy_kernel",
        "evaluate_deterministic",
    ),
    "lp": ("linear_program",),
    "average": ("gain_bias", "relative_value_iteration", "average_reward_lp", "rvi_trace", "check_rvi_args",
                "average_policy_iteration"),
    "soft": (
        "soft_value_iteration",
        "gibbs_policy",
        "regularized_bandit_optimum",
        "regularized_policy_evaluation",
        "soft_policy_iteration",
        "soft_bellman_operator",
        "soft_vi_loop",
        "reference_policy",
    ),
    "_ops": ("one_hot", "uniform_policy", "uniform_feasible", "greedy_action", "q_from_v"),
    "games": (
        "nash",
        "nash_lp",
        "nash_is_unique",
        "regularized_nash",
        "exploitability",
        "duality_gap",
        "best_response",
    ),
    "horizon": ("effective_horizon",),
    "hitting": ("diameter", "hitting_times"),
    "total": ("total_policy_iteration", "total_value_iteration", "total_linear_program", "total_reward_value",
              "proper_policy", "ImproperPolicyError"),
    "matrix_game": ("nash_conv",),
    "estimators": (
        "estimator_moments",
        "contextual_estimator_moments",
        "EstimatorMoments",
        "baseline_variance",
        "optimal_constant_baseline",
        "expected_objective_after_step",
        "softmax_gradient",
        "objective_hessian",
        "softmax_smoothness",
    ),
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        module = importlib.import_module(f"{__name__}.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
