"""Keep results: ``res.save(path)`` and ``po.load(path)``, without pickle.

A result file is one zip archive (the ``.npz`` layout NumPy reads): every array of the result is
a ``.npy`` member (``a0.npy``, ``a1.npy``, ...), and ``metadata.json`` holds everything else as
JSON, with references to the arrays, the format name and its version (:data:`FORMAT_VERSION`)
and the polopt version that wrote it. ``unzip -p run.npz metadata.json`` shows a result in
plain text; ``np.load(path)`` lists its arrays.

What is stored: every field of :class:`~polopt.result.SolveResult`, the problem included (so
that ``po.theory.check`` and ``po.theory.fit_rate`` work on a loaded result), with every
certificate (lazy certificates are computed on save: a file is complete), deterministic
iterates in their compact form (:class:`~polopt.result.OneHotIterates`: action indices), NumPy
scalars with their dtype, tuples as tuples, non-finite floats, ``scipy.sparse`` kernels and
named tuples of polopt. The round trip is exact: arrays bit for bit with their dtype and
read-only flag, scalars with their type.

Loading never executes code from the file: a class is rebuilt only if it is a polopt class
named in the file (a problem or a named tuple), and arrays are read with ``allow_pickle=False``.
A problem is rebuilt attribute by attribute as it was saved (it was validated when built; the
archive's CRC-32 checks guard its bytes), so a loaded problem is the same object state, bit for bit.
A file written by a newer format, a truncated or corrupted archive and a malformed metadata
record raise ``ValueError`` saying which.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import os
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: Name of the format in the metadata (a file of another format is refused).
FORMAT = "polopt.SolveResult"
#: Version of the layout written by :func:`save`. Readers accept every version up to theirs;
#: a change that an older reader would misread increments it.
FORMAT_VERSION = 1
#: The metadata member of the archive.
METADATA = "metadata.json"
# A fixed timestamp for every member: saving the same result twice gives the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class _Writer:
    """Encodes a value as JSON with references to arrays collected in ``arrays``."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, a: np.ndarray, path: str) -> dict:
        if a.dtype.hasobject:
            raise TypeError(f"cannot save {path}: an object array (dtype {a.dtype}) needs pickle, which polopt refuses")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = a
        return {"__array__": key, "writeable": bool(a.flags.writeable)}

    def encode(self, obj: Any, path: str) -> Any:
        from .problems._base import Problem
        from .result import LazyCertificates, OneHotIterates

        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int) and not isinstance(obj, np.integer):
            return obj
        if isinstance(obj, float) and not isinstance(obj, np.floating):
            return obj if math.isfinite(obj) else {"__float__": repr(obj)}
        if isinstance(obj, np.generic):
            if not isinstance(obj, (np.bool_, np.integer, np.floating)):
                raise TypeError(f"cannot save {path}: NumPy scalar of dtype {obj.dtype}")
            return {"__scalar__": obj.dtype.str, "value": self.encode(obj.item(), path)}
        if isinstance(obj, np.ndarray):
            return self.array(obj, path)
        if isinstance(obj, OneHotIterates):
            return {"__onehot__": {"sigmas": self.array(obj.sigmas, f"{path}.sigmas"), "num_actions": obj.shape[-1],
                                   "first": self.encode(obj.first, f"{path}.first")}}
        if isinstance(obj, LazyCertificates):
            return {"__lazy__": {k: self.encode(obj[k], f"{path}[{k!r}]") for k in obj}}
        if _is_sparse(obj):
            csr = obj.tocsr()
            return {"__sparse__": obj.format, "shape": list(csr.shape),
                    **{f: self.array(getattr(csr, f), f"{path}.{f}") for f in ("data", "indices", "indptr")}}
        if isinstance(obj, Problem):
            return {"__problem__": _class_path(type(obj)),
                    "slots": {s: self.encode(getattr(obj, s, None), f"{path}.{s}") for s in _slots(type(obj))}}
        if isinstance(obj, tuple) and hasattr(obj, "_fields"):
            return {"__namedtuple__": _class_path(type(obj)),
                    "fields": {f: self.encode(v, f"{path}.{f}") for f, v in zip(obj._fields, obj, strict=True)}}
        if isinstance(obj, (tuple, list)):
            items = [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]
            return {"__tuple__": items} if isinstance(obj, tuple) else items
        if isinstance(obj, Mapping):
            bad = [k for k in obj if not isinstance(k, str)]
            if bad:
                raise TypeError(f"cannot save {path}: keys must be strings, found {bad[0]!r}")
            return {"__dict__": {k: self.encode(v, f"{path}[{k!r}]") for k, v in obj.items()}}
        raise TypeError(f"cannot save {path}: a {type(obj).__name__} has no pickle-free encoding")


def _is_sparse(obj) -> bool:
    sp = sys.modules.get("scipy.sparse")  # a sparse matrix exists only if scipy.sparse was imported
    return sp is not None and sp.issparse(obj)


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _slots(cls: type) -> list[str]:
    """Every data slot of a problem class (the base's bookkeeping slots excluded)."""
    out = []
    for klass in reversed(cls.__mro__):
        for s in getattr(klass, "__slots__", ()):
            if s not in ("_frozen", "__weakref__") and s not in out:
                out.append(s)
    return out


def _polopt_class(path: str) -> type:
    """The polopt class named ``module:qualname``; nothing outside polopt is imported."""
    module, _, name = path.partition(":")
    if not (module == "polopt" or module.startswith("polopt.")) or not name:
        raise ValueError(f"refusing to rebuild class {path!r}: only polopt classes are restored")
    try:
        obj: Any = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"class {path!r} named in the file does not exist in this polopt ({exc})") from None
    if not isinstance(obj, type):
        raise ValueError(f"{path!r} named in the file is not a class")
    return obj


class _Reader:
    """Decodes :class:`_Writer`'s JSON, reading arrays from the archive on demand."""

    def __init__(self, zf: zipfile.ZipFile, where: str):
        self.zf, self.where = zf, where

    def corrupt(self, why: str) -> ValueError:
        return ValueError(f"{self.where} is corrupted: {why}")

    def array(self, ref) -> np.ndarray:
        if not isinstance(ref, dict) or not isinstance(ref.get("__array__"), str):
            raise self.corrupt(f"expected an array reference, found {ref!r:.80}")
        name = f"{ref['__array__']}.npy"
        try:
            data = self.zf.read(name)  # reads the whole member: its CRC-32 is checked
            a = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        except KeyError:
            raise self.corrupt(f"array member {name} is missing") from None
        except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError) as exc:
            raise self.corrupt(f"array member {name} cannot be read ({exc})") from None
        if not ref.get("writeable", True):
            a.setflags(write=False)
        return a

    def decode(self, obj: Any) -> Any:
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        if isinstance(obj, list):
            return [self.decode(v) for v in obj]
        if not isinstance(obj, dict) or len(obj) == 0:
            raise self.corrupt(f"unexpected metadata entry {obj!r:.80}")
        tag = next(iter(obj))
        body = obj[tag]
        if tag == "__array__":
            return self.array(obj)
        if tag == "__float__":
            if body not in ("nan", "inf", "-inf"):
                raise self.corrupt(f"bad non-finite float {body!r}")
            return float(body)
        if tag == "__scalar__":
            return np.dtype(body).type(self.decode(obj["value"]))
        if tag == "__tuple__":
            return tuple(self.decode(v) for v in body)
        if tag == "__dict__":
            return {k: self.decode(v) for k, v in body.items()}
        if tag == "__lazy__":
            from .result import LazyCertificates

            return LazyCertificates({k: self.decode(v) for k, v in body.items()})
        if tag == "__onehot__":
            from .result import OneHotIterates

            first = self.decode(body["first"])
            return OneHotIterates(self.array(body["sigmas"]), int(body["num_actions"]), first=first)
        if tag == "__sparse__":
            import scipy.sparse as sp

            csr = sp.csr_matrix(tuple(self.array(obj[f]) for f in ("data", "indices", "indptr")),
                                shape=tuple(obj["shape"]))
            return csr.asformat(body)
        if tag == "__namedtuple__":
            cls = _polopt_class(body)
            if not (issubclass(cls, tuple) and hasattr(cls, "_fields")):
                raise self.corrupt(f"{body!r} is not a named tuple")
            fields = {k: self.decode(v) for k, v in obj["fields"].items()}
            if set(fields) != set(cls._fields):
                raise self.corrupt(f"{body} has fields {sorted(fields)}, expected {sorted(cls._fields)}")
            return cls(**fields)
        if tag == "__problem__":
            from .problems._base import Problem

            cls = _polopt_class(body)
            if not issubclass(cls, Problem):
                raise self.corrupt(f"{body!r} is not a polopt problem class")
            slots = obj["slots"]
            if set(slots) != set(_slots(cls)):
                raise self.corrupt(f"{body} has attributes {sorted(slots)}, expected {sorted(_slots(cls))}")
            problem = cls.__new__(cls)
            for name, value in slots.items():  # the attributes as saved: a validated problem, rebuilt exactly
                object.__setattr__(problem, name, self.decode(value))
            problem._freeze()
            return problem
        raise self.corrupt(f"unknown entry tag {tag!r}")


def save(res, path) -> Path:
    """Write the :class:`~polopt.result.SolveResult` ``res`` to ``path`` (one ``.npz`` archive).

    Every certificate is computed (a saved result is complete). The file is written to a temporary
    file beside ``path`` and moved into place, so an interrupted save leaves no partial file.
    Returns the path written.

    Raises:
        TypeError: ``res`` is not a SolveResult, or a field holds a value without a pickle-free
            encoding (the message names the field, e.g. ``info['x']``).
    """
    from . import __version__
    from .result import SolveResult

    if not isinstance(res, SolveResult):
        raise TypeError(f"save expects a SolveResult, got {type(res).__name__}")
    path = Path(path)
    w = _Writer()
    result = {f: w.encode(getattr(res, f), f) for f in SolveResult._fields}
    problem = res.problem
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "polopt_version": __version__,
        "problem_type": None if problem is None else type(problem).__name__,
        "criterion": getattr(problem, "criterion", None),
        "result": result,
    }
    text = json.dumps(meta, indent=1, allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(zipfile.ZipInfo(METADATA, _ZIP_TIME), text)
            for key, a in w.arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, a, allow_pickle=False)
                info = zipfile.ZipInfo(f"{key}.npy", _ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, buf.getvalue())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path):
    """Read a result written by :meth:`SolveResult.save <polopt.result.SolveResult.save>`.

    Returns the :class:`~polopt.result.SolveResult`, equal field by field to the one saved
    (``certificates`` as already-computed :class:`~polopt.result.LazyCertificates`).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a polopt result file, a format version newer than :data:`FORMAT_VERSION`
            (upgrade polopt to read it), or a truncated / corrupted file.
    """
    from .result import SolveResult

    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise FileNotFoundError(f"no result file at {where}")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{where} is not a polopt result file (not a readable .npz archive: {exc})") from None
    with zf:
        reader = _Reader(zf, where)
        try:
            meta = json.loads(zf.read(METADATA).decode("utf-8"))
        except KeyError:
            raise ValueError(f"{where} is not a polopt result file (no {METADATA}; "
                             "write one with res.save(path))") from None
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise reader.corrupt(f"{METADATA} cannot be read ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise ValueError(f"{where} is not a polopt result file (format {found!r}, expected {FORMAT!r})")
        version = meta.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise reader.corrupt(f"format_version is {version!r}, expected a positive integer")
        if version > FORMAT_VERSION:
            raise ValueError(
                f"{where} has result format version {version} (written by polopt {meta.get('polopt_version')}); "
                f"this polopt reads versions up to {FORMAT_VERSION}: upgrade polopt to read it"
            )
        fields = meta.get("result")
        if not isinstance(fields, dict) or set(fields) != set(SolveResult._fields):
            have = sorted(fields) if isinstance(fields, dict) else fields
            raise reader.corrupt(f"result fields are {have}, expected {sorted(SolveResult._fields)}")
        try:
            return SolveResult(**{f: reader.decode(fields[f]) for f in SolveResult._fields})
        except (KeyError, TypeError, AttributeError) as exc:
            raise reader.corrupt(f"malformed entry ({type(exc).__name__}: {exc})") from None
