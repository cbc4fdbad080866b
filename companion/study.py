"""Resumable studies: one atomically written JSON record per configuration.

A study is a dict ``{key: config}`` and a function ``compute(config) -> record``. Each finished
configuration is written to ``<directory>/<key>.json`` (temporary file, then ``os.replace``), with
a fingerprint of everything that determines its result. Rerunning skips configurations whose
record exists with the same fingerprint, so an interrupted study resumes without losing or
duplicating work, and a changed protocol recomputes instead of mixing old and new numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

__all__ = ["fingerprint", "source_fingerprint", "run_study"]

_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.=+-]+$")


def fingerprint(*parts: Any) -> str:
    """Short stable hash of JSON-serialisable ``parts`` (protocol, config, code version ...)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def source_fingerprint(*modules) -> str:
    """Hash of the source code of ``modules``: put it in a study's protocol so that records
    computed by older code are recomputed rather than reused."""
    import inspect

    return fingerprint(*[inspect.getsource(module) for module in modules])


def _write_atomically(path: Path, record: Mapping) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1, default=lambda o: o.tolist())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_study(
    configs: Mapping[str, Mapping],
    compute: Callable[[Mapping], Mapping],
    directory: Path,
    protocol: Mapping,
    progress: bool = True,
    desc: str = "study",
) -> dict[str, dict]:
    """Run ``compute`` for every configuration not already on disk; return all records.

    ``protocol`` holds the settings shared by every configuration (iterations, learning
    rates ...); it enters each record's fingerprint together with the configuration itself.
    Keys must be file-name safe (letters, digits, ``_ . = + -``).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    results, todo = {}, []
    for key, config in configs.items():
        if not _SAFE_KEY.match(key):
            raise ValueError(f"study key {key!r} is not file-name safe")
        stamp = fingerprint(protocol, config)
        path = directory / f"{key}.json"
        if path.exists():
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored.get("fingerprint") == stamp:
                results[key] = stored["record"]
                continue
        todo.append((key, config, stamp, path))
    bar = tqdm(todo, desc=desc, disable=not progress or not todo, mininterval=5.0)
    for key, config, stamp, path in bar:
        bar.set_postfix_str(key)
        record = dict(compute(config))
        _write_atomically(path, {"key": key, "fingerprint": stamp, "config": dict(config),
                                 "record": record})
        results[key] = json.loads(json.dumps(record, default=lambda o: o.tolist()))
    return {key: results[key] for key in configs}
