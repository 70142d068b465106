"""polopt: a theory-first numerical toolkit for policy optimization.

Quick start::

    import polopt as po
    mdp = po.problems.catalogue.puterman_two_state(gamma=0.95)
    res = po.solve(mdp, method="policy_iteration")
    res.policy, res.value, res.certificates["suboptimality"]
"""

from . import certificates, exact, oracles, plotting, problems, theory
from ._threads import single_threaded
from .frames import compare
from .io import load
from .methods import rule
from .methods import table as methods_table
from .problems import (
    Bandit,
    ContextualBandit,
    ContextualPreferenceGame,
    LinearMixtureMDP,
    MatrixGame,
    PreferenceDataset,
    PreferenceGame,
    TabularMDP,
)
from .result import NotConvergedWarning, Optimum, SolveResult
from .solve import default_method, describe, methods, solve

__version__ = "0.1.0"

__all__ = [
    "Bandit",
    "ContextualBandit",
    "ContextualPreferenceGame",
    "LinearMixtureMDP",
    "MatrixGame",
    "NotConvergedWarning",
    "Optimum",
    "PreferenceDataset",
    "PreferenceGame",
    "SolveResult",
    "TabularMDP",
    "certificates",
    "compare",
    "default_method",
    "describe",
    "exact",
    "load",
    "methods",
    "methods_table",
    "oracles",
    "plotting",
    "problems",
    "rule",
    "single_threaded",
    "solve",
    "theory",
]
