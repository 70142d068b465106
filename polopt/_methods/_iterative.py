"""``step_size``: the step-size check of the adapters that do not yet validate in a Rule factory.

The loop every update rule runs through is :func:`polopt.solve.run_rule`; the factories in
:mod:`polopt.rules` validate their own steps with :func:`polopt.rules._core.step_size`.
"""

from __future__ import annotations

from .._validation import as_scalar


def step_size(name: str, value, default=None) -> float:
    """A step size ``> 0`` (``inf`` allowed where the rule defines the limit); clear error otherwise."""
    if value is None:
        if default is None:
            raise TypeError(f"{name} is required (a step size > 0)")
        value = default
    return as_scalar(name, value, low=0.0, low_open=True, allow_inf=True)
