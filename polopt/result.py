"""The result contract shared by every method of :func:`polopt.solve`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ._base import COMPLETED, CONVERGED, MAX_ITER, NONFINITE, STATUSES, STOPPED, NotConvergedWarning

__all__ = [
    "CONVERGED",
    "MAX_ITER",
    "NONFINITE",
    "STATUSES",
    "COMPLETED",
    "STOPPED",
    "LazyCertificates",
    "NotConvergedWarning",
    "Optimum",
    "SolveResult",
]


def recorded_iterates(res, n: int) -> np.ndarray:
    """Iterate indices of the ``n`` entries of a certificate of ``res``.

    ``info["recorded"]`` (the kept iterates of a run with ``record=k``) when it has ``n`` entries,
    else ``0, 1, ..., n - 1`` (every iterate kept).
    """
    info = res.info if isinstance(res.info, Mapping) else {}
    rec = info.get("recorded")
    if rec is not None and np.ndim(rec) == 1 and len(rec) == n:
        return np.asarray(rec, dtype=np.int64)
    return np.arange(n, dtype=np.int64)


class LazyCertificates(Mapping):
    """``name -> array`` whose entries are computed when first read, then kept.

    Built from ``{name: array or zero-argument callable}``: a run pays only for the certificates
    somebody reads (the stopping certificate, computed during the run, is passed as an array).
    ``dict(res.certificates)`` computes them all.
    """

    def __init__(self, entries: Mapping[str, np.ndarray | Callable[[], np.ndarray]]):
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> np.ndarray:
        value = self._entries[name]
        if callable(value):
            value = np.asarray(value())
            value.setflags(write=False)
            self._entries[name] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def computed(self) -> list[str]:
        """The names already computed (for tests and profiling)."""
        return [k for k, v in self._entries.items() if not callable(v)]

    def __repr__(self) -> str:
        return f"LazyCertificates({', '.join(self._entries)})"


class Optimum(NamedTuple):
    """The exact solution certificates are measured against.

    ``policy``: an optimal (or equilibrium) policy; ``value``: its value (V [S], V [H, S],
    gain [S], or the game value); ``bias``: the bias [S] for average reward, else None.
    """

    policy: np.ndarray
    value: Any
    bias: np.ndarray | None = None


class SolveResult(NamedTuple):
    """What :func:`polopt.solve` returns, for exact methods and update rules alike.

    Attributes:
        policy: final policy, [K] or [S, A] (or [H, S, A]).
        iterates: [T+1, ...] policies, iterate 0 = init.
        value: value of ``policy`` (V [S], V [H, S], gain [S], or game value).
        optimum: the :class:`Optimum` the certificates are measured against.
        certificates: name -> array [T+1] ("suboptimality", "bellman_residual", ...).
        status: "converged" | "max_iter" | "nonfinite" | "stopped" (by the ``callback`` of ``po.solve``).
        method: the method name; hparams: the hyper-parameters used; num_iter: T.
        average: averaged iterates [T+1, ...] where the method defines them, else None.
        bias: bias [S] of ``policy`` (average reward), else None.
        info: extra method-specific outputs (e.g. "v_lower"/"v_upper" certified bounds
            of value iteration, "values" [T+1, S] of value-based methods).
        problem: the problem solved (so that ``theory.check`` can evaluate bounds).
    """

    policy: np.ndarray
    iterates: np.ndarray
    value: Any
    optimum: Optimum | None
    certificates: Mapping[str, np.ndarray]
    status: str
    method: str
    hparams: Mapping[str, Any]
    num_iter: int
    average: np.ndarray | None = None
    bias: np.ndarray | None = None
    info: Mapping[str, Any] = {}
    problem: Any = None

    def to_frame(self, certificates=None):
        """The certificates as a long pandas DataFrame, one row per (certificate, recorded iterate).

        Columns ``method``, ``hparams`` (``"eta=2, tol=1e-12"``), ``status``, ``certificate``,
        ``iterate`` (the iterate index: ``info["recorded"]`` when the run kept every k-th) and
        ``value``. ``certificates``: the names to report (default: all); only those are computed.
        See :func:`polopt.frames.to_frame`.
        """
        from .frames import to_frame

        return to_frame(self, certificates)

    def save(self, path):
        """Write this result to ``path`` (``.npz`` arrays + JSON metadata, no pickle); read it back with
        :func:`polopt.load`. See :func:`polopt.io.save`."""
        from .io import save

        return save(self, path)

    def __repr__(self) -> str:
        certs = ", ".join(f"{k}={float(np.asarray(v)[-1]):.3g}" for k, v in self.certificates.items())
        return (
            f"SolveResult(method={self.method!r}, status={self.status!r}, num_iter={self.num_iter}, "
            f"final certificates: {certs or 'none'})"
        )


class OneHotIterates:
    """Deterministic iterates stored as action indices, read as the one-hot policies they are.

    ``sigmas`` int [T+1, ...] (the action of each state at each iterate), ``num_actions`` A;
    ``first`` an optional dense policy for iterate 0 (a stochastic ``init``), or a zero-argument
    callable returning it, called when iterate 0 is first read. Memory is
    ``(T+1) S`` small integers instead of ``(T+1) S A`` floats; ``np.asarray(it)``, ``it[k]``,
    ``it.shape``, ``len(it)`` and every ndarray method (through the dense array, built on demand)
    read as the ``[T+1, ..., A]`` array of the result contract.
    """

    __array_priority__ = 1.0

    def __init__(self, sigmas, num_actions: int, first=None):
        sigmas = np.asarray(sigmas)
        A = int(num_actions)
        # the smallest integer type that holds an action index: 1 byte per state when A <= 127
        self._sigmas = sigmas.astype(np.min_scalar_type(-max(A, 1)), copy=False)
        self._A = A
        # a zero-argument callable is called when iterate 0 is first read (a default start that
        # costs an [S, A] array is then built only if someone looks at it)
        self._first = first if first is None or callable(first) else np.asarray(first, dtype=np.float64)

    def _first_policy(self) -> np.ndarray | None:
        if callable(self._first):
            self._first = np.asarray(self._first(), dtype=np.float64)
        return self._first

    @property
    def first(self) -> np.ndarray | None:
        """The dense policy of iterate 0, or None when iterate 0 is deterministic like the others."""
        return self._first_policy()

    @property
    def sigmas(self) -> np.ndarray:
        """The action indices [T+1, ...]."""
        return self._sigmas

    @property
    def shape(self) -> tuple[int, ...]:
        return self._sigmas.shape + (self._A,)

    @property
    def ndim(self) -> int:
        return self._sigmas.ndim + 1

    @property
    def dtype(self):
        return np.dtype(np.float64)

    def __len__(self) -> int:
        return self._sigmas.shape[0]

    def _dense(self, sigmas, first_row: bool) -> np.ndarray:
        out = (sigmas[..., None] == np.arange(self._A)).astype(np.float64)
        if first_row and self._first is not None:
            out[0] = self._first_policy()
        return out

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            k = int(key) % len(self)
            if k == 0 and self._first is not None:
                return self._first_policy().copy()
            return self._dense(self._sigmas[k], False)
        return np.asarray(self)[key]

    def __array__(self, dtype=None, copy=None):
        out = self._dense(self._sigmas, True)
        return out if dtype is None else out.astype(dtype)

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(np.asarray(self), name)

    def __repr__(self) -> str:
        return f"OneHotIterates(shape={self.shape})"


def _delegate(op: str):
    def method(self, *args):
        return getattr(np.asarray(self), op)(*args)

    method.__name__ = op
    return method


for _op in ("add", "sub", "mul", "truediv", "pow", "eq", "ne", "lt", "le", "gt", "ge", "matmul"):
    for _name in (f"__{_op}__", f"__r{_op}__"):
        if hasattr(np.ndarray, _name):
            setattr(OneHotIterates, _name, _delegate(_name))
OneHotIterates.__neg__ = _delegate("__neg__")
OneHotIterates.__array_ufunc__ = lambda self, ufunc, method, *inputs, **kw: getattr(ufunc, method)(
    *(np.asarray(x) if isinstance(x, OneHotIterates) else x for x in inputs), **kw)
