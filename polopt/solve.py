"""``solve(problem, method=None, **hparams) -> SolveResult`` and the one driver of update rules.

The method names come from the table in :mod:`polopt.methods`. ``solve`` validates the common
arguments (``iters``, ``seed``), picks the certified exact solver when no method is named
(:func:`default_method`), dispatches, and never returns silently after ``iters``: a run that
stops on its iteration limit (or on a non-finite value) has ``status="max_iter"`` (``"nonfinite"``)
and issues a :class:`~polopt.result.NotConvergedWarning`.

:func:`run_rule` is the loop every update rule runs through: it stops at ``tol`` *during* the
run (the stopping certificate is evaluated once per chunk of iterations, on the recorded
iterates), detects non-finite policies, and keeps only what is recorded (``record`` = every
how many iterations), so memory does not grow with ``iters`` beyond the record.

Progress for long work (:mod:`polopt._progress`): ``solve(..., progress=None, callback=None)``
shows a tqdm bar once an update-rule run has lasted 2 s (in a terminal or a notebook, never under
pytest) and calls ``callback(t, state)`` at every recorded iterate; a truthy return stops the run
with status ``"stopped"`` (no warning: the caller asked). Exact solvers refuse a callback.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ._base import COMPLETED, CONVERGED, MAX_ITER, NONFINITE, STOPPED, NotConvergedWarning
from ._deprecation import rename, renamed_of
from ._progress import RUN_OPTIONS, RunOptions, progress_bar, run_options
from ._validation import as_positive_int
from .methods import lookup, register, table  # noqa: F401  (register: the adapters' decorator)
from .oracles import check_seed
from .problems import (
    AdversarialMDP,
    Bandit,
    ContextualBandit,
    ContextualPreferenceGame,
    LinearMixtureMDP,
    MatrixGame,
    PreferenceGame,
    TabularMDP,
)
from .result import SolveResult

PROBLEM_TYPES = (Bandit, ContextualBandit, TabularMDP, LinearMixtureMDP, PreferenceGame, ContextualPreferenceGame,
                 AdversarialMDP, MatrixGame)
#: Iterations per chunk of :func:`run_rule` (the stopping certificate is evaluated once per chunk):
#: short chunks first so that a run meeting ``tol`` early stops early, long ones later so that the
#: per-chunk overhead vanishes.
CHUNK_SIZES = (8, 32, 128, 512, 2048)


class Trajectory(NamedTuple):
    """What :func:`run_rule` returns.

    ``records`` [N, ...]: the recorded arrays (``record_of(state)``) of iterates ``steps`` [N] (int;
    iterate 0 = the initial state, the last record is the final iterate); ``state``: the final state;
    ``status``; ``num_iter``: updates made; ``stop_values`` [N]: the stopping certificate at each
    record (None without ``stop``).
    """

    records: np.ndarray
    steps: np.ndarray
    state: Any
    status: str
    num_iter: int
    stop_values: np.ndarray | None


def _finite_log(x: np.ndarray) -> bool:
    # -inf is a zero probability, a valid log-policy entry; NaN and +inf are not
    return bool(np.all(np.isfinite(x) | (x == -np.inf)))


def run_rule(rule, oracle, state, iters: int, *, record_of: Callable[[Any], Any] | None = None,
             stop: Callable[[np.ndarray], np.ndarray] | None = None, tol: float | None = None,
             record: int = 1, progress: bool | None = None,
             callback: Callable[[int, Any], Any] | None = None) -> Trajectory:
    """Run ``state <- rule.update(state, oracle)`` up to ``iters`` times.

    Args:
        rule: a :class:`~polopt.rules.Rule`.
        oracle: the rule's oracle.
        state: the initial state (``rule.init(...)``).
        iters: update budget.
        record_of: ``state -> array`` recorded per kept iterate (default ``state.log_pi``; log-domain,
            ``-inf`` allowed).
        stop: ``records [n, ...] -> values [n]``, the stopping certificate; the run stops at the first
            recorded iterate with value ``<= tol`` (status ``"converged"``).
        tol: stopping tolerance (needs ``stop``).
        record: keep every ``record``-th iterate (and always the first and the last).
        progress: show a progress bar (None: the ``solve`` call's choice, else automatic; see
            :mod:`polopt._progress`).
        callback: ``callback(t, state)`` at every recorded iterate; a truthy return stops the run
            (status ``"stopped"``). None: the ``solve`` call's.

    Status: ``"converged"`` (``stop <= tol``), ``"nonfinite"`` (an update produced NaN / +inf: nothing
    after the last finite iterate is kept), ``"stopped"`` (by ``callback``; the stopping certificate is
    evaluated per chunk, so a ``tol`` met earlier in the chunk wins), else ``"max_iter"``.
    """
    options = RUN_OPTIONS.get()
    progress = options.progress if progress is None else progress
    callback = options.callback if callback is None else callback
    record_of = record_of or (lambda s: s.log_pi)
    first = np.asarray(record_of(state), dtype=np.float64)
    recs, steps, vals = [first[None]], [np.zeros(1, dtype=np.int64)], []
    if stop is not None:
        vals.append(np.asarray(stop(first[None]), dtype=np.float64))
        if tol is not None and vals[0][0] <= tol:
            return Trajectory(first[None], steps[0], state, CONVERGED, 0, vals[0])
    if callback is not None and callback(0, state):
        return Trajectory(first[None], steps[0], state, STOPPED, 0, vals[0] if vals else None)
    bar = progress_bar(progress, iters, options.label or rule.name)
    try:
        status, state, done = _loop(rule, oracle, state, iters, record_of, stop, tol, record, callback, bar, recs,
                                    steps, vals)
    finally:
        if bar is not None:
            bar.close()
    return Trajectory(np.concatenate(recs), np.concatenate(steps), state, status, done,
                      np.concatenate(vals) if vals else None)


def _loop(rule, oracle, state, iters, record_of, stop, tol, record, callback, bar, recs, steps, vals):
    """The chunked update loop of :func:`run_rule`; appends to ``recs``, ``steps``, ``vals``."""
    status, done, chunk_i = MAX_ITER, 0, 0
    while done < iters and status == MAX_ITER:
        n = min(CHUNK_SIZES[min(chunk_i, len(CHUNK_SIZES) - 1)], iters - done)
        chunk_i += 1
        rows, idx = [], []
        for _ in range(n):
            new = rule.update(state, oracle)
            x = np.asarray(record_of(new), dtype=np.float64)
            if not _finite_log(x):
                status = NONFINITE
                break
            state, done = new, done + 1
            if bar is not None:
                bar.update(1)
            if done % record == 0 or done == iters:
                rows.append(x)
                idx.append(done)
                if callback is not None and callback(done, state):
                    status = STOPPED
                    break
        if status == NONFINITE and (not idx or idx[-1] != done) and done > 0:
            rows.append(np.asarray(record_of(state), dtype=np.float64))
            idx.append(done)
        if not rows:
            continue
        block, at = np.stack(rows), np.asarray(idx, dtype=np.int64)
        if stop is not None:
            v = np.asarray(stop(block), dtype=np.float64)
            met = np.flatnonzero(v <= tol) if tol is not None else np.empty(0, dtype=np.int64)
            if met.size:
                cut = int(met[0]) + 1
                block, at, v = block[:cut], at[:cut], v[:cut]
                done, status = int(at[-1]), CONVERGED
            if bar is not None and v.size:
                bar.set_postfix_str(f"stop certificate {v[-1]:.3g}", refresh=False)
            vals.append(v)
        recs.append(block)
        steps.append(at)
    return status, state, done


# --------------------------------------------------------------------------- the entry point
def _check_problem(problem) -> None:
    if not isinstance(problem, PROBLEM_TYPES):
        names = ", ".join(t.__name__ for t in PROBLEM_TYPES)
        raise TypeError(f"problem must be one of {names}; got {type(problem).__name__}")


def _names(problem) -> list[str]:
    out = []
    for row in table().values():
        if row.applies(problem):
            out += [row.name, *row.aliases]
    return sorted(out)


def methods(problem=None) -> list[str]:
    """Names that :func:`solve` accepts for ``problem`` (aliases included; every name if None)."""
    if problem is None:
        return sorted(n for row in table().values() for n in (row.name, *row.aliases))
    _check_problem(problem)
    return _names(problem)


def describe(problem=None) -> dict[str, str]:
    """``{name: one-line summary}`` for the methods that apply to ``problem``."""
    out = {}
    for name in methods(problem):
        row = lookup(name)
        out[name] = row.summary if name == row.name else f"alias of {row.name}: {row.summary}"
    return out


def default_method(problem) -> str:
    """The certified exact solver ``solve(problem)`` runs when no method is named.

    discounted MDP: ``"solve_mdp"`` (optimistic policy iteration certified by MacQueen bounds), or with
    ``beta > 0`` (the KL-regularized objective) ``"soft_value_iteration"`` with the MDP's beta and reference;
    finite horizon (and a bandit without KL term): ``"backward_induction"``; average reward:
    ``"relative_value_iteration"``; episodic total reward (``terminal=``): ``"policy_iteration"``;
    preference game: ``"nash"`` (beta = 0) or
    ``"regularized_nash"``, likewise for a matrix game; KL-regularized bandit: ``"regularized_optimum"``
    (the Gibbs policy); adversarial MDP: ``"best_fixed_policy"`` (the best fixed policy in hindsight).
    """
    _check_problem(problem)
    if isinstance(problem, TabularMDP) and getattr(problem, "beta", 0.0) > 0:
        return "soft_value_iteration"
    if isinstance(problem, (TabularMDP, LinearMixtureMDP)):
        return {"discounted": "solve_mdp", "finite_horizon": "backward_induction",
                "average": "relative_value_iteration", "total": "policy_iteration"}[problem.criterion]
    if isinstance(problem, (PreferenceGame, ContextualPreferenceGame, MatrixGame)):
        return "regularized_nash" if problem.beta > 0 else "nash"
    if isinstance(problem, AdversarialMDP):
        return "best_fixed_policy"
    return "regularized_optimum" if problem.beta > 0 else "backward_induction"


def solve(problem, method: str | None = None, iters: int = 1000, init=None, seed=None, *, progress: bool | None = None,
          callback: Callable[[int, Any], Any] | None = None, **hparams) -> SolveResult:
    """Solve ``problem`` with ``method``; the contract is that of :class:`~polopt.result.SolveResult`.

    Args:
        problem: a polopt problem instance.
        method: a name from :func:`methods(problem) <methods>`; None = :func:`default_method`, the
            certified exact solver for the problem's kind (``res.method`` says which).
        iters: iteration budget (exact methods: maximum number of sweeps / improvements).
        init: initial policy ([K], [S, A]) or method-specific initial value; default uniform
            or the reference.
        seed: seed for sampled methods (None, a non-negative int, a SeedSequence or a Generator;
            checked for every method).
        progress: a progress bar for update rules (None: automatic, shown after
            ``polopt._progress.PROGRESS_DELAY_S`` s in a terminal or notebook, never under pytest; True / False).
        callback: ``callback(t, state)`` at every recorded iterate of an update rule; a truthy
            return stops the run with status ``"stopped"`` (no warning). Exact solvers refuse it.
        **hparams: hyper-parameters by their maths names (eta, tau, eps, ...; README "Notation"). A renamed
            one (``tau=`` of relative_value_iteration and ipo, ``eta_mu=``, ``lam=`` of the bounded-ratio rules)
            is still accepted with a DeprecationWarning naming the new one; old and new together: TypeError.

    Raises:
        ValueError: unknown method or one that does not apply (the message lists the valid
            names), bad hyper-parameters, a callback for an exact solver.
        TypeError: ``problem`` is not a polopt problem; a seed of the wrong type; a callback that
            is not callable, a progress that is not None / True / False.
    """
    _check_problem(problem)
    if method is None:
        method = default_method(problem)
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, got {type(method).__name__}")
    row = lookup(method)
    # one predicate on the way in; the list of every applicable name only for an error message
    if row is None:
        raise ValueError(f"unknown method {method!r}; valid methods for {problem!r}: {', '.join(methods(problem))}")
    if not row.applies(problem):
        why = f": it needs {row.needs}" if row.needs else ""
        raise ValueError(
            f"method {method!r} does not apply to {problem!r}{why}; valid methods: {', '.join(methods(problem))}"
        )
    iters = as_positive_int("iters", iters, minimum=0)
    check_seed(seed)
    if progress not in (None, True, False):
        raise TypeError(f"progress must be None, True or False, got {progress!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(t, state), got {type(callback).__name__}")
    if callback is not None and row.rule is None:
        raise ValueError(f"callback applies to update rules; {method!r} is an exact solver without a rule loop")
    # renamed hyper-parameters (README "Notation"): the old name warns and is translated before any check
    hparams = rename(method, hparams, renamed_of(row.rule, row.run))
    with run_options(RunOptions(progress, callback, method)):
        res = row.run(problem, iters=iters, init=init, seed=seed, **hparams)
    if res.method != method:
        res = res._replace(method=method)
    if res.status == CONVERGED and not _finite_value(res.value):
        res = res._replace(status=NONFINITE)
    if res.status not in (CONVERGED, STOPPED, COMPLETED):
        warnings.warn(
            f"{method} stopped with status {res.status!r} after {res.num_iter} iterations; "
            + ("a value overflowed or is NaN: rescale the rewards" if res.status == NONFINITE
               else "increase iters or check the hyper-parameters"),
            NotConvergedWarning,
            stacklevel=2,
        )
    return res


def _finite_value(value) -> bool:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return True
    return bool(np.all(np.isfinite(arr)))
