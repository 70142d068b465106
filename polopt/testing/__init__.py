"""Public testing helpers: hypothesis strategies (``polopt.testing.strategies``, needs the
``test`` extra) and tolerances by purpose (``polopt.testing.tolerances``)."""

from . import tolerances


def __getattr__(name):
    # strategies imports hypothesis, which only the ``test`` extra installs: load it on demand
    if name == "strategies":
        from . import strategies

        return strategies
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["strategies", "tolerances"]
