"""The reproduction scorecard: one row per declared target, a summary per chapter.

Each chapter's targets and claims are declared in ``companion/chapters/<name>.py``
(:func:`companion.chapters.targets`); the values come from its results summaries: the committed
``paper``-scale summary and the live summary at the scale the book was built with. Every verdict
is **recomputed** from ``ours`` and the declared target by :mod:`companion.verdicts`, never read
from the file: a stored verdict that disagrees, a non-finite or non-numeric value, or a malformed
summary raises :class:`companion.verdicts.SummaryError` naming the file and the fix. A target
appears **once**, with both values beside each other::

    {"chapter", "title", "key", "kind", "quantity", "source", "unit", "paper", "direction",
     "committed", "committed_verdict", "committed_label", "live", "live_verdict", "live_scale",
     "verdict", "reason", "vs_paper", "stale"}

``verdict`` and ``reason`` (``{"class", "evidence"}`` or None) are the committed summary's when
there is one, else the live run's. ``vs_paper`` is "better" / "worse" / "equal" by the target's
declared direction, None for claims and direction "none". ``stale`` is the committed summary's
:func:`companion.pipeline.staleness` (the book's one staleness rule: the records' code hash
against the current compute closure).
"""

from __future__ import annotations

import html
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from companion import pipeline
from companion.chapters import available, get_chapter, targets
from companion.results import format_number, read_result, results_root
from companion.verdicts import VERDICTS, SummaryError, Target, check_rows, is_miss

__all__ = [
    "Scorecard",
    "checked_summary",
    "duplicate_targets",
    "format_value",
    "key_results",
    "overview",
    "preset_differences",
    "run_label",
    "scorecard",
    "vs_paper",
]

# Badge colours per verdict (background); text is dark on light colours.
VERDICT_COLOURS = {
    "reproduced": "#1a7f37", "supported": "#1a7f37", "partly": "#bf8700",
    "not reproduced": "#cf222e", "not reproduced — ours better": "#0969da", "not supported": "#cf222e",
    "diverged": "#8250df", "not attempted": "#6e7781",
}


def vs_paper(target, ours) -> str | None:
    """"better", "worse" or "equal" than the paper by ``target``'s declared direction; None for a
    claim, direction "none" or a missing value."""
    if ours is None or not isinstance(target, Target) or target.direction == "none":
        return None
    if ours == target.value:
        return "equal"
    lower = ours < target.value
    return "better" if lower == (target.direction == "lower") else "worse"


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
    as ``"name=ours (preset value)"``, or ``"name without a, b"`` for a list of names (methods,
    scenes) that is the preset's but for some of them (:data:`EXECUTION_PARAMETERS` left out), at
    most ``limit`` plus a count."""
    preset = get_chapter(chapter).PRESETS["paper"]
    diffs = [_difference(k, params[k], v) for k, v in preset.items()
             if k not in EXECUTION_PARAMETERS and k in params and params[k] != v]
    return diffs[:limit] + ([f"{len(diffs) - limit} more"] if len(diffs) > limit else [])


def _difference(name: str, ours, preset) -> str:
    if (isinstance(ours, list) and isinstance(preset, list) and all(isinstance(x, str) for x in preset)
            and ours == [x for x in preset if x in ours]):
        return f"{name} without " + ", ".join(str(x) for x in preset if x not in ours)
    return f"{name}={ours!r} (preset {preset!r})"


def run_label(chapter: str, params: dict) -> str:
    """"paper protocol" for a committed run with the paper preset, else "paper protocol, reduced:
    <what differs>" (a reduced run is never called "paper")."""
    diffs = preset_differences(chapter, params)
    return "paper protocol" + (f", reduced: {'; '.join(diffs)}" if diffs else "")


def duplicate_targets(rows: list[dict]) -> list[tuple[str, str]]:
    """``(chapter, key)`` pairs listed more than once (a scorecard must list each target once)."""
    counts = Counter((r["chapter"], r["key"]) for r in rows)
    return [pair for pair, n in counts.items() if n > 1]


def checked_summary(chapter: str, scale: str, root: Path | None = None) -> dict | None:
    """The summary of ``chapter`` at ``scale`` with every comparison row checked and its verdict
    recomputed (:func:`companion.verdicts.check_rows`), or None when there is none. Raises
    :class:`~companion.verdicts.SummaryError` (or :class:`~companion.results.DamagedResultError`)
    naming the file."""
    summary = read_result(chapter, scale, "summary", root)
    if summary is None:
        return None
    path = (root or results_root()) / chapter / scale / "summary.json"
    if not isinstance(summary.get("provenance"), dict) or not isinstance(summary["provenance"].get("params"),
                                                                          dict):
        raise SummaryError(f"{path}: no provenance parameters.\nFix: regenerate it with `python -m companion "
                           f"report {chapter} --scale {scale}`, or restore the file with git.")
    summary["comparison"] = check_rows(summary["comparison"], targets(chapter), path, chapter)
    return summary


def _chapter_rows(name: str, scale: str, root: Path | None) -> list[dict]:
    module = get_chapter(name)
    declared = targets(name)
    committed = checked_summary(name, "paper", root) if scale != "paper" else None
    live = checked_summary(name, scale, root)
    rows: dict[str, dict] = {}
    for target in declared:
        rows[target.key] = {
            "chapter": name, "title": module.TITLE, "key": target.key,
            "kind": "numeric" if isinstance(target, Target) else "claim",
            "quantity": target.quantity, "source": target.source,
            "unit": getattr(target, "unit", ""),
            "paper": target.value if isinstance(target, Target) else target.paper,
            "direction": getattr(target, "direction", None), "committed": None, "committed_verdict": None,
            "committed_label": None, "live": None, "live_verdict": None, "live_scale": scale,
            "verdict": "not attempted", "reason": {"class": "not attempted", "evidence": (
                f"no results at scale {scale!r}; run: python -m companion run {name}")},
            "vs_paper": None, "stale": None, "_target": target}
    for source, summary in (("committed", committed), ("live", live)):
        if summary is None:
            continue
        label = run_label(name, summary["provenance"]["params"]) if source == "committed" else None
        checked = source == "committed" and pipeline.has_pipeline(name)
        stale = pipeline.staleness(name, summary, root) if checked else None
        for cmp in summary["comparison"]:
            if cmp["kind"] == "sensitivity":
                continue
            row = rows[cmp["key"]]
            row[source], row[f"{source}_verdict"] = cmp["ours"], cmp["verdict"]
            if source == "committed":
                row["committed_label"], row["stale"] = label, stale
            if source == "committed" or row["committed_verdict"] is None:
                row["verdict"], row["reason"] = cmp["verdict"], cmp.get("reason")
    for row in rows.values():
        target = row.pop("_target")
        row["vs_paper"] = vs_paper(target, row["committed"] if row["committed_verdict"] else row["live"])
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

    def reason_counts(self, chapter: str | None = None) -> Counter:
        """Classes of the reasons of the misses (of one chapter when given)."""
        return Counter(_reason_class(r["reason"]) for r in self.rows
                       if chapter in (None, r["chapter"]) and is_miss(r["verdict"]))

    def summary_html(self) -> str:
        """Per chapter: targets, badges with counts per verdict, the classes of the misses' reasons."""
        lines = []
        for name, title, note in self.chapters:
            counts = self.counts(name)
            badges = " ".join(_badge(v, counts[v]) for v in VERDICTS if counts[v]) or html.escape(note)
            reasons = self.reason_counts(name)
            listed = ", ".join(f"{html.escape(cls)} {n}" for cls, n in sorted(reasons.items()))
            extra = f"<br><small>misses by reason: {listed}</small>" if reasons else ""
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


def _reason_class(reason) -> str:
    return reason.get("class", "unexplained") if isinstance(reason, dict) else "unexplained"


def reason_text(reason) -> str:
    """A structured reason in words: ``"class: evidence"``; an em dash when there is none."""
    if not isinstance(reason, dict):
        return "—"
    evidence = reason.get("evidence") or ""
    return f"{reason.get('class', 'unexplained')}: {evidence}" if evidence else reason.get("class", "—")


def _row_html(r: dict) -> str:
    unit = r["unit"] or ""
    live = format_value(r["live"], unit)
    if r["live_verdict"] and r["committed_verdict"]:
        live += f" <small>({html.escape(r['live_verdict'])})</small>"
    marks = {"better": {"lower": "lower ✓", "higher": "higher ✓"},
             "worse": {"lower": "higher", "higher": "lower"}, "equal": {"lower": "equal", "higher": "equal"}}
    sign = marks.get(r["vs_paper"], {}).get(r["direction"], "")
    why = (f"<details><summary>why</summary>{html.escape(reason_text(r['reason']))}</details>"
           if r["reason"] else "")
    return (
        f"<tr><td>{html.escape(r['quantity'])}<br><small>{html.escape(r['source'])}</small></td>"
        f"<td>{html.escape(format_value(r['paper'], unit))}</td>"
        f"<td>{format_value(r['committed'], unit) if r['committed_verdict'] else '—'}</td>"
        f"<td>{live}</td><td>{sign}</td><td>{_badge(r['verdict'])}{why}</td></tr>"
    )


def _verdict_line(label: str, comparison: list[dict]) -> str:
    judged = [row for row in comparison if row.get("kind") != "sensitivity"]
    counts = Counter(row["verdict"] for row in judged)
    badges = " ".join(_badge(v, counts[v]) for v in VERDICTS if counts[v])
    return f"<b>{label}</b> ({len(judged)} targets): {badges}"


def key_results(chapter: str, live: list[dict] | None = None, scale: str | None = None,
                root: Path | None = None) -> HTML:
    """The "Key results" box a chapter shows near its top: verdict counts of the committed
    paper-scale record (its label and stale mark) and, once ``live`` (this run's comparison rows)
    is given, of this run at ``scale``. A chapter displays it first without ``live`` and updates
    it at the end (``display_id``)."""
    scale = scale or os.environ.get("HU_SCALE") or "book"
    lines = []
    if live:
        lines.append(f"<li>{_verdict_line(f'This run (scale {html.escape(scale)})', live)}</li>" if live
                     else "<li>This run has no paper targets.</li>")
    else:
        lines.append("<li><b>This run</b>: the verdicts appear here when the chapter has run "
                     "(see <i>Paper versus ours</i>).</li>")
    if live is not None:   # this run's rows are checked as a committed file's are
        live = check_rows(live, targets(chapter), f"this run of {chapter}", chapter)
    committed = checked_summary(chapter, "paper", root) if scale != "paper" else None
    if committed is not None and committed["comparison"]:
        label = f"Committed run ({run_label(chapter, committed['provenance']['params'])})"
        stale = pipeline.staleness(chapter, committed, root) if pipeline.has_pipeline(chapter) else None
        lines.append(f"<li>{_verdict_line(html.escape(label), committed['comparison'])}; "
                     f"{_stale_html(stale)}</li>")
    elif scale != "paper":
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
        summary = checked_summary(name, "paper", root)
        counts = card.counts(name)
        if summary is not None and summary["comparison"]:
            reduced = preset_differences(name, summary["provenance"]["params"])
            status = pipeline.staleness(name, summary, root)[0] if pipeline.has_pipeline(name) else None
            held = (" ".join(_badge(v, counts[v]) for v in VERDICTS if counts[v])
                    + f"<br><small>{sum(counts.values())} targets, paper protocol"
                    + (", reduced" if reduced else "") + ("; ⚠ stale" if status == "stale" else "")
                    + "</small>")
        else:
            held = "<small>no committed paper-scale run with targets or claims: see the chapter</small>"
        link = f'<a href="../notebooks/{name}.html">{html.escape(title)}</a>'
        rows.append(f"<tr><td>{link}</td><td>{html.escape(claims.get(name, ''))}</td><td>{held}</td></tr>")
    return HTML(STYLE + '<table class="table hu-scorecard"><thead><tr><th>Chapter</th><th>The paper '
                "claims</th><th>Held (committed paper-scale run)</th></tr></thead><tbody>"
                + "".join(rows) + "</tbody></table>")


def scorecard(scale: str | None = None, root: Path | None = None) -> Scorecard:
    """Every chapter's declared targets, once each, from its committed ``paper`` summary and its live
    summary at ``scale`` (default ``$HU_SCALE`` or ``"book"``), every verdict recomputed. A target
    without a value gets *not attempted*; a chapter without targets or claims is listed with a note."""
    scale = scale or os.environ.get("HU_SCALE") or "book"
    rows, chapters = [], []
    for name in available():
        chapter_rows = _chapter_rows(name, scale, root) if targets(name) else []
        note = "" if chapter_rows else "reference chapter: no paper targets"
        rows += chapter_rows
        chapters.append((name, get_chapter(name).TITLE, note))
    return Scorecard(rows, chapters, scale)
