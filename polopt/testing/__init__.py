"""Public testing helpers: hypothesis strategies and tolerances by purpose."""

from . import tolerances

__all__ = ["tolerances"]
