"""Results as tables: ``res.to_frame()`` and ``po.compare(problem, methods=[...], seeds=[...])``.

Both return a pandas DataFrame in long format, one row per (run, certificate, recorded iterate),
so that ``frame.groupby(...)``, ``seaborn`` and ``po.plotting.plot_compare`` take it as is:

========== ===================================================================================
column     meaning
========== ===================================================================================
method     the method name the run was called with
hparams    the hyper-parameters the run used, as one string ``"eta=2.0, tol=1e-12"`` (None
           values left out; floats written exactly, by ``repr``)
seed       the seed of the run (``po.compare`` only; nullable integer, <NA> for None)
status     the run's status ("converged", "max_iter", "nonfinite", "stopped")
certificate the certificate name (a key of ``res.certificates``)
iterate    the iterate index t (``info["recorded"]`` when the run kept every k-th iterate)
value      the certificate at iterate t (float64)
========== ===================================================================================

pandas is imported when a frame is built, not with polopt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .result import recorded_iterates

COLUMNS = ("method", "hparams", "status", "certificate", "iterate", "value")
COMPARE_COLUMNS = ("method", "hparams", "seed", "status", "certificate", "iterate", "value")


def _format_value(v) -> str:
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, (np.integer, np.bool_)):
        return repr(v.item())
    if isinstance(v, np.ndarray):
        return f"array{list(v.shape)}"
    return repr(v) if isinstance(v, str) else str(v)


def format_hparams(hparams: Mapping) -> str:
    """``"eta=2.0, tol=1e-12"``: the hyper-parameters in their order, None values left out."""
    return ", ".join(f"{k}={_format_value(v)}" for k, v in (hparams or {}).items() if v is not None)


def _names(res, certificates) -> list[str]:
    if certificates is None:
        return list(res.certificates)
    names = [certificates] if isinstance(certificates, str) else list(certificates)
    missing = [n for n in names if n not in res.certificates]
    if missing:
        raise ValueError(f"certificates: the result of {res.method!r} has no certificate {missing[0]!r}; "
                         f"it has {sorted(res.certificates)}")
    return names


def _columns(res, certificates) -> dict[str, np.ndarray]:
    """The long-format columns of one result (only the named certificates are computed)."""
    names, iters, values = [], [], []
    for name in _names(res, certificates):
        y = np.asarray(res.certificates[name], dtype=np.float64).reshape(-1)
        names.append(np.full(y.shape[0], name, dtype=object))
        iters.append(recorded_iterates(res, y.shape[0]))
        values.append(y)
    n = sum(len(v) for v in values)

    def cat(parts, dtype):
        return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)

    return {
        "method": np.full(n, res.method, dtype=object),
        "hparams": np.full(n, format_hparams(res.hparams), dtype=object),
        "status": np.full(n, res.status, dtype=object),
        "certificate": cat(names, object),
        "iterate": cat(iters, np.int64),
        "value": cat(values, np.float64),
    }


def to_frame(res, certificates: str | Iterable[str] | None = None):
    """``res`` as a long DataFrame with columns :data:`COLUMNS` (see the module docstring).

    Args:
        res: a :class:`~polopt.result.SolveResult`.
        certificates: a name or names of ``res.certificates`` to report; default all. Only the
            certificates reported are computed (they are lazy); iterates are never read.

    Raises:
        ValueError: a named certificate that ``res`` does not have (the message lists those it has).
    """
    import pandas as pd

    return pd.DataFrame(_columns(res, certificates), columns=list(COLUMNS))


def _method_specs(methods) -> list[tuple[str, dict]]:
    if isinstance(methods, str) or not isinstance(methods, Sequence) or len(methods) == 0:
        raise TypeError(f"methods must be a non-empty list of names or (name, hparams) pairs, got {methods!r}")
    out = []
    for i, spec in enumerate(methods):
        if isinstance(spec, str):
            out.append((spec, {}))
        elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], Mapping):
            out.append((spec[0], dict(spec[1])))
        else:
            raise TypeError(f"methods[{i}] must be a name or a (name, hparams dict) pair, got {spec!r}")
    return out


def _seeds(seeds) -> list[int | None]:
    seeds = [None] if seeds is None else list(seeds)
    if not seeds:
        raise ValueError("seeds must be None or a non-empty list of non-negative ints")
    for i, s in enumerate(seeds):
        if s is not None and (isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0):
            raise TypeError(f"seeds[{i}] must be a non-negative int or None (a frame labels runs by it), got {s!r}")
    return [None if s is None else int(s) for s in seeds]


def compare(problem, methods, seeds=None, *, iters: int = 1000, certificates=None, **hparams):
    """Run every method on ``problem`` for every seed and return one long DataFrame.

    ``po.compare(mdp, methods=["npg", "softmax_pg", ("ppo", {"eps": 0.1})], seeds=[0, 1], iters=200,
    eta=1.0)`` runs ``po.solve(problem, method=m, iters=iters, seed=s, **hp)`` for each method ``m``
    and seed ``s``. Its frame has the columns :data:`COMPARE_COLUMNS` (see the module docstring);
    ``po.plotting.plot_compare(frame, "suboptimality")`` draws it.

    Hyper-parameters: a ``(name, {...})`` pair gives one method its own; the keyword ``**hparams``
    are common: each goes to the update rules that take it (a name of the method table's
    ``hparam_names()``), never to exact solvers (give those theirs in a pair). The ``hparams``
    column says what each run used. A common hyper-parameter that no method takes is an error.

    Args:
        problem: a polopt problem.
        methods: method names or ``(name, hparams)`` pairs (a name may appear twice with different
            hparams).
        seeds: seeds of the runs (ints or None; default one run with ``seed=None``). Every
            (method, seed) pair runs, deterministic methods too.
        iters: the iteration budget of every run.
        certificates: the certificate names to report (default: every certificate of each run).
        **hparams: common hyper-parameters.

    Raises:
        ValueError / TypeError: from ``po.solve`` (unknown method, one that does not apply, bad
            hyper-parameters), a common hyper-parameter no method takes, bad ``methods`` / ``seeds``.
    """
    import pandas as pd

    from .methods import lookup
    from .solve import solve

    specs, seed_list = _method_specs(methods), _seeds(seeds)
    taken: set[str] = set()
    runs = []
    for name, own in specs:
        row = lookup(name)
        accepted = set(row.hparam_names()) if row is not None and row.rule is not None else set()
        common = {k: v for k, v in hparams.items() if k in accepted and k not in own}
        taken.update(common)
        runs.append((name, {**common, **own}))
    unused = sorted(set(hparams) - taken)
    if unused:
        raise ValueError(f"hyper-parameter(s) {', '.join(unused)} are taken by none of the methods "
                         f"{[n for n, _ in specs]}; give an exact solver its options as a (name, {{...}}) pair")
    parts = []
    for name, hp in runs:
        for seed in seed_list:
            res = solve(problem, method=name, iters=iters, seed=seed, **hp)
            cols = _columns(res, certificates)
            n = len(cols["value"])
            cols["seed"] = pd.array([seed] * n, dtype="Int64")
            parts.append(pd.DataFrame(cols, columns=list(COMPARE_COLUMNS)))
    return pd.concat(parts, ignore_index=True)
