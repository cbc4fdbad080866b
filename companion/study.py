"""Resumable studies: one atomically written JSON record per configuration.

A study is a dict ``{key: config}`` and a function ``compute(config) -> record``. Each finished
configuration is written to ``<directory>/<key>.json`` (temporary file, fsync, ``os.replace``;
strict JSON, see :mod:`companion.jsonio`). Rerunning reuses a stored record only when all of
these still hold:

* **protocol and configuration**: ``fingerprint(protocol, config)`` is unchanged;
* **code**: the source of the package module that defines ``compute`` and of every ``companion``
  module it imports (statically and transitively, functions' local imports included) is
  unchanged (:func:`code_fingerprint` of :func:`code_roots`; the chapters' declarative preset
  modules are left out, their values reach a study through its protocol, and so are the
  :data:`BOOKKEEPING` modules, which store and schedule records). A ``compute`` defined
  outside the package (a notebook's lambda) falls back to every package module the process has
  loaded. Each record stores its root modules (``code_roots``);
* **data**: every data file the record depends on, i.e. each file loaded before the study
  started or while computing it (tracked by :mod:`companion.data.registry`), still has the
  sha256 stored in the record.

Two runs of the same study at once (two terminals, a notebook and the command line) share the
work: a run claims each record it computes with ``<key>.json.lock`` (its host and process id), and
a record claimed by another live run is waited for and then read, not computed again; the lock
of a run that died is taken over.

A record whose ``status`` is ``"not run"`` (a configuration its ``compute`` declined, e.g. for a
user-supplied image that was absent) is asked again on every run, since what stopped it may be
gone; while the answer stays the same, its file is left as it is.

So an interrupted study resumes without losing or duplicating work, and a changed protocol,
code or data file recomputes instead of mixing old and new numbers. A damaged record (truncated,
empty, not a record) is moved aside as ``<key>.json.damaged-<UTC time>``, with a warning naming
it, and recomputed. Because the code fingerprint depends only on ``compute``'s module, a notebook
and ``python -m companion study`` that build the same :class:`StudyDefinition` share records.
Each record also stores the wall time of its computation (``seconds``).

**Arrays beside a record.** A record may carry numpy arrays under :data:`ARRAYS_KEY` (``{name:
array}``, e.g. a method's estimated endmembers and abundances): they are written, compressed, to
``<key>.npz`` (temporary file, fsync, ``os.replace``) *before* the JSON record, whose
``ARRAYS_KEY`` entry then names the file, its size and sha256. So a record on disk always has its
arrays; a record whose ``.npz`` is missing or altered is recomputed; :func:`load_arrays` reads
them back.

The configurations run one after another in this process by default. With ``executor`` (any
``concurrent.futures.Executor``; a Dask cluster gives one with ``client.get_executor()``) they run
on its workers and this process writes each record as its result arrives, so workers need no
shared disk; each result carries its worker's code fingerprint, and a record computed by other
code is refused. With
``deadline`` the study stops cleanly (:class:`TimeLimitReached`) instead of starting work that
would not finish in time; rerunning resumes.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import json
import os
import re
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .data import registry
from .jsonio import (
    NON_FINITE_KEY,
    restore_non_finite,
    to_strict,
    write_bytes_atomically,
    write_json_atomically,
)

__all__ = [
    "ARRAYS_KEY",
    "BOOKKEEPING",
    "DamagedRecordWarning",
    "StudyDefinition",
    "TimeLimitReached",
    "code_fingerprint",
    "code_roots",
    "computed",
    "fingerprint",
    "load_arrays",
    "loaded_modules",
    "run_study",
]

_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.=+-]+$")
_PACKAGE = "companion"
_PACKAGE_ROOT = Path(__file__).resolve().parent
_EXCLUDED_PREFIX = f"{_PACKAGE}.chapters."  # declarative presets, reach studies via the protocol
# Bookkeeping: they store, show or schedule records and cannot change a record's numbers, so
# editing them does not recompute studies (the scorecard's staleness rule leaves them out too).
BOOKKEEPING = frozenset(f"{_PACKAGE}.{m}" for m in ("study", "jsonio", "results", "plots", "cli",
                                                    "__main__"))


class DamagedRecordWarning(UserWarning):
    """A stored study record could not be read; it was moved aside and is recomputed."""


def fingerprint(*parts: Any) -> str:
    """Short stable hash of JSON-serialisable ``parts`` (protocol, config, code version ...)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- code closure
def _module_file(name: str) -> Path | None:
    """The source file of module ``name`` inside this package, or None when there is none."""
    parts = name.split(".")[1:]
    for candidate in (_PACKAGE_ROOT.joinpath(*parts, "__init__.py"),
                      _PACKAGE_ROOT.joinpath(*parts).with_suffix(".py") if parts else None):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _imported_modules(name: str, path: Path) -> frozenset[str]:
    """Package modules imported anywhere in ``path`` (module ``name``), relative ones resolved."""
    stat = path.stat()
    return _parsed_imports(name, path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=512)
def _parsed_imports(name: str, path: Path, mtime_ns: int, size: int) -> frozenset[str]:
    """:func:`_imported_modules` for one version of a file (cached by modification time, size)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # submodules imported by name
    return frozenset(m for m in found if m == _PACKAGE or m.startswith(_PACKAGE + "."))


def _closure(roots: Iterable[str]) -> dict[str, Path]:
    todo, seen = list(roots), {}
    while todo:
        name = todo.pop()
        if name in seen or name.startswith(_EXCLUDED_PREFIX) or name in BOOKKEEPING:
            continue
        path = _module_file(name)
        if path is None:  # a name imported from a module, not a module
            continue
        seen[name] = path
        todo += _imported_modules(name, path)
    return seen


def loaded_modules() -> list[str]:
    """Names of the package modules loaded in this process."""
    return sorted(m for m in list(sys.modules) if m == _PACKAGE or m.startswith(_PACKAGE + "."))


def code_roots(compute: Callable) -> list[str]:
    """The package module(s) whose import closure is ``compute``'s code.

    ``compute`` may be a function, a bound method, a callable object (its class counts) or a
    ``functools.partial`` of these: the module defining it, when that module belongs to the
    package. Anything else (a lambda or closure defined in a notebook or script) falls back to
    every package module loaded in this process (:func:`loaded_modules`).
    """
    target = compute
    while isinstance(target, functools.partial):
        target = target.func
    target = getattr(target, "__func__", target)  # bound method -> function
    module = getattr(target, "__module__", None)
    if not isinstance(target, type) and not hasattr(target, "__code__"):
        module = type(target).__module__  # a callable instance: its class's module
    if module and (module == _PACKAGE or module.startswith(_PACKAGE + ".")):
        return [module]
    return loaded_modules()


def code_fingerprint(modules: Iterable[str] | None = None) -> str:
    """Hash of the source of ``modules`` (default: :func:`loaded_modules`) and of every package
    module they import, statically and transitively.

    Static imports make the hash independent of *when* a module happens to be imported (e.g.
    lazily, inside a computation that a resumed run skips).
    """
    files = _closure(loaded_modules() if modules is None else modules)
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].read_bytes() + b"\0")
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------- records
def _read_record(path: Path) -> dict | None:
    """The stored document at ``path``, or None (after moving it aside) when it is damaged."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(stored, dict) or not isinstance(stored.get("record"), dict):
            raise ValueError("not a study record (no 'record' object)")
        restore_non_finite(stored, stored.pop(NON_FINITE_KEY, {}))
        return stored
    except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError) as err:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        aside = path.with_name(f"{path.name}.damaged-{stamp}")
        try:
            path.replace(aside)
        except FileNotFoundError:  # a concurrent run of the same study moved it first
            return None
        warnings.warn(
            f"study record {path} is damaged ({type(err).__name__}: {err}); moved it aside to "
            f"{aside.name} and recomputing this configuration.",
            DamagedRecordWarning,
            stacklevel=3,
        )
        return None


NOT_RUN = "not run"
ARRAYS_KEY = "arrays"


def _arrays_path(directory: Path, key: str) -> Path:
    return Path(directory) / f"{key}.npz"


def _store_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> dict:
    """Write ``arrays`` compressed to ``path`` (atomically); the record's note of them: ``file``
    (name, beside the record), ``bytes``, ``sha256`` and each array's ``shapes`` and ``dtypes``."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name: np.asarray(a) for name, a in arrays.items()})
    payload = buffer.getvalue()
    write_bytes_atomically(path, payload)
    return {"file": path.name, "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest(),
            "shapes": {name: list(np.shape(a)) for name, a in arrays.items()},
            "dtypes": {name: str(np.asarray(a).dtype) for name, a in arrays.items()}}


def _arrays_intact(directory: Path, note: Mapping) -> bool:
    path = Path(directory) / note["file"]
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == note["sha256"]


def load_arrays(directory: Path | str, key: str) -> dict[str, np.ndarray]:
    """The arrays stored beside record ``key`` of the study in ``directory`` (``{name: array}``, as
    written: e.g. float32). Raises FileNotFoundError when the record kept none."""
    path = _arrays_path(Path(directory), key)
    if not path.is_file():
        raise FileNotFoundError(f"no arrays stored for record {key!r} in {directory} ({path.name} absent: "
                                "a record computed before estimates were saved, or one that did not run)")
    with np.load(path, allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}


def _reusable(stored: dict, stamp: str, code: str, directory: Path | None = None) -> str | None:
    """Why ``stored`` cannot be reused (a few words; :data:`NOT_RUN` for a record that did not
    run), or None when it can."""
    if stored["record"].get("status") == NOT_RUN:
        return NOT_RUN
    if stored.get("fingerprint") != stamp:
        return "protocol or configuration changed"
    if stored.get("code") != code:
        return "code changed"
    data = stored.get("data")
    if not isinstance(data, dict):
        return "no data checksums"
    changed = [rel for rel, digest in data.items() if registry.current_sha256(rel) != digest]
    if changed:
        return f"data changed: {', '.join(changed)}"
    note = stored["record"].get(ARRAYS_KEY)
    if directory is not None and isinstance(note, dict) and not _arrays_intact(directory, note):
        return "arrays beside the record missing or altered"
    return None


LOCK_SUFFIX = ".lock"
LOCK_POLL_S = 0.5
LOCK_UNREADABLE_STALE_S = 60.0


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + LOCK_SUFFIX)


def _holder_alive(lock: Path) -> bool:
    """Whether the run that wrote ``lock`` (``"<host> <pid>"``) may still be computing: a live
    process of this host, or any process of another host (which cannot be asked). A lock that
    cannot be read is held while younger than :data:`LOCK_UNREADABLE_STALE_S`."""
    try:
        host, pid = lock.read_text(encoding="utf-8").split()
    except (OSError, ValueError):
        try:
            return time.time() - lock.stat().st_mtime < LOCK_UNREADABLE_STALE_S
        except FileNotFoundError:
            return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def _lock(path: Path) -> bool:
    """Claim the record ``path`` for this run: create ``<key>.json.lock`` exclusively, holding this
    host and process. False while another live run holds it; a lock left by a run that died
    (its process is gone) is taken over."""
    lock = _lock_path(path)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _holder_alive(lock):
                return False
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"{socket.gethostname()} {os.getpid()}\n")
        return True
    return False


def _unlock(path: Path) -> None:
    _lock_path(path).unlink(missing_ok=True)


class TimeLimitReached(RuntimeError):
    """A study stopped before its deadline with configurations left; rerunning resumes.

    ``done``: keys with a record (stored before or computed now); ``left``: keys without one."""

    def __init__(self, done: list[str], left: list[str]):
        super().__init__(f"stopped at the time limit with {len(done)} of {len(done) + len(left)} "
                         f"records done, {len(left)} left; rerunning resumes")
        self.done, self.left = done, left


@dataclass(frozen=True)
class StudyDefinition:
    """Everything a chapter's study needs, built once for its notebook and the command line.

    ``configs``: ``{key: config}`` in the order of computation; ``protocol``: shared settings;
    ``compute``: ``config -> record``, picklable for an executor's workers; ``datasets``:
    scenes (:func:`companion.data.load` names) read by ``compute``, loaded before the study so
    every record lists their checksums; records go to ``results/<chapter>/<scale>/<folder>``
    (default ``runs``)."""

    chapter: str
    scale: str
    configs: Mapping[str, Mapping]
    protocol: Mapping
    compute: Callable[[Mapping], Mapping]
    datasets: list[str]
    desc: str = "study"
    folder: str = "runs"

    def load_data(self) -> dict[str, str]:
        """Load :attr:`datasets` (so that every record lists their checksums, however the scenes
        are cached later); return ``{file: sha256}`` of the files read."""
        from . import data

        files = {}
        for name in self.datasets:
            files |= data.load(name).files
        return files

    def directory(self) -> Path:
        """Folder of the study records (``$HU_RESULTS_DIR`` or ``results/``)."""
        from .results import results_root

        return results_root() / self.chapter / self.scale / self.folder


def computed(compute: Callable[[Mapping], Mapping], config: Mapping,
             roots: list[str]) -> tuple[dict, dict[str, str], str, float]:
    """``(record, data files loaded while computing, code fingerprint of roots, wall seconds)``:
    one configuration, wherever it runs (this process or a Dask worker)."""
    started = time.perf_counter()
    with registry.tracking_loads() as used:
        record = dict(compute(config))
    return record, dict(used), code_fingerprint(roots), time.perf_counter() - started


def _run_on_executor(executor: Executor, compute: Callable[[Mapping], Mapping], todo: list[tuple],
                     roots: list[str], store: Callable, retries: int, deadline: float | None, bar) -> None:
    """Submit every ``todo`` item to ``executor`` and ``store`` each result in completion order;
    an item that raises is submitted again up to ``retries`` times, then raises here (records
    stored so far are kept). At ``deadline`` the unfinished futures are cancelled and this returns."""
    attempts = {item[0]: 0 for item in todo}
    pending = {executor.submit(computed, compute, item[1], roots): item for item in todo}
    try:
        while pending:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            done, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            if not done:
                return  # the deadline: run_study reports what is left
            for future in done:
                item = pending.pop(future)
                error = future.exception()
                if error is not None:
                    attempts[item[0]] += 1
                    if attempts[item[0]] > retries:
                        raise error
                    pending[executor.submit(computed, compute, item[1], roots)] = item
                    continue
                store(item, *future.result())
                bar.update()
    finally:
        for future in pending:
            future.cancel()


def run_study(
    configs: Mapping[str, Mapping],
    compute: Callable[[Mapping], Mapping],
    directory: Path,
    protocol: Mapping,
    progress: bool = True,
    desc: str = "study",
    *,
    executor: Executor | None = None,
    retries: int = 2,
    deadline: float | None = None,
) -> dict[str, dict]:
    """Run ``compute`` for every configuration without a reusable record; return all records.

    ``protocol`` holds the settings shared by every configuration (iterations, learning
    rates ...); it enters each record's fingerprint together with the configuration itself, the
    code fingerprint and the data checksums (see the module docstring). Keys must be file-name
    safe (letters, digits, ``_ . = + -``). Records are returned as computed (NaN stays NaN in
    memory; on disk it is ``null`` plus a flag).

    ``executor``: any ``concurrent.futures.Executor`` (a process pool, or a Dask cluster's
    ``client.get_executor()``); each configuration is submitted as :func:`computed` and this
    process writes every record as its result arrives (``retries`` extra attempts per
    configuration that raises; Dask itself reschedules a killed worker's tasks). ``deadline``: a
    :func:`time.monotonic` time; raises :class:`TimeLimitReached` rather than start (serially:
    a configuration expected to end after it, judged by the longest one computed so far, stored
    records' ``seconds`` included; with no such estimate the first one starts) or wait (on an
    executor) past it. Records finished before either stop are kept.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    roots = code_roots(compute)
    code = code_fingerprint(roots)
    before = registry.loaded_files()
    results, todo, stale, longest, asked_again = {}, [], {}, 0.0, {}
    for key, config in configs.items():
        if not _SAFE_KEY.match(key):
            raise ValueError(f"study key {key!r} is not file-name safe")
        stamp = fingerprint(protocol, config)
        path = directory / f"{key}.json"
        stored = _read_record(path) if path.exists() else None
        if stored is not None:
            why = _reusable(stored, stamp, code, directory)
            if why is None:
                results[key] = stored["record"]
                longest = max(longest, float(stored.get("seconds") or 0.0))
                continue
            if why == NOT_RUN:
                asked_again[key] = stored
            else:
                stale[why] = stale.get(why, 0) + 1
        todo.append((key, config, stamp, path))
    for why, count in stale.items():
        print(f"{desc}: recomputing {count} stored record(s) in {directory}: {why}")

    def store(item: tuple, record: dict, used: dict[str, str], worker_code: str, seconds: float) -> None:
        key, config, stamp, path = item
        if worker_code != code:
            raise RuntimeError(f"{desc}: {key} was computed by other code (fingerprint {worker_code}, "
                               f"here {code}): every worker must run this checkout")
        previous = asked_again.get(key)
        if previous is not None and (previous["record"], previous["fingerprint"], previous["code"]) == (
                record, stamp, code):
            results[key] = record  # still not run, for the same reason: the file stays as it is
            return
        if isinstance(record.get(ARRAYS_KEY), Mapping):
            record = {**record, ARRAYS_KEY: _store_arrays(_arrays_path(directory, key), record[ARRAYS_KEY])}
        clean, non_finite = to_strict(record)
        write_json_atomically(path, {"key": key, "fingerprint": stamp, "code": code, "code_roots": roots,
                                     "data": dict(sorted((before | used).items())),
                                     "seconds": round(seconds, 3), "config": dict(config), "record": record})
        _unlock(path)
        results[key] = restore_non_finite(clean, non_finite)

    claimed = [item for item in todo if _lock(item[3])]
    waiting = [item for item in todo if item not in claimed]
    if waiting:
        print(f"{desc}: {len(waiting)} record(s) are being computed by another run of this study; "
              "waiting for them")
    bar = tqdm(total=len(todo), desc=desc, disable=not progress or not todo, mininterval=5.0)
    try:
        if executor is not None and claimed:
            _run_on_executor(executor, compute, claimed, roots, store, retries, deadline, bar)
        else:
            for item in claimed:
                if deadline is not None and time.monotonic() + longest > deadline:
                    break
                bar.set_postfix_str(item[0])
                started = time.monotonic()
                store(item, *computed(compute, item[1], roots))
                longest = max(longest, time.monotonic() - started)
                bar.update()
        while waiting and (deadline is None or time.monotonic() < deadline):
            for item in list(waiting):
                key, config, stamp, path = item
                stored = _read_record(path) if path.exists() else None
                if stored is not None and _reusable(stored, stamp, code, directory) is None:
                    results[key] = stored["record"]
                elif _lock(path):  # the other run stopped without it, or its record is not reusable
                    stored = _read_record(path) if path.exists() else None
                    if stored is not None and _reusable(stored, stamp, code, directory) is None:
                        results[key] = stored["record"]
                        _unlock(path)
                    else:
                        store(item, *computed(compute, config, roots))
                else:
                    continue
                waiting.remove(item)
                bar.update()
            if waiting:
                time.sleep(LOCK_POLL_S)
    finally:
        bar.close()
        for item in claimed:
            _unlock(item[3])
    left = [key for key in configs if key not in results]
    if left:
        raise TimeLimitReached([key for key in configs if key in results], left)
    return {key: results[key] for key in configs}
