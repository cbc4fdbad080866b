"""Strict, durable JSON files: NaN/Inf stored as null plus a flag, atomic and fsync'd writes.

Python's ``json`` writes ``NaN`` and ``Infinity`` tokens that most other parsers reject. Every
results file of the companion is therefore *strict* JSON: each non-finite float is stored as
``null`` and its location is listed under the top-level key ``"non_finite"`` as
``{JSON pointer: "nan" | "inf" | "-inf"}`` (RFC 6901 pointers, e.g. ``"/data/main/0/sad"``),
so nothing is silently lost and :func:`restore_non_finite` can undo it exactly.

Writes go to a temporary file in the target's directory, are flushed and ``fsync``'d, then moved
over the target with ``os.replace`` (and the directory is fsync'd), so a reader never sees a
half-written file and a power cut leaves either the old or the new file. Files get the usual
permissions (``0666`` minus the umask), not ``mkstemp``'s private ``0600``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["NON_FINITE_KEY", "dumps_strict", "restore_non_finite", "to_strict", "write_bytes_atomically",
           "write_json_atomically"]

NON_FINITE_KEY = "non_finite"


def _builtin(obj: Any) -> Any:
    """numpy / torch scalars and arrays -> python values (their ``tolist()``)."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot store {type(obj).__name__} in a results JSON")


def _escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def to_strict(obj: Any) -> tuple[Any, dict[str, str]]:
    """``obj`` converted to JSON builtins with every non-finite float replaced by None.

    Returns ``(clean, non_finite)``; ``non_finite`` maps the JSON pointer of each replaced value
    to ``"nan"``, ``"inf"`` or ``"-inf"`` (empty when everything was finite). numpy/torch values
    are converted with ``tolist()``; tuples become lists.
    """
    found: dict[str, str] = {}

    def walk(value: Any, pointer: str) -> Any:
        if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
            return value
        if isinstance(value, float):
            if math.isfinite(value):
                return value
            found[pointer] = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
            return None
        if isinstance(value, Mapping):
            return {str(k): walk(v, f"{pointer}/{_escape(k)}") for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v, f"{pointer}/{i}") for i, v in enumerate(value)]
        return walk(_builtin(value), pointer)

    return walk(obj, ""), found


def restore_non_finite(obj: Any, non_finite: Mapping[str, str]) -> Any:
    """Put the floats listed by :func:`to_strict` back into ``obj`` (in place); return ``obj``."""
    for pointer, kind in non_finite.items():
        tokens = [_unescape(t) for t in pointer.split("/")[1:]]
        if not tokens:
            return float(kind)
        parent = obj
        for token in tokens[:-1]:
            parent = parent[int(token)] if isinstance(parent, list) else parent[token]
        last = tokens[-1]
        parent[int(last) if isinstance(parent, list) else last] = float(kind)
    return obj


def dumps_strict(document: Mapping) -> str:
    """Strict JSON text of ``document`` (a dict); non-finite floats are flagged under
    :data:`NON_FINITE_KEY` (which must not be a key of ``document`` already)."""
    clean, found = to_strict(document)
    if NON_FINITE_KEY in clean:
        raise ValueError(f"{NON_FINITE_KEY!r} is reserved for the non-finite flags")
    if found:
        clean[NON_FINITE_KEY] = found
    return json.dumps(clean, indent=1, allow_nan=False) + "\n"


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (threads stay unaffected)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomically(path: Path, payload: bytes) -> Path:
    """Write ``payload`` to ``path``: temporary file in the same folder, fsync, ``os.replace``,
    then fsync the folder (where the file system allows).

    Raises the original ``OSError`` (e.g. a read-only directory) with the temporary file removed.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        directory = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(directory)
    except OSError:
        pass  # some file systems cannot fsync a directory; the file itself is on disk
    finally:
        os.close(directory)
    return path


def write_json_atomically(path: Path, document: Mapping) -> Path:
    """Write ``document`` as strict JSON (UTF-8) to ``path`` with :func:`write_bytes_atomically`."""
    return write_bytes_atomically(path, dumps_strict(document).encode("utf-8"))
