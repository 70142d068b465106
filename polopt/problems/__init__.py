"""Problem classes (immutable, validated at construction), named instances and generators."""

from . import catalogue, random
from .adversarial import AdversarialMDP
from .bandit import Bandit, ContextualBandit
from .dataset import PreferenceDataset
from .game import ContextualPreferenceGame, PreferenceGame
from .linear_mixture import LinearMixtureMDP
from .mdp import AVERAGE, DISCOUNTED, FINITE_HORIZON, TabularMDP

__all__ = [
    "catalogue",
    "random",
    "AdversarialMDP",
    "AVERAGE",
    "DISCOUNTED",
    "FINITE_HORIZON",
    "Bandit",
    "ContextualBandit",
    "ContextualPreferenceGame",
    "LinearMixtureMDP",
    "PreferenceDataset",
    "PreferenceGame",
    "TabularMDP",
]
