"""Problem classes (immutable, validated at construction), named instances and generators."""

from . import catalogue, interop, random
from .adversarial import AdversarialMDP
from .bandit import Bandit, ContextualBandit
from .dataset import PreferenceDataset
from .game import ContextualPreferenceGame, PreferenceGame
from .linear_mixture import LinearMixtureMDP
from .matrix_game import MatrixGame, StrategyPair
from .mdp import AVERAGE, DISCOUNTED, FINITE_HORIZON, TabularMDP

__all__ = [
    "catalogue",
    "interop",
    "random",
    "AdversarialMDP",
    "AVERAGE",
    "DISCOUNTED",
    "FINITE_HORIZON",
    "Bandit",
    "ContextualBandit",
    "ContextualPreferenceGame",
    "LinearMixtureMDP",
    "MatrixGame",
    "PreferenceDataset",
    "PreferenceGame",
    "StrategyPair",
    "TabularMDP",
]
