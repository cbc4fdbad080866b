"""The reproduction scorecard: one row per distinct paper target, a summary per chapter.

Each chapter's targets come from its results records (:mod:`companion.results`): the committed
``paper``-scale record (the best committed scale) and the live record at the scale the book was
built with. A target appears **once**, with both values beside each other::

    {"chapter", "title", "key", "quantity", "source", "unit", "paper",
     "committed", "committed_verdict", "committed_label", "live", "live_verdict", "live_scale",
     "verdict", "reason", "vs_paper", "stale"}

``verdict`` and ``reason`` are the committed record's when there is one, else the live run's.
``vs_paper`` is "better" / "worse" for an error metric (lower is better, :func:`is_error_metric`)
and None otherwise. ``stale`` is the committed record's :func:`staleness`.
"""

from __future__ import annotations

import html
import json
import os
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from companion.chapters import available, get_chapter
from companion.results import REPO_ROOT, VERDICTS, compare, format_number, list_results, results_root

__all__ = [
    "Scorecard",
    "computing_files",
    "duplicate_targets",
    "format_value",
    "is_error_metric",
    "key_results",
    "overview",
    "preset_differences",
    "scorecard",
    "staleness",
    "verified_commit",
    "vs_paper",
]

# Badge colours per verdict (background); text is dark on light colours.
VERDICT_COLOURS = {
    "reproduced": "#1a7f37", "supported": "#1a7f37", "partly": "#bf8700",
    "not reproduced": "#cf222e", "not supported": "#cf222e", "diverged": "#8250df",
    "not attempted": "#6e7781",
}
# Modules that keep records, render pages or drive runs: they do not compute any number.
BOOKKEEPING = ("study", "jsonio", "results", "scorecard", "plots", "runtime", "cli", "sharding",
               "chapters")
ERROR_WORDS = ("rmse", "sad", "aad", "aid", "sam", "sid", "error")


def is_error_metric(row: dict) -> bool:
    """True when the target is a numeric error (lower is better): its quantity names RMSE, SAD,
    AAD, AID, SAM, SID or an error. Claims (text in ``paper``) and correlations are not."""
    if not isinstance(row.get("paper"), (int, float)) or isinstance(row.get("paper"), bool):
        return False
    words = row["quantity"].lower().replace("_", " ").replace("(", " ").replace(",", " ").split()
    return "spearman" not in row["quantity"].lower() and any(w in ERROR_WORDS for w in words)


def vs_paper(row: dict, ours: float | None) -> str | None:
    """"better" or "worse" than the paper for an error metric (lower is better), None for other
    targets and for missing values; "equal" when the two agree exactly."""
    if ours is None or not is_error_metric(row):
        return None
    if ours == row["paper"]:
        return "equal"
    return "better" if ours < row["paper"] else "worse"


def format_value(value, unit: str = "") -> str:
    """A paper or our value for the scorecard: numbers in the book's one format
    (:func:`companion.results.format_number`) with their unit; text as is; None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{format_number(float(value))} {unit}".strip()


# Parameters that say where and how a run computes, not what it computes: a committed run that
# differs from the preset only in these is not reduced (the benchmark's ``workers``: records equal
# to the serial run's, tests/test_sharding.py).
EXECUTION_PARAMETERS = frozenset({"device", "workers"})


def preset_differences(chapter: str, params: dict, limit: int = 3) -> list[str]:
    """Parameters of a committed paper-scale run that differ from the chapter's ``paper`` preset,
    as ``"name=ours (preset value)"`` (:data:`EXECUTION_PARAMETERS` left out), at most ``limit``
    plus a count."""
    preset = get_chapter(chapter).PRESETS["paper"]
    diffs = [f"{k}={params[k]!r} (preset {v!r})" for k, v in preset.items()
             if k not in EXECUTION_PARAMETERS and k in params and params[k] != v]
    return diffs[:limit] + ([f"{len(diffs) - limit} more"] if len(diffs) > limit else [])


def _git(*args: str, repo: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)


def computing_files(chapter: str) -> list[str]:
    """Repository paths of the modules that compute chapter ``chapter``'s numbers: the static
    import closure of ``companion.experiments.<chapter>`` without the bookkeeping modules
    (:data:`BOOKKEEPING`) and the package's ``__init__``. Empty when the chapter has no experiments module."""
    from companion.study import _closure  # read-only use of the study's import-closure walk

    root = f"companion.experiments.{chapter}"
    files = _closure([root])
    if root not in files:
        return []
    keep = {name: path for name, path in files.items()
            if "." in name and name.split(".")[1] not in BOOKKEEPING}  # the package root computes nothing
    return sorted(str(path.relative_to(REPO_ROOT)) for path in keep.values())


def verified_commit(chapter: str, record_commit: str, root: Path | None = None) -> str | None:
    """The commit at which chapter ``chapter``'s committed record (made at ``record_commit``) was
    checked to be computed by unchanged code, or None. Read from ``<results>/verified.json``
    (``{chapter: {"commit": checked at, "record": record's commit}}``, written by hand after such
    a check, see ``results/README.md``); an entry for another record does not apply."""
    path = (root or results_root()) / "verified.json"
    if not path.exists():
        return None
    entry = json.loads(path.read_text(encoding="utf-8")).get(chapter, {})
    applies = entry.get("record") and record_commit.startswith(entry["record"])
    return entry.get("commit") if applies else None


def staleness(chapter: str, commit: str, repo: Path = REPO_ROOT, verified: str | None = None
              ) -> tuple[str, str]:
    """``(status, detail)`` of a committed record made at ``commit``: *current* when no file of
    :func:`computing_files` differs between the base and ``HEAD``, *stale* (detail: the changed
    files) otherwise, *not checked* when git, the commit or an experiments module is missing
    (never a guess). The base is ``verified`` (a later commit at which the record's code was
    checked unchanged, :func:`verified_commit`) when given, else ``commit``."""
    files = computing_files(chapter)
    if not files:
        return "not checked", f"chapter {chapter!r} has no experiments module"
    if commit.endswith("+dirty") and not verified:
        return "not checked", f"record made from a modified checkout of {commit[:7]}"
    base = verified or commit
    try:
        if _git("cat-file", "-e", f"{base}^{{commit}}", repo=repo).returncode != 0:
            return "not checked", f"commit {base[:7]} is not in this repository's history"
        changed = _git("diff", "--name-only", base, "HEAD", "--", *files, repo=repo)
    except OSError:
        return "not checked", "git is not available"
    if changed.returncode != 0:
        return "not checked", f"git diff failed: {changed.stderr.strip()[:120]}"
    names = changed.stdout.split()
    since = f"{commit[:7]}, checked unchanged at {base[:7]}" if verified else base[:7]
    if names:
        return "stale", f"changed since {since}: {', '.join(names)}"
    return "current", f"computing code unchanged since {since}"


def duplicate_targets(rows: list[dict]) -> list[tuple[str, str]]:
    """``(chapter, key)`` pairs listed more than once (a scorecard must list each target once)."""
    counts = Counter((r["chapter"], r["key"]) for r in rows)
    return [pair for pair, n in counts.items() if n > 1]


def _chapter_rows(name: str, scale: str, root: Path | None) -> list[dict]:
    module = get_chapter(name)
    committed = {r["name"]: r for r in list_results(name, "paper", root)} if scale != "paper" else {}
    live = {r["name"]: r for r in list_results(name, scale, root)}
    if not live and module.PAPER_TARGETS and not committed:
        hint = f"no results at scale {scale!r}; run: python -m companion run {name}"
        live = {"(none)": {"scale": scale, "comparison": compare(
            module.PAPER_TARGETS, {}, {t.key: hint for t in module.PAPER_TARGETS})}}
    rows: dict[str, dict] = {}
    for source, records in (("committed", committed), ("live", live)):
        for record in records.values():
            if source == "committed":   # one label and one git check per record
                prov = record["provenance"]
                diffs = preset_differences(name, prov.get("params", {}))
                label = "paper" + (f" (reduced: {'; '.join(diffs)})" if diffs else "")
                made = prov.get("git_commit", "unknown")
                stale = staleness(name, made, verified=verified_commit(name, made, root))
            for cmp in record["comparison"]:
                row = rows.setdefault(cmp["key"], {
                    "chapter": name, "title": module.TITLE, "key": cmp["key"],
                    "quantity": cmp["quantity"], "source": cmp["source"], "unit": cmp.get("unit", ""),
                    "paper": cmp["paper"], "committed": None, "committed_verdict": None,
                    "committed_label": None, "live": None, "live_verdict": None, "live_scale": scale,
                    "verdict": cmp["verdict"], "reason": cmp["reason"], "vs_paper": None,
                    "stale": None})
                row[source] = cmp["ours"]
                row[f"{source}_verdict"] = cmp["verdict"]
                if source == "committed":
                    row["committed_label"], row["stale"] = label, stale
                elif row["committed_verdict"] is None:
                    row["verdict"], row["reason"] = cmp["verdict"], cmp["reason"]
    for row in rows.values():
        row["vs_paper"] = vs_paper(row, row["committed"] if row["committed_verdict"] else row["live"])
    return list(rows.values())


@dataclass
class Scorecard:
    """Rows (one per distinct target, :func:`scorecard`), the chapters in book order and the live
    scale; renders as HTML (summary with badges, then one section per chapter)."""

    rows: list[dict]
    chapters: list[tuple[str, str, str]]   # (name, title, note for a chapter without targets)
    scale: str

    def counts(self, chapter: str | None = None) -> Counter:
        """Verdict counts over the rows (of one chapter when given)."""
        return Counter(r["verdict"] for r in self.rows if chapter in (None, r["chapter"]))

    def summary_html(self) -> str:
        """Per chapter: targets, badges with counts per verdict, better-than-paper errors."""
        lines = []
        for name, title, note in self.chapters:
            counts = self.counts(name)
            better = sum(r["vs_paper"] == "better" and r["verdict"] == "not reproduced"
                         for r in self.rows if r["chapter"] == name)
            badges = " ".join(_badge(v, counts[v]) for v in VERDICTS if counts[v]) or html.escape(note)
            extra = f"<br><small>{better} of the misses are errors <i>lower</i> than the paper's</small>" \
                if better else ""
            lines.append(f'<tr><td><a href="#sc-{name}">{html.escape(title)}</a></td>'
                         f"<td>{sum(counts.values())}</td><td>{badges}{extra}</td></tr>")
        total = self.counts()
        lines.append("<tr><td><b>All chapters</b></td>"
                     f"<td><b>{sum(total.values())}</b></td><td>"
                     + " ".join(_badge(v, total[v]) for v in VERDICTS if total[v]) + "</td></tr>")
        return ('<table class="table hu-scorecard"><thead><tr><th>Chapter</th><th>Targets</th>'
                f"<th>Verdicts</th></tr></thead><tbody>{''.join(lines)}</tbody></table>")

    def chapter_html(self, name: str) -> str:
        """One chapter's targets: quantity and source, paper, committed, live, vs paper, verdict
        (the reason folded under it)."""
        rows = [r for r in self.rows if r["chapter"] == name]
        if not rows:
            return ""
        stale = next((r["stale"] for r in rows if r["stale"]), None)
        label = next((r["committed_label"] for r in rows if r["committed_label"]), None)
        head = (f"<p>Committed: <b>{html.escape(label)}</b>, {_stale_html(stale)}.</p>" if label
                else "<p>No committed paper-scale record: the values are the live run's.</p>")
        body = "".join(_row_html(r) for r in rows)
        return (f'{head}<table class="table hu-scorecard"><thead><tr><th>Target</th><th>Paper</th>'
                f"<th>Ours (paper scale)</th><th>Ours ({html.escape(self.scale)})</th><th>vs paper</th>"
                f"<th>Verdict</th></tr></thead><tbody>{body}</tbody></table>")

    def to_html(self) -> str:
        """The summary, then a section per chapter."""
        parts = [self.summary_html()]
        for name, title, note in self.chapters:
            section = self.chapter_html(name) or f"<p>{html.escape(note)}</p>"
            parts.append(f'<h3 id="sc-{name}">{html.escape(title)}</h3>{section}')
        return STYLE + "".join(parts)

    _repr_html_ = to_html


STYLE = """<style>
.hu-scorecard td, .hu-scorecard th { padding: 2px 6px; vertical-align: top; }
.hu-badge { display: inline-block; padding: 0 6px; border-radius: 8px; color: #fff;
  font-size: 0.85em; white-space: nowrap; margin: 1px 0; }
.hu-scorecard details summary { cursor: pointer; font-size: 0.85em; color: #57606a; }
.hu-scorecard small { color: #57606a; }
</style>"""


def _badge(verdict: str | None, count: int | None = None) -> str:
    if verdict is None:
        return "—"
    text = html.escape(verdict) + (f" {count}" if count is not None else "")
    return f'<span class="hu-badge" style="background:{VERDICT_COLOURS[verdict]}">{text}</span>'


def _stale_html(stale: tuple[str, str] | None) -> str:
    if stale is None:
        return "staleness not checked"
    status, detail = stale
    mark = {"stale": "⚠ <b>stale</b>", "current": "code current", "not checked": "staleness not checked"}
    return f'<span title="{html.escape(detail)}">{mark[status]}</span> <small>({html.escape(detail)})</small>'


def _row_html(r: dict) -> str:
    unit = r["unit"] or ""
    live = format_value(r["live"], unit)
    if r["live_verdict"] and r["committed_verdict"]:
        live += f" <small>({html.escape(r['live_verdict'])})</small>"
    sign = {"better": "lower ✓", "worse": "higher", "equal": "equal"}.get(r["vs_paper"], "")
    return (
        f"<tr><td>{html.escape(r['quantity'])}<br><small>{html.escape(r['source'])}</small></td>"
        f"<td>{html.escape(format_value(r['paper'], unit))}</td>"
        f"<td>{format_value(r['committed'], unit) if r['committed_verdict'] else '—'}</td>"
        f"<td>{live}</td><td>{sign}</td>"
        f"<td>{_badge(r['verdict'])}<details><summary>why</summary>{html.escape(r['reason'])}</details></td></tr>"
    )


def _verdict_line(label: str, comparison: list[dict]) -> str:
    counts = Counter(row["verdict"] for row in comparison)
    better = sum(row["verdict"] == "not reproduced" and vs_paper(row, row["ours"]) == "better"
                 for row in comparison)
    badges = " ".join(_badge(v, counts[v]) for v in VERDICTS if counts[v])
    extra = f"; {better} of the misses are errors lower (better) than the paper's" if better else ""
    return f"<b>{label}</b> ({len(comparison)} targets): {badges}{extra}"


def key_results(chapter: str, live: list[dict] | None = None, scale: str | None = None,
                root: Path | None = None) -> HTML:
    """The "Key results" box a chapter shows near its top: verdict counts of the committed
    paper-scale record (its label and stale mark) and, once ``live`` (this run's comparison rows)
    is given, of this run at ``scale``. A chapter displays it first without ``live`` and updates
    it at the end (``display_id``)."""
    scale = scale or os.environ.get("HU_SCALE") or "book"
    lines = []
    if live is not None:
        lines.append(f"<li>{_verdict_line(f'This run (scale {html.escape(scale)})', live)}</li>" if live
                     else "<li>This run has no paper targets.</li>")
    else:
        lines.append("<li><b>This run</b>: the verdicts appear here when the chapter has run "
                     "(see <i>Paper versus ours</i>).</li>")
    committed = ([r for r in list_results(chapter, "paper", root) if r["comparison"]]
                 if scale != "paper" else [])
    for record in committed:
        prov = record["provenance"]
        diffs = preset_differences(chapter, prov.get("params", {}))
        made = prov.get("git_commit", "unknown")
        stale = staleness(chapter, made, verified=verified_commit(chapter, made, root))
        label = "Committed paper-scale run" + (f", reduced ({'; '.join(diffs)})" if diffs else "")
        lines.append(f"<li>{_verdict_line(html.escape(label), record['comparison'])}; "
                     f"{_stale_html(stale)}</li>")
    if not committed and scale != "paper":
        lines.append("<li>No committed paper-scale run for this chapter.</li>")
    body = "".join(lines)
    return HTML(STYLE + '<div class="admonition tip"><p class="admonition-title">Key results</p>'
                f"<ul>{body}</ul><p>Every target, with its reason: the table at the end of this "
                "chapter and the reproduction scorecard (Appendix).</p></div>")


@dataclass
class HTML:
    """An HTML fragment that notebooks display as HTML (``_repr_html_``)."""

    text: str

    def _repr_html_(self) -> str:
        return self.text


def overview(claims: dict[str, str], root: Path | None = None) -> HTML:
    """The landing page's results overview: per chapter (book order) its title linked to the
    chapter page, what the paper claims (``claims[chapter]``, text written in the book) and how
    much held in the committed paper-scale run (verdict badges, reduced label and stale mark).
    Only committed records are used: the landing page is built before the chapters run."""
    card = scorecard("paper", root)
    rows = []
    for name, title, _ in card.chapters:
        records = [r for r in list_results(name, "paper", root) if r["comparison"]]
        counts = card.counts(name)
        if records:
            record = records[0]["provenance"]
            diffs = preset_differences(name, record.get("params", {}))
            made = record.get("git_commit", "unknown")
            status = staleness(name, made, verified=verified_commit(name, made, root))[0]
            held = (" ".join(_badge(v, counts[v]) for v in VERDICTS if counts[v])
                    + f"<br><small>{sum(counts.values())} targets, paper protocol"
                    + (", reduced" if diffs else "") + ("; ⚠ stale" if status == "stale" else "")
                    + "</small>")
        else:
            held = "<small>no committed paper-scale run with targets or claims: see the chapter</small>"
        link = f'<a href="../notebooks/{name}.html">{html.escape(title)}</a>'
        rows.append(f"<tr><td>{link}</td><td>{html.escape(claims.get(name, ''))}</td><td>{held}</td></tr>")
    return HTML(STYLE + '<table class="table hu-scorecard"><thead><tr><th>Chapter</th><th>The paper '
                "claims</th><th>Held (committed paper-scale run)</th></tr></thead><tbody>"
                + "".join(rows) + "</tbody></table>")


def scorecard(scale: str | None = None, root: Path | None = None) -> Scorecard:
    """Every chapter's targets, once each, from its committed ``paper`` record and its live record
    at ``scale`` (default ``$HU_SCALE`` or ``"book"``). A chapter with targets but no record gets
    *not attempted* rows; a chapter without targets or claims is listed with a note."""
    scale = scale or os.environ.get("HU_SCALE") or "book"
    rows, chapters = [], []
    for name in available():
        chapter_rows = _chapter_rows(name, scale, root)
        note = "" if chapter_rows else "reference chapter: no paper targets"
        rows += chapter_rows
        chapters.append((name, get_chapter(name).TITLE, note))
    return Scorecard(rows, chapters, scale)
