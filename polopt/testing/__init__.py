"""Public testing helpers: hypothesis strategies (``polopt.testing.strategies``, needs the
``test`` extra) and tolerances by purpose (``polopt.testing.tolerances``)."""

from . import tolerances


def __getattr__(name):
    # strategies imports hypothesis, which only the ``test`` extra installs: load it on demand
    if name == "strategies":
        import importlib

        # import_module, not ``from . import``: the latter re-enters this __getattr__ and recurses
        return importlib.import_module(f"{__name__}.strategies")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["strategies", "tolerances"]
