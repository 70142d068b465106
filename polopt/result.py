"""The result contract shared by every method of :func:`polopt.solve`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ._base import CONVERGED, MAX_ITER, NONFINITE, STATUSES, NotConvergedWarning

__all__ = [
    "CONVERGED",
    "MAX_ITER",
    "NONFINITE",
    "STATUSES",
    "LazyCertificates",
    "NotConvergedWarning",
    "Optimum",
    "SolveResult",
]


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
        status: "converged" | "max_iter" | "nonfinite".
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

    def __repr__(self) -> str:
        certs = ", ".join(f"{k}={float(np.asarray(v)[-1]):.3g}" for k, v in self.certificates.items())
        return (
            f"SolveResult(method={self.method!r}, status={self.status!r}, num_iter={self.num_iter}, "
            f"final certificates: {certs or 'none'})"
        )
