"""Problems from the libraries people come from, with each library's conventions said in the name.

==============================  ==========================================  ===========================================
library object                  its convention                              polopt
==============================  ==========================================  ===========================================
Gymnasium toy-text env          ``env.unwrapped.P[s][a] = [(prob, s',       :func:`mdp_from_gymnasium`: ``P [S+1, A,
(FrozenLake, CliffWalking,      reward, terminated), ...]``; an episode     S+1]``, ``r[s, a] = sum prob * reward``; a
Taxi)                           stops on ``terminated``                     ``terminated`` transition goes to the added
                                                                            absorbing state ``S`` (zero reward)
QuantEcon ``DiscreteDP``        ``R [n, m]``, ``Q [n, m, n]``, discount     :func:`mdp_from_quantecon` /
                                ``beta``; state-action-pair form            :func:`mdp_to_quantecon`: ``r = R``,
                                ``(s_indices, a_indices)``                  ``P = Q``, ``gamma = beta``
pymdptoolbox                    ``P [A, S, S']`` (actions first), ``R``     :func:`mdp_from_mdptoolbox`: ``P [S, A,
                                ``[S]``, ``[S, A]`` or ``[A, S, S']``       S']`` (actions last), ``r [S, A]``
OpenSpiel matrix game           ``row_utilities()``, ``col_utilities()``    :func:`matrix_game_from_openspiel`:
                                (``U``, ``V`` [m, n])                       ``A = U - k/2`` for ``U + V = k``
OpenSpiel symmetric game        ``V = U^T``, ``U + V = k``                  :func:`preference_game_from_openspiel`:
                                                                            ``P = 1/2 + (U - k/2) / (2c)``
==============================  ==========================================  ===========================================

Why the absorbing state: a toy-text table keeps listing moves *out of* a terminal state (the goal
of CliffWalking moves on at -1 per step), so reading ``P`` without the ``terminated`` flag solves
a task that never ends: CliffWalking's start value at ``gamma = 0.99`` becomes -100 instead of the
-12.25 that thirteen steps of -1 give. Gymnasium and OpenSpiel are optional
(``pip install 'polopt[interop]'``), imported only inside the functions that need them.
Tests: ``tests/test_interop.py`` (against each library's own solver or a Monte-Carlo rollout of
the environment itself).
"""

from __future__ import annotations

import importlib

import numpy as np
import scipy.sparse as sp

from .._validation import as_float_array, as_scalar
from .game import PreferenceGame
from .matrix_game import MatrixGame
from .mdp import TabularMDP

__all__ = [
    "matrix_game_from_openspiel",
    "mdp_from_gymnasium",
    "mdp_from_mdptoolbox",
    "mdp_from_quantecon",
    "mdp_to_quantecon",
    "openspiel_payoffs",
    "preference_game_from_openspiel",
]

#: ``U + V`` may vary by this much (relative to max |U|) in a constant-sum game: payoff tables are
#: typed in by hand as short decimals, whose float64 sums agree to ~1e-15.
CONSTANT_SUM_RTOL = 1e-12
EXTRA = "pip install 'polopt[interop]'"


def _require(module: str, who: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{who} needs the optional package {module.split('.')[0]!r}: {EXTRA}") from exc


# --------------------------------------------------------------------------- Gymnasium
def _discrete_size(space, name: str, env_name: str) -> int:
    n = getattr(space, "n", None)
    if n is None or getattr(space, "shape", ()) not in ((), None):
        raise ValueError(f"{env_name}: {name} must be a Discrete space (toy-text env), got {space!r}")
    return int(n)


def mdp_from_gymnasium(env, gamma: float = 0.99) -> TabularMDP:
    """The MDP of a toy-text Gymnasium environment, terminal transitions sent to an absorbing state.

    Args:
        env: a Gymnasium environment (wrappers allowed) whose ``env.unwrapped.P`` is the table
            ``{s: {a: [(prob, next_state, reward, terminated), ...]}}`` (FrozenLake, CliffWalking,
            Taxi), or an environment id such as ``"CliffWalking-v1"`` (made with ``gymnasium.make``).
        gamma: discount in ``[0, 1]`` (an environment carries none; 0.99 is the common choice);
            ``1.0`` poses the episodic total reward (criterion ``"total"``, the absorbing state terminal).

    Returns:
        ``TabularMDP`` with ``S + 1`` states when some transition terminates (state ``S`` absorbing,
        reward 0 for every action), else ``S``; ``P[s, a, s']`` sums the table's probabilities
        (FrozenLake lists a next state twice at its borders), ``r[s, a] = sum prob * reward`` (the
        expected reward, terminal transitions included); ``rho`` = the env's
        ``initial_state_distrib`` when it has one, else uniform over the env's states.

    Raises:
        ValueError: no ``P`` table on ``env.unwrapped``, non-Discrete spaces, a state or action
            missing from the table, a malformed entry; ImportError for an id without gymnasium.
    """
    if isinstance(env, str):
        env = _require("gymnasium", "mdp_from_gymnasium with an environment id").make(env)
    base = getattr(env, "unwrapped", env)
    name = type(base).__name__
    table = getattr(base, "P", None)
    if not isinstance(table, dict):
        raise ValueError(
            f"{name} has no transition table env.unwrapped.P (a dict {{s: {{a: [(prob, next_state, reward, "
            f"terminated), ...]}}}} as the toy-text envs FrozenLake, CliffWalking and Taxi have); got "
            f"{type(table).__name__}"
        )
    S = _discrete_size(base.observation_space, "observation_space", name)
    A = _discrete_size(base.action_space, "action_space", name)
    P = np.zeros((S + 1, A, S + 1))
    r = np.zeros((S + 1, A))
    for s in range(S):
        if s not in table:
            raise ValueError(f"{name}: env.unwrapped.P has no entry for state {s} (expected states 0..{S - 1})")
        for a in range(A):
            if a not in table[s]:
                raise ValueError(f"{name}: env.unwrapped.P[{s}] has no entry for action {a} (expected 0..{A - 1})")
            for k, entry in enumerate(table[s][a]):
                if len(entry) != 4:
                    raise ValueError(f"{name}: env.unwrapped.P[{s}][{a}][{k}] = {entry!r}, expected "
                                     "(prob, next_state, reward, terminated)")
                prob, nxt, reward, terminated = entry
                P[s, a, S if terminated else int(nxt)] += float(prob)
                r[s, a] += float(prob) * float(reward)
    terminal = bool(P[:S, :, S].any())
    if terminal:
        P[S, :, S] = 1.0  # the absorbing state: every action stays, reward 0
    else:
        P, r = P[:S, :, :S], r[:S]
    rho = np.full(S, 1.0 / S)
    if getattr(base, "initial_state_distrib", None) is not None:
        rho = as_float_array("env.unwrapped.initial_state_distrib", base.initial_state_distrib, ndim=1)
    if terminal:
        rho = np.append(rho, 0.0)
    # the absorbing state is terminal: with gamma = 1 the criterion is the episodic total reward
    return TabularMDP(P, r, gamma=as_scalar("gamma", gamma, low=0.0, high=1.0), rho=rho,
                      terminal=[S] if terminal else None)


# --------------------------------------------------------------------------- QuantEcon
def mdp_from_quantecon(ddp) -> TabularMDP:
    """The discounted MDP of a QuantEcon ``DiscreteDP`` (``r = R``, ``P = Q``, ``gamma = ddp.beta``).

    Product form (``R [n, m]``, ``Q [n, m, n]``) and state-action-pair form (``R [L]``, ``Q [L, n]``,
    dense or sparse, with ``s_indices``, ``a_indices``) are both read; a sparse pair form stays
    sparse (rows ordered ``s * m + a``). Infeasible actions (``R = -inf``, or a pair missing from the
    pair form) stay infeasible (``mask`` False, ``r = -inf``), as in QuantEcon.

    Raises:
        TypeError: not a ``DiscreteDP``-like object (needs ``R``, ``Q``, ``beta``).
    """
    for attr in ("R", "Q", "beta"):
        if not hasattr(ddp, attr):
            raise TypeError(f"ddp must be a quantecon.markov.DiscreteDP (with R, Q, beta), got {type(ddp).__name__}")
    s_idx, a_idx = getattr(ddp, "s_indices", None), getattr(ddp, "a_indices", None)
    gamma = float(ddp.beta)
    if s_idx is None:  # R = -inf marks an infeasible pair: TabularMDP reads it the same way
        return TabularMDP(ddp.Q, np.asarray(ddp.R, dtype=np.float64), gamma=gamma)
    Q = ddp.Q if sp.issparse(ddp.Q) else np.asarray(ddp.Q, dtype=np.float64)
    return TabularMDP.from_state_action_pairs(np.asarray(s_idx), np.asarray(a_idx), Q, np.asarray(ddp.R),
                                              gamma=gamma, num_states=int(ddp.num_states),
                                              num_actions=int(np.max(a_idx)) + 1)


def mdp_to_quantecon(mdp: TabularMDP):
    """A QuantEcon ``DiscreteDP(R=r, Q=P, beta=gamma)`` of a stationary discounted ``TabularMDP``.

    A sparse MDP becomes the state-action-pair form (``Q`` the CSR kernel ``(S*A, S)``).

    Raises:
        ValueError: a finite-horizon or average-reward MDP (DiscreteDP is discounted, ``beta < 1``), or an
            MDP with a KL term (``mdp.beta > 0``).
        ImportError: quantecon is not installed.
    """
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    if mdp.criterion != "discounted" or mdp.is_time_inhomogeneous:
        raise ValueError(f"to_quantecon needs a stationary discounted MDP (gamma < 1), got {mdp!r}")
    if getattr(mdp, "beta", 0.0) > 0:  # DiscreteDP has no KL term: exporting would silently drop the objective's
        raise ValueError(f"to_quantecon needs an unregularized MDP (DiscreteDP has no KL term), got {mdp!r}")
    qe = _require("quantecon.markov", "to_quantecon")
    if mdp.has_infeasible:  # the pair form lists the feasible pairs only
        s_idx, a_idx = np.nonzero(mdp.mask)
        rows = s_idx * mdp.num_actions + a_idx
        return qe.DiscreteDP(np.asarray(mdp.r)[s_idx, a_idx], sp.csr_matrix(mdp.P_sa)[rows], mdp.gamma, s_idx, a_idx)
    if mdp.is_sparse:
        S, A = mdp.shape
        s_idx, a_idx = np.repeat(np.arange(S), A), np.tile(np.arange(A), S)
        return qe.DiscreteDP(np.asarray(mdp.r).ravel(), mdp.P_sparse, mdp.gamma, s_idx, a_idx)
    return qe.DiscreteDP(np.array(mdp.r), np.array(mdp.P), mdp.gamma)


# --------------------------------------------------------------------------- pymdptoolbox
def mdp_from_mdptoolbox(P, R, gamma: float) -> TabularMDP:
    """The discounted MDP of pymdptoolbox arrays: ``P`` in its **[A, S, S']** convention (actions first).

    Args:
        P: ``[A, S, S']`` array, or a sequence of ``A`` matrices ``[S, S']`` (dense or
            ``scipy.sparse``) as pymdptoolbox accepts; transposed to polopt's ``[S, A, S']``.
        R: ``[S]`` (reward of the state, for every action), ``[S, A]``, or ``[A, S, S']`` (reward per
            transition, reduced to the expected ``r[s, a] = sum_s' P[a, s, s'] R[a, s, s']``), or a
            sequence of ``A`` matrices ``[S, S']``.
        gamma: pymdptoolbox's ``discount``, in ``[0, 1)``.

    Passing pymdptoolbox's ``P`` straight to ``TabularMDP`` is rejected when ``S != A`` but solves a
    different MDP when ``S == A`` (``P[s, a]`` read as ``P[a, s]``); this importer says the convention.

    Raises:
        ValueError: shapes that do not fit ``[A, S, S']``, naming what was found.
    """
    if isinstance(P, (list, tuple)) or (isinstance(P, np.ndarray) and P.dtype == object):
        mats = [p.toarray() if sp.issparse(p) else p for p in P]
        P = as_float_array("P", np.stack([np.asarray(p, dtype=np.float64) for p in mats]), ndim=3)
    else:
        P = as_float_array("P", P, ndim=3)
    A, S, S2 = P.shape
    if S != S2:
        raise ValueError(f"P must have pymdptoolbox's shape [A, S, S'] with S' = S, got {P.shape}")
    if isinstance(R, (list, tuple)):
        R = np.stack([r.toarray() if sp.issparse(r) else np.asarray(r, dtype=np.float64) for r in R])
    R = as_float_array("R", R, ndim=(1, 2, 3))
    if R.shape == (S,):
        r = np.repeat(R[:, None], A, axis=1)
    elif R.shape == (S, A):
        r = np.array(R)
    elif R.shape == (A, S, S):
        r = np.einsum("ast,ast->sa", P, R)
    else:
        raise ValueError(f"R must have shape [S] = [{S}], [S, A] = [{S}, {A}] or [A, S, S'] = [{A}, {S}, {S}] "
                         f"(pymdptoolbox's conventions for P of shape {P.shape}), got {R.shape}")
    gamma = as_scalar("gamma", gamma, low=0.0, high=1.0, high_open=True)
    return TabularMDP(np.transpose(P, (1, 0, 2)), r, gamma=gamma)


# --------------------------------------------------------------------------- OpenSpiel
def openspiel_payoffs(game) -> tuple[np.ndarray, np.ndarray]:
    """``(U, V)`` [m, n]: the row and column players' payoffs of a two-player OpenSpiel matrix game.

    ``game``: a ``pyspiel.MatrixGame`` or the name of one (``"matrix_mp"``, ``"matrix_rps"``, ...).

    Raises:
        ValueError: not a two-player matrix game (e.g. ``kuhn_poker``: convert a sequential game with
            ``pyspiel.extensive_to_matrix_game`` first).
        ImportError: open_spiel is not installed.
    """
    pyspiel = _require("pyspiel", "from_openspiel")
    if isinstance(game, str):
        game = pyspiel.load_game(game)
    if not isinstance(game, pyspiel.MatrixGame):
        what = game.get_type().short_name if isinstance(game, pyspiel.Game) else type(game).__name__
        raise ValueError(f"game must be a two-player pyspiel.MatrixGame (pyspiel.load_matrix_game, "
                         f"create_matrix_game), got {what!r}; a sequential game can be converted with "
                         "pyspiel.extensive_to_matrix_game")
    U = np.array(game.row_utilities(), dtype=np.float64)
    V = np.array(game.col_utilities(), dtype=np.float64)
    return U, V


def _zero_sum_part(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``U - k/2`` for a constant-sum game ``U + V = k``; ValueError naming the first entry off ``k``."""
    total = U + V
    k = float(total.flat[0])
    tol = CONSTANT_SUM_RTOL * max(1.0, float(np.max(np.abs(U))))
    bad = np.abs(total - k) > tol
    if bad.any():
        i, j = (int(x) for x in np.argwhere(bad)[0])
        raise ValueError(f"the game is not zero-sum or constant-sum: row + column payoff at ({i}, {j}) is "
                         f"{total[i, j]:.12g} but {k:.12g} at (0, 0) (tolerance {tol:g}); MatrixGame and "
                         "PreferenceGame are two-player zero-sum")
    return U - 0.5 * k


def matrix_game_from_openspiel(game, beta: float = 0.0, reference=None, scale: float | None = None) -> MatrixGame:
    """``MatrixGame(U - k/2, beta, reference, scale)`` of a constant-sum OpenSpiel matrix game ``U + V = k``.

    Row player = OpenSpiel's player 0 (maximizes ``U``). Unit mapping (``c = scale``, default
    ``max |A|``): OpenSpiel's exploitability = ``2c`` x polopt's; its alpha-QRE = polopt's
    regularized equilibrium at ``beta = alpha / (2c)``.
    """
    U, V = openspiel_payoffs(game)
    return MatrixGame(_zero_sum_part(U, V), beta=beta, reference=reference, scale=scale)


def preference_game_from_openspiel(game, beta: float = 0.0, reference=None,
                                   scale: float | None = None) -> PreferenceGame:
    """``PreferenceGame(1/2 + S / (2c), reference, beta)`` of a symmetric constant-sum OpenSpiel matrix game.

    Symmetric: ``V = U^T`` (the column player at ``(i, j)`` gets what the row player gets at
    ``(j, i)``); then ``S = U - k/2`` is skew-symmetric. ``c = scale`` (default ``max |S|``): the
    same normalization as :func:`matrix_game_from_openspiel`, so both give the same equilibria.

    Raises:
        ValueError: a non-square or non-symmetric game (use :func:`matrix_game_from_openspiel`).
    """
    U, V = openspiel_payoffs(game)
    if U.shape[0] != U.shape[1] or np.max(np.abs(V - U.T)) > CONSTANT_SUM_RTOL * max(1.0, float(np.max(np.abs(U)))):
        raise ValueError(f"a PreferenceGame is a symmetric game (column payoffs = row payoffs transposed); this "
                         f"game ({U.shape[0]} x {U.shape[1]}) is not: use MatrixGame.from_openspiel")
    normalized = MatrixGame(_zero_sum_part(U, V), scale=scale).G  # the one place that validates the scale
    return PreferenceGame(0.5 + normalized, reference=reference, beta=beta)
