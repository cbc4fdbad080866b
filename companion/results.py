"""Chapter results: provenance, atomic JSON records and the book's tables.

A chapter writes ``results/<chapter>/<scale>/<name>.json`` holding the numbers its tables show,
its comparison with the paper and the provenance of the run::

    {"chapter": ..., "scale": ..., "name": ..., "provenance": {...}, "data": {...},
     "code": <the records' compute-closure hash>,
     "comparison": [<rows of companion.verdicts>, ...],
     "non_finite": {"/data/...": "nan", ...}}     # only when some value was NaN/inf

The files are strict JSON (:mod:`companion.jsonio`): a NaN or infinite value is stored as
``null`` and flagged under ``"non_finite"``. A diverged run is never shown as a number: its
verdict is *diverged* (:mod:`companion.verdicts`) and tables print "diverged" for NaN; an
infinity (e.g. a log p-value that underflows) is printed as ``-∞`` / ``∞``.

Paper-scale records are small and committed, so a book built at ``book`` scale can show them
beside its live run. The root is ``$HU_RESULTS_DIR`` when set, else ``results/`` in the repository.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import os
import platform
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from companion.jsonio import NON_FINITE_KEY, restore_non_finite, write_json_atomically

__all__ = [
    "DamagedResultError",
    "Provenance",
    "Table",
    "finite_mean_std",
    "format_mean_std",
    "format_number",
    "git_commit",
    "is_diverged",
    "list_results",
    "read_result",
    "results_root",
    "write_result",
]

REPO_ROOT = Path(__file__).resolve().parents[1]


def results_root() -> Path:
    """Directory holding ``<chapter>/<scale>/*.json``: ``$HU_RESULTS_DIR`` or ``<repo>/results``."""
    return Path(os.environ.get("HU_RESULTS_DIR") or REPO_ROOT / "results")


def require_clean_tree(repo: Path = REPO_ROOT) -> str:
    """The commit of ``repo``; raises ``SystemExit`` when the tree has uncommitted changes or is
    no git checkout (results are computed only from the clean commit they describe)."""
    commit = git_commit(repo)
    if commit.endswith("+dirty") or commit == "unknown":
        raise SystemExit(f"refusing to compute from a tree that is not clean (commit {commit})")
    return commit


def git_commit(repo: Path = REPO_ROOT) -> str:
    """Commit hash of ``repo`` (suffixed ``+dirty`` with uncommitted changes outside ``results/``),
    or ``"unknown"``. Files under ``results/`` are what studies write (records, runs logs), not
    code: a resumed study whose earlier attempt logged itself still runs from a clean tree."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


@dataclass
class Provenance:
    """Where a result came from: parameters, hardware, library versions, code, data, time.

    ``checksums`` maps dataset file paths (relative to the data directory) to sha256 digests;
    ``started`` is ISO 8601 UTC; ``wall_time_s`` (seconds) is set by :meth:`finish`; ``parts``
    says where each part of the compute ran (``{"VAE training": "cuda:0", "ELMM baseline":
    "CPU (...)"}``, :func:`companion.pipeline.placement`; empty when not known).
    """

    chapter: str
    scale: str
    params: dict
    device: str
    versions: dict
    git_commit: str
    checksums: dict = field(default_factory=dict)
    started: str = ""
    wall_time_s: float | None = None
    parts: dict = field(default_factory=dict)
    _t0: float = field(default=0.0, repr=False)

    @classmethod
    def start(cls, chapter: str, params: Mapping, device, checksums: Mapping | None = None):
        """Record the start of a run of ``chapter`` with resolved ``params`` on ``device``.

        ``device`` is a ``torch.device`` (named via :func:`companion.runtime.device_name`) or a
        string used as is.
        """
        import numpy
        import torch

        from companion.runtime import device_name

        return cls(
            chapter=chapter,
            scale=params["scale"],
            params=dict(params),
            device=device if isinstance(device, str) else device_name(device),
            versions={
                "python": platform.python_version(),
                "torch": torch.__version__,
                "numpy": numpy.__version__,
            },
            git_commit=git_commit(),
            checksums=dict(checksums or {}),
            started=datetime.now(UTC).isoformat(timespec="seconds"),
            _t0=time.perf_counter(),
        )

    def finish(self) -> Provenance:
        """Set ``wall_time_s`` to the seconds since :meth:`start`; return self."""
        self.wall_time_s = round(time.perf_counter() - self._t0, 2)
        return self

    def to_dict(self) -> dict:
        """JSON-ready dict (without the private start clock)."""
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}

    def to_html(self) -> str:
        """The provenance box shown at the top of a chapter (an admonition in the book theme)."""
        return _provenance_html(self.to_dict())

    def _repr_html_(self) -> str:
        return self.to_html()


def _provenance_html(prov: Mapping) -> str:
    params = ", ".join(f"{k}={v!r}" for k, v in prov["params"].items())
    versions = ", ".join(f"{k} {v}" for k, v in prov["versions"].items())
    checksums = (
        "<br>".join(
            f"<code>{html.escape(path)}</code> sha256 <code>{digest[:16]}…</code>"
            for path, digest in sorted(prov["checksums"].items())
        )
        or "none recorded yet"
    )
    wall = prov["wall_time_s"]
    items = [
        ("Scale", prov["scale"]),
        ("Parameters", params),
        ("Device", prov["device"]),
        *([("Where each part ran", "; ".join(f"{part}: {where}" for part, where in prov["parts"].items()))]
          if prov.get("parts") else []),
        ("Versions", versions),
        ("Git commit", prov["git_commit"]),
        ("Started (UTC)", prov["started"]),
        ("Wall time", f"{wall:.1f} s" if wall is not None else "running (see the end)"),
    ]
    rows = "".join(f"<li><b>{k}:</b> {html.escape(str(v))}</li>" for k, v in items)
    return (
        '<div class="admonition note"><p class="admonition-title">Provenance</p>'
        f"<ul>{rows}<li><b>Data files:</b><br>{checksums}</li></ul></div>"
    )


def write_result(
    chapter: str,
    name: str,
    data: Mapping,
    provenance: Provenance,
    comparison: Sequence[Mapping] = (),
    root: Path | None = None,
    code: str | None = None,
    computed: Mapping | None = None,
) -> Path:
    """Atomically write ``<root>/<chapter>/<scale>/<name>.json`` and return its path.

    The record is written to a temporary file in the same directory, fsync'd, then moved over
    the target with ``os.replace``, so a reader never sees a half-written file. numpy scalars and
    arrays in ``data`` are converted with their ``tolist()``; NaN/inf become ``null`` and are
    listed under ``"non_finite"`` (strict JSON). ``code``: the compute-closure hash of the records
    the result was made from (:func:`companion.pipeline.write_summary`), the staleness stamp;
    ``computed``: the provenance of the run that computed those records, when this result only
    reports them (device, commit and wall time of the computation are not lost).
    """
    record = {
        "chapter": chapter,
        "scale": provenance.scale,
        "name": name,
        "provenance": provenance.to_dict(),
        "code": code,
        **({"computed": dict(computed)} if computed else {}),
        "data": data,
        "comparison": list(comparison),
    }
    directory = (root or results_root()) / chapter / provenance.scale
    directory.mkdir(parents=True, exist_ok=True)
    return write_json_atomically(directory / f"{name}.json", record)


class DamagedResultError(ValueError):
    """A results file cannot be read as a chapter record; the message names it and the fix."""


def _load_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or "comparison" not in record:
            raise ValueError("not a chapter record (no 'comparison')")
        flags = record.get(NON_FINITE_KEY, {})
        # the run's parameters come back exactly (an SNR of inf dB); measured values stay None
        restore_non_finite(record, {k: v for k, v in flags.items() if k.startswith("/provenance/")})
    except (ValueError, UnicodeDecodeError, KeyError, IndexError, TypeError, AttributeError) as err:
        raise DamagedResultError(
            f"results file {path} is damaged ({type(err).__name__}: {err}).\nFix: delete it and "
            f"rerun the chapter (python -m companion run {path.parent.parent.name} --scale "
            f"{path.parent.name}), or restore it with git if it is committed."
        ) from None
    return record


def read_result(chapter: str, scale: str, name: str, root: Path | None = None) -> dict | None:
    """The record written by :func:`write_result`, or None when there is none.

    Non-finite measured values are read back as ``None`` (their locations are in
    ``"non_finite"``); non-finite parameters of the provenance (``snrs=[..., inf]``) are restored.
    Raises :class:`DamagedResultError` naming the file when it cannot be read."""
    path = (root or results_root()) / chapter / scale / f"{name}.json"
    return _load_record(path) if path.exists() else None


def list_results(chapter: str, scale: str, root: Path | None = None) -> list[dict]:
    """All records of ``chapter`` at ``scale``, sorted by name (:class:`DamagedResultError` for
    a damaged one)."""
    directory = (root or results_root()) / chapter / scale
    return [_load_record(p) for p in sorted(directory.glob("*.json"))]


def is_diverged(value: Any) -> bool:
    """True for a float (or numpy scalar) that is NaN or infinite: the mark of a diverged run."""
    try:
        return not math.isfinite(value)
    except TypeError:
        return False


def finite_mean_std(values: Iterable[float | None]) -> tuple[float | None, float | None, int]:
    """``(mean, std, n_finite)`` over the finite entries of ``values`` (population std).

    None, NaN and inf entries (diverged runs, stored as null) are left out and counted by
    ``len(values) - n_finite``; with no finite entry the mean and std are None.
    """
    finite = [float(v) for v in values if v is not None and not is_diverged(v)]
    if not finite:
        return None, None, 0
    mean = math.fsum(finite) / len(finite)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in finite) / len(finite))
    return mean, std, len(finite)


def format_number(value: float) -> str:
    """One number format for the book's tables: 4 significant digits without exponent for
    1e-4 <= |x| < 1e4 (``0.0005``, ``-0.0004837``), a whole number up to 1e5, otherwise
    ``d.ddde±XX`` (never ``2e+03`` beside ``2.19e+03``); zero as ``0``."""
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if 1e-4 <= magnitude < 1e4:
        return f"{value:.4g}"
    return f"{value:.0f}" if 1e4 <= magnitude < 1e5 else f"{value:.3e}"


def format_mean_std(values: Sequence[float | None], fmt: str = ".4f") -> str:
    """``"m ± s"`` over the finite runs; ``"diverged"`` when none is finite; when only some are,
    ``"m ± s (k of n diverged)"``."""
    mean, std, n = finite_mean_std(values)
    if n == 0:
        return "diverged"
    text = f"{mean:{fmt}} ± {std:{fmt}}"
    return text if n == len(values) else f"{text} ({len(values) - n} of {len(values)} diverged)"


NOTE_MIN_CHARS, NOTE_MIN_REPEATS = 40, 3   # a text this long, repeated this often, becomes a note
NOTE_WIDTH = 6                              # "note N"
# Characters that fit across the book's text column (about 770 px) at its table type size.
COLUMN_BUDGET_CHARS = 104
WRAP_CHARS = 18                             # prose cells wrap at about this width
_MEASURED = re.compile(r"\d\.\d|±|\de[-+]\d|diverged|—")   # a measured value, not a label


def column_groups(widths: Sequence[int], keys: int, budget: int = COLUMN_BUDGET_CHARS) -> list[list[int]]:
    """Split columns of ``widths`` (characters) into as few groups as fit ``budget``, each group
    starting with the ``keys`` leading key columns; one group when everything fits. The value
    columns are spread as evenly as that allows (13 columns of equal width, 4 per group: 4, 3,
    3, 3, not 4, 4, 4, 1)."""
    key_columns, groups, current = list(range(keys)), [], []
    base = sum(widths[:keys])
    for i in range(keys, len(widths)):
        if current and base + sum(widths[j] for j in current) + widths[i] > budget:
            groups.append(current)
            current = []
        current.append(i)
    groups.append(current)
    values = list(range(keys, len(widths)))
    size, extra = divmod(len(values), len(groups))
    bounds = [n * size + min(n, extra) for n in range(len(groups) + 1)]
    even = [values[a:b] for a, b in itertools.pairwise(bounds)]
    if all(base + sum(widths[j] for j in group) <= budget for group in even):
        groups = even
    return [key_columns + group for group in groups]


def _text_width(text: str) -> int:
    """Characters a cell needs: all of them for a number or ``mean ± std`` (kept on one line),
    at most :data:`WRAP_CHARS` for prose, which wraps."""
    short_spread = "±" in text and len(text) < NOTE_MIN_CHARS
    return len(text) if short_spread or " " not in text else min(len(text), WRAP_CHARS)


def _key_columns(cells: list[list[str]], n: int) -> int:
    """Leading label columns (short texts or whole numbers, no measured value), at most 2, at
    least 1."""
    keys = 0
    while keys < min(2, n - 1) and all(len(row[keys]) <= 16 and not _MEASURED.search(row[keys])
                                       for row in cells):
        keys += 1
    return max(keys, 1)


def _cell_html(text: str, notes: list[str]) -> str:
    if text in notes:
        return f"<i>note {notes.index(text) + 1}</i>"
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text))   # markdown bold, e.g. **no**
    short_spread = "±" in text and len(text) < NOTE_MIN_CHARS
    return f'<span style="white-space: nowrap">{escaped}</span>' if short_spread else escaped


@dataclass
class Table:
    """A list of row dicts rendered as an HTML table (notebooks, book) or markdown (terminal).

    ``columns`` maps row keys to headers (default: every key of the first row); floats are shown
    with ``floatfmt`` (default: :func:`format_number`); NaN as "diverged", infinities as "−∞" /
    "∞" (an underflowing log p-value is not a diverged run); None as an em dash. In HTML,
    ``**text**`` is bold, ``mean ± std`` stays on one line, and a long text repeated down a column
    (e.g. the same reason on every row of a scene that was not run) is
    printed once, as a note under the table, with "note N" in its cells.
    """

    rows: list[dict]
    columns: dict[str, str] | None = None
    floatfmt: str | None = None
    caption: str = ""

    def _header(self) -> dict[str, str]:
        return self.columns or {k: k for k in (self.rows[0] if self.rows else {})}

    def _cell(self, value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            if math.isnan(value):
                return "diverged"
            if math.isinf(value):   # e.g. a log p-value that underflows: shown as such
                return "−∞" if value < 0 else "∞"
            return format(value, self.floatfmt) if self.floatfmt else format_number(value)
        return str(value)

    def to_markdown(self) -> str:
        """GitHub-flavoured markdown table."""
        header = self._header()
        lines = ["| " + " | ".join(header.values()) + " |", "|" + "---|" * len(header)]
        for row in self.rows:
            cells = (self._cell(row.get(k)).replace("|", "\\|") for k in header)
            lines.append("| " + " | ".join(cells) + " |")
        return (f"{self.caption}\n\n" if self.caption else "") + "\n".join(lines)

    def to_html(self) -> str:
        """HTML table styled like the book's other tables (repeated long texts as notes); a table
        wider than the text column is split into parts that repeat its key columns
        (:func:`column_groups`)."""
        header = self._header()
        names = list(header.values())
        cells = [[self._cell(r.get(k)) for k in header] for r in self.rows]
        counts = Counter(text for row in cells for text in row if len(text) >= NOTE_MIN_CHARS)
        notes = [text for text, n in counts.items() if n >= NOTE_MIN_REPEATS]
        widths = [max([max(map(len, h.split()), default=0)]
                      + [NOTE_WIDTH if row[i] in notes else _text_width(row[i]) for row in cells]) + 2
                  for i, h in enumerate(names)]
        parts = []
        for part, group in enumerate(column_groups(widths, _key_columns(cells, len(names)))):
            head = "".join(f"<th>{html.escape(names[i])}</th>" for i in group)
            body = "".join("<tr>" + "".join(f"<td>{_cell_html(row[i], notes)}</td>" for i in group)
                           + "</tr>" for row in cells)
            text = self.caption if part == 0 else f"{self.caption} (continued)" if self.caption else ""
            caption = f"<caption>{html.escape(text)}</caption>" if text else ""
            parts.append(f'<table class="table dataframe">{caption}<thead><tr>{head}</tr></thead>'
                         f"<tbody>{body}</tbody></table>")
        foot = "".join(f"<br><small>Note {i + 1}: {html.escape(text)}</small>"
                       for i, text in enumerate(notes))
        return "".join(parts) + (f"<p>{foot[4:]}</p>" if notes else "")

    _repr_html_ = to_html
    _repr_markdown_ = to_markdown

    def __str__(self) -> str:
        return self.to_markdown()
