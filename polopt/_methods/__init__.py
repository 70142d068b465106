"""Adapters registering exact solvers and rules as ``solve`` methods."""

from __future__ import annotations


def reject_unknown(method: str, hparams: dict, allowed: tuple[str, ...]) -> None:
    """TypeError naming every hyper-parameter ``method`` does not accept, and those it does."""
    unknown = sorted(set(hparams) - set(allowed))
    if unknown:
        raise TypeError(
            f"{method} got unknown hyper-parameter(s) {', '.join(unknown)}; accepted: {', '.join(allowed) or 'none'}"
        )
