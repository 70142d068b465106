"""Oracles and samplers: what an update rule may ask about a problem, exact or sampled.

A leaf package: it imports only the foundation (:mod:`polopt._base`), never ``problems``,
``rules``, ``exact`` or ``solve``, so every layer can build on it. Rules receive an oracle as the
second argument of ``update(state, oracle)``; swapping an exact oracle for a sampled one swaps
full information for samples without a second version of the rule.
"""

from .bandit import BanditOracle, GradientEstimate, PairOracle, sample_gradients
from .episodes import AverageRewardEnv, EpisodeSimulator, LinearMixtureEnv, StepSimulator
from .matrix_game import MatrixGameOracle
from .mdp import MDPOracle, PGOracle, bandit_as_mdp_arrays
from .preference import GameOracle, best_response_value, pref, reinforce_pref_gradient, sampled_pref
from .sampling import as_generator, check_seed, sample_categorical, sample_preferences

__all__ = [
    "AverageRewardEnv",
    "BanditOracle",
    "EpisodeSimulator",
    "GameOracle",
    "GradientEstimate",
    "LinearMixtureEnv",
    "MDPOracle",
    "MatrixGameOracle",
    "PGOracle",
    "PairOracle",
    "StepSimulator",
    "as_generator",
    "best_response_value",
    "bandit_as_mdp_arrays",
    "check_seed",
    "pref",
    "reinforce_pref_gradient",
    "sample_categorical",
    "sample_gradients",
    "sample_preferences",
    "sampled_pref",
]
