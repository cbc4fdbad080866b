"""A chapter as a pipeline in the package: ``plan -> compute -> report``.

Each chapter with experiments has three modules::

    companion/chapters/<name>.py     presets, parameter schema, TARGETS and CLAIMS (data only)
    companion/experiments/<name>.py  plan(P) -> {study: StudyDefinition}; the compute functions
    companion/reports/<name>.py      report(P, records) -> Report (pure; tables and figure data)

``plan`` turns resolved parameters ``P`` into studies (plain-data configurations and a picklable
``compute``); :func:`run` computes every configuration without a reusable record
(:func:`companion.study.run_study`, serially or on any ``concurrent.futures.Executor``) and
returns ``{study: {key: record}}``; ``report`` is a pure function of ``P``, those records and the
chapter's declared targets. A record stores the hash of its compute closure only: the
experiments module never imports a report module (a test checks it), so rewording a reason or
a table never touches a record.

:func:`write_summary` stores the report as ``results/<name>/<scale>/summary.json`` with the code
hash of the records it was made from; :func:`staleness` compares that hash with the current
one, the book's only staleness rule. :func:`verify` recomputes a sample of a chapter's stored
records at the current code and re-stamps them only when the results are identical.

The notebook and ``python -m companion study|report|verify`` call the same functions, so they
share records.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from companion.jsonio import restore_non_finite, to_strict, write_json_atomically
from companion.study import StudyDefinition, code_fingerprint, fingerprint, run_study

__all__ = [
    "Report",
    "VerificationError",
    "code_hash",
    "has_pipeline",
    "load_records",
    "placement",
    "plan",
    "report",
    "run",
    "same_numbers",
    "staleness",
    "verify",
    "write_summary",
    "write_verification",
    "read_verification",
    "read_runs",
    "record_run",
    "REPORT_ONLY",
]


@dataclass
class Report:
    """What a chapter's report returns: ``comparison`` (rows of :mod:`companion.verdicts`) and
    ``data`` (JSON-ready numbers behind the chapter's tables and figures)."""

    comparison: list[dict]
    data: dict = field(default_factory=dict)


def experiments_module(chapter: str) -> ModuleType:
    """``companion.experiments.<chapter>``: its ``plan(P)`` and compute functions."""
    return importlib.import_module(f"companion.experiments.{chapter}")


def reports_module(chapter: str) -> ModuleType:
    """``companion.reports.<chapter>``: its ``report(P, records)``."""
    return importlib.import_module(f"companion.reports.{chapter}")


def has_pipeline(chapter: str) -> bool:
    """Whether ``chapter`` has an experiments module with ``plan`` (the reference chapter on
    datasets has none)."""
    try:
        return hasattr(experiments_module(chapter), "plan")
    except ModuleNotFoundError:
        return False


def code_hash(chapter: str) -> str:
    """Hash of the compute closure of ``chapter``: ``companion.experiments.<chapter>`` and every
    package module it imports (:func:`companion.study.code_fingerprint`)."""
    return code_fingerprint([f"companion.experiments.{chapter}"])


def placement(chapter: str, P: Mapping) -> dict[str, str]:
    """Where each part of ``chapter``'s compute runs with resolved parameters ``P`` (the
    experiments module's ``placement(P)``), for the provenance; ``{}`` for a chapter that does not
    say."""
    where = getattr(experiments_module(chapter), "placement", None) if has_pipeline(chapter) else None
    return where(P) if where is not None else {}


def plan(chapter: str, P: Mapping) -> dict[str, StudyDefinition]:
    """``{study name: StudyDefinition}`` of ``chapter`` for resolved parameters ``P``, in the
    order of computation."""
    return experiments_module(chapter).plan(P)


def run(chapter: str, P: Mapping, *, executor: Executor | None = None, progress: bool = False,
        deadline: float | None = None) -> dict[str, dict[str, dict]]:
    """Compute (or reuse) every record of ``chapter``'s plan; ``{study: {key: record}}``.

    ``executor``: any ``concurrent.futures.Executor`` (a Dask ``client.get_executor()``);
    ``deadline``: a :func:`time.monotonic` time (:class:`companion.study.TimeLimitReached`)."""
    studies = plan(chapter, P)
    out = {}
    for name, definition in studies.items():
        definition.load_data()
        out[name] = run_study(definition.configs, definition.compute, definition.directory(),
                              definition.protocol, progress=progress, desc=definition.desc,
                              executor=executor, deadline=deadline)
    return out


def report(chapter: str, P: Mapping, records: Mapping[str, Mapping[str, dict]]) -> Report:
    """``companion.reports.<chapter>.report(P, records)``."""
    return reports_module(chapter).report(P, records)


def _stored(definition: StudyDefinition) -> dict[str, dict]:
    """The stored documents of ``definition``'s configurations that exist, by key."""
    out = {}
    for key in definition.configs:
        path = definition.directory() / f"{key}.json"
        if path.is_file():
            stored = json.loads(path.read_text(encoding="utf-8"))
            out[key] = restore_non_finite(stored, stored.pop("non_finite", {}))
    return out


def load_records(chapter: str, P: Mapping) -> dict[str, dict[str, dict]]:
    """The stored records of ``chapter``'s plan without computing anything (a committed run's
    report). Raises FileNotFoundError naming the first missing record and the command."""
    out = {}
    for name, definition in plan(chapter, P).items():
        stored = _stored(definition)
        missing = [key for key in definition.configs if key not in stored]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} record(s) of study {name!r} missing in {definition.directory()}, e.g. "
                f"{missing[0]}.json.\nFix: python -m companion study {chapter} --scale {P['scale']}")
        out[name] = {key: stored[key]["record"] for key in definition.configs}
    return out


def records_code(chapter: str, P: Mapping) -> str | None:
    """The code hash shared by every stored record of the plan; None when a record has none
    or they differ."""
    codes = {doc.get("code") for definition in plan(chapter, P).values()
             for doc in _stored(definition).values()}
    return codes.pop() if len(codes) == 1 else None


def verified_codes(chapter: str, P: Mapping) -> set[str]:
    """The code hashes that stored records of the plan carried before a verification
    (:func:`verify`) proved them equal to the current code's and re-stamped them."""
    return {doc["verified"]["previous"]["code"] for definition in plan(chapter, P).values()
            for doc in _stored(definition).values()
            if (doc.get("verified") or {}).get("previous", {}).get("code")}


REPORT_ONLY = "report only (no computation)"


def write_summary(chapter: str, P: Mapping, result: Report, provenance, root: Path | None = None) -> Path:
    """Write ``results/<chapter>/<scale>/summary.json``: the report, the provenance and the code
    hash of the records it was made from (``code``; None when they do not share one). A summary
    that only reports (``provenance.device`` is :data:`REPORT_ONLY`) keeps, as ``computed``, the
    provenance of the computation of its records: the study runs of :func:`record_run` made with
    the records' code or with a code their verification re-stamped (:func:`verified_codes`) (the
    last one, with every such run under ``runs`` when there are several), else the ``computed``
    of the summary it replaces. A computing run's provenance
    without ``parts`` gets them here (:func:`placement`), so its box, redrawn after this call,
    says where each part ran."""
    from companion.results import read_result, write_result

    computed = None
    code = records_code(chapter, P)
    if provenance.device != REPORT_ONLY and not provenance.parts:
        provenance.parts = placement(chapter, P)
    if provenance.device == REPORT_ONLY:
        codes = {code, *verified_codes(chapter, P)} if code is not None else set()
        runs = [r for r in read_runs(chapter, P["scale"], root) if r.get("code") in codes]
        if runs:
            computed = runs[-1] | ({"runs": runs} if len(runs) > 1 else {})
        else:
            previous = read_result(chapter, P["scale"], "summary", root) or {}
            before = previous.get("provenance", {})
            computed = previous.get("computed") or (before if before.get("device") != REPORT_ONLY else None)
    return write_result(chapter, "summary", result.data, provenance, comparison=result.comparison,
                        root=root, code=code, computed=computed)


def read_runs(chapter: str, scale: str, root: Path | None = None) -> list[dict]:
    """The study runs recorded for ``chapter`` at ``scale`` (:func:`record_run`), oldest first."""
    path = _chapter_file(chapter, scale, "runs_log.json", root)
    return json.loads(path.read_text(encoding="utf-8"))["runs"] if path.is_file() else []


def record_run(chapter: str, scale: str, run: Mapping, root: Path | None = None) -> Path:
    """Append one study run (its provenance, the compute code hash ``code``, records done and left)
    to ``results/<chapter>/<scale>/runs_log.json``, atomically: the summary's ``computed`` comes
    from here (:func:`write_summary`), so a report made after a rerun names the run that computed
    its records, not an earlier one."""
    path = _chapter_file(chapter, scale, "runs_log.json", root)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json_atomically(path, {"runs": [*read_runs(chapter, scale, root), dict(run)]})


def staleness(chapter: str, summary: Mapping, root: Path | None = None) -> tuple[str, str]:
    """``(status, detail)`` of a summary: *current* when its records' code hash equals the current
    compute closure's, *stale* otherwise (detail: both hashes, the last verification's outcome
    when one was recorded, and the command that verifies or reruns). The book's one staleness
    rule."""
    stored, now = summary.get("code"), code_hash(chapter)
    scale = summary.get("scale", "paper")
    if stored == now:
        return "current", f"records computed by the current code ({now})"
    fix = (f"python -m companion verify {chapter} --scale {scale} (or rerun: python -m companion "
           f"study {chapter} --scale {scale})")
    last = read_verification(chapter, scale, root)
    tried = (f"; verify at {last['commit'][:7]} on {last['device']}: {last['outcome']}"
             if last and last.get("outcome") != "identical" else "")
    if stored is None:
        return "stale", f"its records carry no common code hash{tried}; {fix}"
    return "stale", f"records computed by code {stored}, now {now}{tried}; {fix}"


def _chapter_file(chapter: str, scale: str, name: str, root: Path | None) -> Path:
    """``<results>/<chapter>/<scale>/<name>``: a chapter's verification outcome or runs log."""
    from companion.results import results_root

    return (root or results_root()) / chapter / scale / name


def read_verification(chapter: str, scale: str, root: Path | None = None) -> dict | None:
    """The last :func:`verify` outcome recorded for ``chapter`` at ``scale`` (None if none)."""
    path = _chapter_file(chapter, scale, "verification.json", root)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write_verification(chapter: str, scale: str, outcome: Mapping, root: Path | None = None) -> Path:
    """Record a :func:`verify` outcome (``commit``, ``device``, ``outcome`` in words, ``sample``):
    a failed verification is evidence too, and the stale mark cites it."""
    path = _chapter_file(chapter, scale, "verification.json", root)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json_atomically(path, dict(outcome))


# ----------------------------------------------------------------------------- verification
class VerificationError(RuntimeError):
    """A recomputed record differs from the stored one: the records keep their old stamp."""


def same_numbers(a: Any, b: Any, atol: float = 0.0, where: str = "", ignore: frozenset = frozenset()
                 ) -> str | None:
    """Where ``a`` and ``b`` (JSON-like) differ beyond ``atol`` (0: bit for bit), or None.
    NaN equals NaN; ints and floats compare as numbers; the values of dict keys in ``ignore``
    (e.g. wall-clock times a record keeps beside its results) are not compared."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if set(a) != set(b):
            return f"{where or '/'}: keys differ ({sorted(set(a) ^ set(b))[:4]})"
        for key in a:
            if key in ignore:
                continue
            found = same_numbers(a[key], b[key], atol, f"{where}/{key}", ignore)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: lengths {len(a)} and {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = same_numbers(x, y, atol, f"{where}/{i}", ignore)
            if found:
                return found
        return None
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if numbers:
        if math.isnan(a) and math.isnan(b):
            return None
        if a == b or abs(a - b) <= atol:
            return None
        return f"{where}: {a!r} != {b!r} (|diff| {abs(a - b):.3g} > {atol:g})"
    return None if a == b else f"{where}: {a!r} != {b!r}"


def _normalised(record: Mapping) -> Any:
    clean, non_finite = to_strict(dict(record))
    return restore_non_finite(clean, non_finite)


def sample_keys(stored: Mapping[tuple[str, str], Mapping], cost: Callable[[Mapping], float] | None,
                cheapest: int = 3) -> list[tuple[str, str]]:
    """The ``cheapest`` cheapest ``(study, key)`` pairs and the most expensive one, by the stored
    ``seconds`` or, for records without them, by ``cost(config)`` (the experiments module's
    estimate, in any unit); ValueError when a record has neither. Records that did not run
    (``status`` "not run") prove nothing and are left out."""
    def price(item):
        seconds = stored[item].get("seconds")
        if seconds is not None:
            return float(seconds)
        if cost is None:
            raise ValueError(f"record {item[0]}/{item[1]} stores no 'seconds' and the experiments module "
                             "defines no cost(config) to rank it")
        return float(cost(stored[item]["config"]))
    ran = [item for item in stored if stored[item].get("record", {}).get("status") != "not run"]
    ordered = sorted(ran, key=lambda item: (price(item), item))
    return list(dict.fromkeys(ordered[:cheapest] + ordered[-1:]))


def verify(chapter: str, P: Mapping, *, commit: str, log: Callable[[str], None] = print,
           cheapest: int = 3) -> dict:
    """Recompute a sample of ``chapter``'s stored records at the current code (over all its
    studies: the ``cheapest`` cheapest and the most expensive, :func:`sample_keys`); if every one
    equals its stored record (``VERIFY_ATOL`` of the experiments module: 0, the default, is bit
    for bit), re-stamp every stored record of the plan with the current fingerprint, code hash
    and data checksums and a ``verified`` note naming ``commit`` and the sample (``VERIFY_IGNORE``:
    record keys left out of the comparison, such as wall-clock times); otherwise raise
    :class:`VerificationError` and change nothing. A stored record whose configuration differs
    from the plan's cannot be verified (also an error). Returns ``{"sample", "restamped",
    "seconds"}``."""
    module = experiments_module(chapter)
    atol = getattr(module, "VERIFY_ATOL", 0.0)
    ignore = frozenset(getattr(module, "VERIFY_IGNORE", ()))
    studies = plan(chapter, P)
    code = code_hash(chapter)
    stored, files = {}, {}
    for name, definition in studies.items():
        files[name] = dict(sorted(definition.load_data().items()))
        for key, doc in _stored(definition).items():
            if to_strict(doc.get("config"))[0] != to_strict(dict(definition.configs[key]))[0]:
                raise VerificationError(f"{chapter}: {name}/{key}: the stored configuration differs from "
                                        "the plan's; rerun it instead")
            stored[name, key] = doc
    sample, seconds = sample_keys(stored, getattr(module, "cost", None), cheapest), {}
    for name, key in sample:
        definition = studies[name]
        log(f"verify {chapter}: recomputing {name}/{key} ...")
        started = time.perf_counter()
        record = definition.compute(definition.configs[key])
        seconds[f"{name}/{key}"] = round(time.perf_counter() - started, 3)
        problem = same_numbers(_normalised(record), _normalised(stored[name, key]["record"]), atol,
                               ignore=ignore)
        if problem:
            raise VerificationError(f"{chapter}: {name}/{key} differs from its stored record at {problem}; "
                                    "no record was re-stamped (rerun them)")
        log(f"  identical ({seconds[f'{name}/{key}']:.1f} s)")
    note = {"commit": commit, "sample": [f"{n}/{k}" for n, k in sample], "atol": atol,
            "ignored": sorted(ignore)}
    restamped = 0
    for (name, key), doc in stored.items():
        definition = studies[name]
        stamp = fingerprint(definition.protocol, definition.configs[key])
        if doc.get("fingerprint") == stamp and doc.get("code") == code:
            continue
        new = {**doc, "fingerprint": stamp, "code": code, "code_roots": [module.__name__],
               "data": doc["data"] if isinstance(doc.get("data"), dict) else files[name],
               "verified": note | {"previous": {"fingerprint": doc.get("fingerprint"),
                                                "code": doc.get("code")}}}
        write_json_atomically(definition.directory() / f"{key}.json", new)
        restamped += 1
    return {"sample": note["sample"], "restamped": restamped, "seconds": seconds}
