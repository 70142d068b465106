"""Device mesh, parameter partition rules and sharding checks for ``gpu/``.

One mesh with three named axes, always in JAX's *Auto* mode (global view; the compiler
propagates shardings from the annotations on inputs and outputs)::

    data   pure data parallelism: the batch is split, parameters are replicated
    fsdp   fully sharded data parallelism: the batch AND the parameters are split
    tp     tensor parallelism: matmul dimensions (heads, MLP width, vocabulary) are split

The batch axis of every input is sharded over ``("data", "fsdp")``; parameters follow
:data:`PARTITION_RULES` (regex on the parameter's path -> ``PartitionSpec``), the layout of
tunix's Llama and MaxText (``../shared/papers/llm_scale.md`` section 7): embedding
``P("tp", "fsdp")`` (absolute positions ``P(None, "fsdp")``: max_len need not divide tp), q/k/v
and the MLP input ``P("fsdp", "tp")``, the attention output and
the MLP output ``P("tp", "fsdp")``, norms replicated; stacked layers carry a leading
unsharded layer axis.

A mesh is written ``"8"`` (data only), ``"2x4"`` (data x fsdp) or ``"2x2x2"``
(data x fsdp x tp). :func:`check_mesh` rejects a shape that does not use exactly the
available devices, or whose data x fsdp does not divide the batch, before anything is
compiled. Multi-host runs call :func:`initialize_distributed` (``jax.distributed``) first in
every process; the mesh then spans ``jax.devices()``, all processes' devices.

``axis_types`` is passed explicitly: ``jax.make_mesh``'s default became ``Explicit`` in
JAX 0.9, and the step here is written for Auto (llm_scale.md section 4).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import jax
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

#: The mesh axes, outermost first.
AXES = ("data", "fsdp", "tp")
#: The mesh axes the batch is split over.
BATCH_AXES = ("data", "fsdp")

#: Parameter path (``"/"``-joined pytree keys) -> PartitionSpec. First match wins; a path that
#: matches none is replicated. ``layers/...`` arrays are stacked [L, ...] (the layer axis stays whole).
PARTITION_RULES: tuple[tuple[str, P], ...] = (
    (r"^embed$", P("tp", "fsdp")),
    (r"^pos_embed$", P(None, "fsdp")),
    (r"^head$", P("fsdp", "tp")),
    (r"^layers/w[qkv]$", P(None, "fsdp", "tp")),
    (r"^layers/wo$", P(None, "tp", "fsdp")),
    (r"^layers/w_(gate|up)$", P(None, "fsdp", "tp")),
    (r"^layers/w_down$", P(None, "tp", "fsdp")),
    (r"norm", P()),
)


def parse_mesh(spec: str | int | Sequence[int]) -> tuple[int, int, int]:
    """``"8"`` -> (8, 1, 1); ``"2x4"`` -> (2, 4, 1); ``"2x2x2"`` -> (2, 2, 2) as (data, fsdp, tp).

    Also accepts an int (data only) or a sequence of 1-3 positive ints. Raises ValueError naming
    the argument, the expected form and the first bad factor.
    """
    if isinstance(spec, bool):
        raise TypeError(f"mesh must be a string like '2x4', an int or a sequence of ints, got {spec!r}")
    if isinstance(spec, int):
        parts: list = [spec]
    elif isinstance(spec, str):
        parts = spec.strip().lower().split("x")
    elif isinstance(spec, Sequence):
        parts = list(spec)
    else:
        raise TypeError(f"mesh must be a string like '2x4', an int or a sequence of ints, got {type(spec).__name__}")
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"mesh must have 1 to 3 factors (data x fsdp x tp), got {len(parts)} in {spec!r}")
    shape = []
    for i, part in enumerate(parts):
        if isinstance(part, str) and part.strip().isdigit():
            n = int(part)
        elif isinstance(part, int) and not isinstance(part, bool):
            n = part
        else:
            n = 0
        if n < 1:
            raise ValueError(f"mesh factor {i} ({AXES[i]}) must be a positive integer, got {part!r} in {spec!r}")
        shape.append(n)
    return tuple(shape + [1] * (3 - len(shape)))  # type: ignore[return-value]


def check_mesh(shape: Sequence[int], num_devices: int, batch: int | None = None) -> None:
    """ValueError unless data*fsdp*tp == num_devices and data*fsdp divides ``batch`` (if given)."""
    total = 1
    for n in shape:
        total *= n
    if total != num_devices:
        raise ValueError(
            f"mesh {'x'.join(map(str, shape))} uses {total} devices, expected the {num_devices} available "
            "(data x fsdp x tp must equal the device count)"
        )
    if batch is not None:
        split = shape[0] * shape[1]
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive int, got {batch!r}")
        if batch % split:
            raise ValueError(
                f"batch {batch} is not divisible by data x fsdp = {shape[0]} x {shape[1]} = {split} "
                f"(mesh {'x'.join(map(str, shape))}); the batch is split over (data, fsdp)"
            )


def make_mesh(spec: str | int | Sequence[int] = "1", *, batch: int | None = None, devices=None) -> Mesh:
    """A (data, fsdp, tp) mesh in Auto mode over ``devices`` (default: all of ``jax.devices()``)."""
    shape = parse_mesh(spec)
    devices = list(jax.devices() if devices is None else devices)
    check_mesh(shape, len(devices), batch)
    return jax.make_mesh(shape, AXES, axis_types=(AxisType.Auto,) * len(AXES), devices=devices)


def path_name(path) -> str:
    """``"layers/wq"`` for the pytree key path of ``params["layers"]["wq"]``."""
    return "/".join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


def spec_for(name: str, rules: Sequence[tuple[str, P]] = PARTITION_RULES) -> P:
    """The PartitionSpec of the first rule whose regex matches ``name`` (replicated if none)."""
    for pattern, spec in rules:
        if re.search(pattern, name):
            return spec
    return P()


def fit_spec(spec: P, shape: Sequence[int], mesh: Mesh) -> tuple[P, tuple[int, ...]]:
    """(``spec`` with every mesh axis that does not divide its dimension dropped, the dropped dims).

    XLA rejects an uneven split of a jit input, and tunix silently replicates; here the drop is
    explicit and :func:`param_specs` reports it (``strict=True`` turns it into an error).
    """
    entries = list(spec) + [None] * (len(shape) - len(spec))
    out, dropped = [], []
    for d, (dim, entry) in enumerate(zip(shape, entries, strict=True)):
        axes = (entry,) if isinstance(entry, str) else tuple(entry or ())
        size = 1
        for a in axes:
            size *= mesh.shape[a]
        if size > 1 and dim % size:
            out.append(None)
            dropped.append(d)
        else:
            out.append(entry)
    while out and out[-1] is None:
        out.pop()
    return P(*out), tuple(dropped)


def param_specs(params, mesh: Mesh, rules: Sequence[tuple[str, P]] = PARTITION_RULES, *, strict: bool = False):
    """Pytree of PartitionSpecs for ``params`` (arrays or ShapeDtypeStructs) by path name.

    ``strict``: raise ValueError naming the first parameter whose rule does not divide its shape
    on ``mesh`` instead of replicating that dimension.
    """

    def one(path, leaf):
        name = path_name(path)
        spec = spec_for(name, rules)
        if len(spec) > len(leaf.shape):
            raise ValueError(f"partition rule {spec} for {name!r} has more entries than its shape {leaf.shape}")
        fitted, dropped = fit_spec(spec, leaf.shape, mesh)
        if strict and dropped:
            raise ValueError(
                f"parameter {name!r} of shape {tuple(leaf.shape)} cannot be split as {spec} on mesh "
                f"{dict(mesh.shape)}: dimension {dropped[0]} is not divisible by its mesh axes"
            )
        return fitted

    return jax.tree_util.tree_map_with_path(one, params)


def param_shardings(params, mesh: Mesh, rules: Sequence[tuple[str, P]] = PARTITION_RULES, *, strict: bool = False):
    """Pytree of NamedShardings for ``params`` on ``mesh`` (see :func:`param_specs`)."""
    specs = param_specs(params, mesh, rules, strict=strict)
    return jax.tree_util.tree_map(lambda s: NamedSharding(mesh, s), specs, is_leaf=lambda x: isinstance(x, P))


def batch_sharding(mesh: Mesh, ndim: int = 2) -> NamedSharding:
    """Leading (batch) axis over ("data", "fsdp"), the other ``ndim - 1`` axes whole."""
    return NamedSharding(mesh, P(BATCH_AXES, *([None] * (ndim - 1))))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def assert_sharding(x: jax.Array, expected: NamedSharding, name: str = "array") -> None:
    """AssertionError unless ``x`` is laid out as ``expected`` (same device -> index map)."""
    got = x.sharding
    if not got.is_equivalent_to(expected, x.ndim):
        raise AssertionError(f"{name}: sharding {got} is not equivalent to the expected {expected}")


def assert_tree_shardings(tree, expected) -> None:
    """:func:`assert_sharding` leaf by leaf; the message names the first mismatching path."""
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    wanted = jax.tree_util.tree_leaves(expected, is_leaf=lambda s: isinstance(s, NamedSharding))
    if len(leaves) != len(wanted):
        raise AssertionError(f"tree has {len(leaves)} leaves, expected shardings for {len(wanted)}")
    for (path, leaf), sharding in zip(leaves, wanted, strict=True):
        assert_sharding(leaf, sharding, path_name(path))


def initialize_distributed(coordinator_address: str, num_processes: int, process_id: int, **kwargs) -> None:
    """Join a multi-process run: ``jax.distributed.initialize`` with the arguments validated first.

    Call it in every process before any other JAX call; afterwards ``jax.devices()`` lists all
    processes' devices and :func:`make_mesh` spans them. ``kwargs`` go to ``jax.distributed.initialize``
    (e.g. ``local_device_ids``).
    """
    if not isinstance(coordinator_address, str) or ":" not in coordinator_address:
        raise ValueError(f"coordinator_address must be 'host:port', got {coordinator_address!r}")
    if isinstance(num_processes, bool) or not isinstance(num_processes, int) or num_processes < 1:
        raise ValueError(f"num_processes must be an int >= 1, got {num_processes!r}")
    if isinstance(process_id, bool) or not isinstance(process_id, int) or not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be an int in [0, {num_processes}), got {process_id!r}")
    jax.distributed.initialize(coordinator_address, num_processes, process_id, **kwargs)


__all__ = [
    "AXES",
    "BATCH_AXES",
    "PARTITION_RULES",
    "assert_sharding",
    "assert_tree_shardings",
    "batch_sharding",
    "check_mesh",
    "fit_spec",
    "initialize_distributed",
    "make_mesh",
    "param_shardings",
    "param_specs",
    "parse_mesh",
    "path_name",
    "replicated",
    "spec_for",
]
