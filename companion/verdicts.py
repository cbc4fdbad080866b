"""The book's one verdict rule: paper targets as data, a verdict for each, a structured reason.

Every chapter declares what it compares with the paper in ``companion/chapters/<name>.py``:

* :class:`Target`: a number the paper prints (value, printed precision, metric, convention,
  direction, unit, source);
* :class:`Claim`: a statement "A beats B" judged over paired comparisons (runs, scenes,
  metrics, rivals).

A chapter's report (``companion/reports/<name>.py``) turns its records into comparison rows with
:func:`numeric_row` and :func:`claim_row`; nothing else decides a verdict. The rule, stated on
the book page *How verdicts are decided* (``book/verdicts.md``):

numeric
    *reproduced* when ``|ours - paper| <= max(10 % of |paper|, half a unit of the paper's last
    printed digit)``; *partly* when ``<= max(25 % of |paper|, that half unit)``; otherwise *not
    reproduced*, or *not reproduced — ours better* when the metric's direction says ours is the
    better side (an error lower than the paper's, a score higher). A seed spread is shown as a
    95 % interval (:func:`interval95`); it may support a ``sample size`` reason, never a verdict.
claim
    a one-sided sign test of "A beats B" over the paired comparisons, ties left out
    (:func:`sign_test`): *supported* when ``p < 0.05``; *partly* when A wins more than half
    without significance; otherwise *not supported*.
no number
    *diverged* when our run diverged (never compared as a number); *not attempted* when it did
    not run (the reason says why).

Every miss carries a :class:`Reason`: a class (:data:`REASON_CLASSES`) and the evidence, the
experiment of the chapter that shows it, with its numbers. A reason without evidence is
``unexplained``.

Stored verdicts are never trusted: :func:`check_rows` recomputes each row's verdict from
``ours`` and the declared target and raises :class:`SummaryError`, naming the file and the fix,
on any disagreement, a non-finite or non-numeric value, or a malformed row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scipy import stats

__all__ = [
    "ALPHA",
    "DIRECTIONS",
    "NUMERIC_VERDICTS",
    "CLAIM_VERDICTS",
    "REASON_CLASSES",
    "VERDICTS",
    "Claim",
    "Reason",
    "SummaryError",
    "Target",
    "bands",
    "check_rows",
    "claim_row",
    "interval95",
    "judge_claim",
    "judge_numeric",
    "is_miss",
    "numeric_row",
    "sample_size_reason",
    "sensitivity_row",
    "sign_test",
]

REPRODUCED_SHARE = 0.10   # of |paper|
PARTLY_SHARE = 0.25       # of |paper|
ALPHA = 0.05              # one-sided sign test
DIRECTIONS = ("lower", "higher", "none")   # which side is better: an error is "lower"
OURS_BETTER = "not reproduced — ours better"
NUMERIC_VERDICTS = ("reproduced", "partly", "not reproduced", OURS_BETTER)
CLAIM_VERDICTS = ("supported", "partly", "not supported")
NO_NUMBER = ("diverged", "not attempted")
VERDICTS = ("reproduced", "supported", "partly", "not reproduced", OURS_BETTER, "not supported",
            "diverged", "not attempted")
HITS = ("reproduced", "supported")
REASON_CLASSES = ("sample size", "data we lack", "open protocol choice", "ours better", "unexplained")


@dataclass(frozen=True)
class Target:
    """A number the paper prints, to compare ours against.

    ``key``: the quantity's name in a chapter's results; ``value``: the paper's number in
    ``unit``; ``decimals``: digits the paper prints after the decimal point (``0.036`` -> 3), so
    half a unit of the last digit is ``0.5 * 10**-decimals``; ``metric``: the named metric function
    (e.g. ``"metrics.rmse_per_pixel_mean"``); ``convention``: how it is computed, labelled ``P``
    (the paper's text) or ``C`` (the official code), fixed before looking at our numbers;
    ``direction``: ``"lower"`` for an error, ``"higher"`` for a score, ``"none"`` when neither
    side is better (e.g. a share of significant tests); ``source``: table or figure.
    """

    key: str
    quantity: str
    value: float
    decimals: int
    unit: str
    source: str
    metric: str
    convention: str
    direction: str

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ValueError(f"target {self.key!r}: direction must be one of {DIRECTIONS}, got "
                             f"{self.direction!r}")
        if not (isinstance(self.value, (int, float)) and math.isfinite(self.value)):
            raise ValueError(f"target {self.key!r}: the paper's value must be a finite number, got "
                             f"{self.value!r}")
        if not self.convention.startswith(("P", "C")):
            raise ValueError(f"target {self.key!r}: convention must start with 'P' (paper) or 'C' "
                             f"(official code), got {self.convention!r}")

    @property
    def half_unit(self) -> float:
        """Half a unit of the paper's last printed digit."""
        return 0.5 * 10.0 ** -self.decimals


@dataclass(frozen=True)
class Claim:
    """A statement of the paper, "A beats B", judged by a sign test over paired comparisons.

    ``paper``: the claim in the paper's words; ``comparisons``: what one paired comparison is
    (e.g. "seed means per scene, metric and rival"), fixed before looking."""

    key: str
    quantity: str
    source: str
    paper: str
    comparisons: str


@dataclass(frozen=True)
class Reason:
    """Why a target is missed: a class of :data:`REASON_CLASSES` (``"open protocol choice: <name>"``
    names the choice) and the evidence, the experiment in the chapter that shows it with its
    numbers. Without evidence the class is ``unexplained`` whatever was asked."""

    cls: str
    evidence: str = ""

    def __post_init__(self):
        base = self.cls.split(":", 1)[0].strip()
        if base not in REASON_CLASSES:
            raise ValueError(f"reason class must be one of {REASON_CLASSES} (or 'open protocol "
                             f"choice: <name>'), got {self.cls!r}")
        if base == "open protocol choice" and not self.cls.partition(":")[2].strip():
            raise ValueError("an open protocol choice must be named: 'open protocol choice: <name>'")
        if not self.evidence.strip():
            object.__setattr__(self, "cls", "unexplained")

    def to_dict(self) -> dict:
        return {"class": self.cls, "evidence": self.evidence}

    @classmethod
    def from_dict(cls, data: Mapping) -> Reason:
        return cls(data["class"], data.get("evidence", ""))


class SummaryError(ValueError):
    """A results summary cannot be trusted: the message names the file, the row and the fix."""


# ----------------------------------------------------------------------------- the rule
def bands(target: Target) -> tuple[float, float]:
    """``(reproduced, partly)``: the largest ``|ours - paper|`` still called each."""
    paper = abs(target.value)
    return (max(REPRODUCED_SHARE * paper, target.half_unit),
            max(PARTLY_SHARE * paper, target.half_unit))


def judge_numeric(target: Target, ours: float) -> str:
    """The verdict on a finite ``ours`` against ``target`` (see the module docstring)."""
    if isinstance(ours, bool) or not isinstance(ours, (int, float)) or not math.isfinite(ours):
        raise TypeError(f"target {target.key!r}: ours must be a finite number, got {ours!r}")
    gap = abs(ours - target.value)
    reproduced, partly = bands(target)
    # a tiny slack: 0.0455 against 0.05 at 10 % is reproduced although the float gap is 0.00450...01
    slack = 1e-12 * max(1.0, abs(target.value))
    if gap <= reproduced + slack:
        return "reproduced"
    if gap <= partly + slack:
        return "partly"
    better = (target.direction == "lower" and ours < target.value) or (
        target.direction == "higher" and ours > target.value)
    return OURS_BETTER if better else "not reproduced"


def sign_test(wins: int, losses: int) -> float:
    """One-sided sign test p-value of "wins beat losses" (ties left out by the caller):
    ``P(X >= wins)`` for ``X ~ Binomial(wins + losses, 1/2)``; 1.0 with no comparison."""
    n = wins + losses
    if wins < 0 or losses < 0:
        raise ValueError(f"wins and losses must be >= 0, got {wins}, {losses}")
    return 1.0 if n == 0 else float(stats.binom.sf(wins - 1, n, 0.5))


def judge_claim(wins: int, losses: int) -> str:
    """*supported* if the sign test is significant at :data:`ALPHA`; *partly* if more than half
    of the comparisons are won without significance; else *not supported*."""
    if sign_test(wins, losses) < ALPHA:
        return "supported"
    return "partly" if wins > (wins + losses) / 2 else "not supported"


def interval95(values: Sequence[float]) -> tuple[float, float] | None:
    """95 % t-interval of the mean of ``values`` (None with fewer than two)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if len(finite) < 2:
        return None
    mean = math.fsum(finite) / len(finite)
    sem = stats.sem(finite)
    half = float(stats.t.ppf(0.975, len(finite) - 1) * sem)
    return mean - half, mean + half


def sample_size_reason(target: Target, values: Sequence[float], experiment: str) -> Reason | None:
    """A ``sample size`` reason when the paper's value lies inside the 95 % interval of our mean
    over ``values`` (runs or seeds of ``experiment``); None otherwise."""
    interval = interval95(values)
    if interval is None or not interval[0] <= target.value <= interval[1]:
        return None
    n = sum(v is not None and math.isfinite(v) for v in values)
    return Reason("sample size", f"{experiment}: the paper's {target.value:g} lies inside the 95 % "
                                 f"interval [{interval[0]:.4g}, {interval[1]:.4g}] of our mean over {n} runs")


def is_miss(verdict: str) -> bool:
    """A verdict that needs a reason: anything but reproduced, supported and not attempted."""
    return verdict not in HITS and verdict != "not attempted"


# ----------------------------------------------------------------------------- rows
def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def numeric_row(target: Target, ours: float | None, *, reason: Reason | None = None,
                values: Sequence[float] | None = None, diverged: bool = False,
                not_attempted: str | None = None) -> dict:
    """The comparison row of ``target``: ours, its 95 % interval over ``values`` (runs), the
    verdict and the reason (required for a miss: none given means ``unexplained``).

    ``diverged`` (or a non-finite ``ours``) gives *diverged*; ``ours=None`` gives *not attempted*
    with ``not_attempted`` as the reason (what stopped it)."""
    row = {"key": target.key, "kind": "numeric", "quantity": target.quantity, "source": target.source,
           "unit": target.unit, "metric": target.metric, "convention": target.convention,
           "direction": target.direction, "paper": target.value, "decimals": target.decimals,
           "ours": None, "interval": None, "n": None, "difference": None}
    if diverged or (ours is not None and not _finite(ours)):
        return row | {"verdict": "diverged",
                      "reason": (reason or Reason("unexplained", "")).to_dict() | {"status": "diverged"}}
    if ours is None:
        return row | {"verdict": "not attempted",
                      "reason": {"class": "not attempted", "evidence": not_attempted or "not run"}}
    interval = interval95(values) if values is not None else None
    verdict = judge_numeric(target, float(ours))
    out = row | {"ours": float(ours), "interval": list(interval) if interval else None,
                 "n": None if values is None else sum(_finite(v) for v in values),
                 "difference": float(ours) - target.value, "verdict": verdict}
    if not is_miss(verdict):
        return out | {"reason": reason.to_dict() if reason else None}
    return out | {"reason": (reason or Reason("unexplained")).to_dict()}


def claim_row(claim: Claim, wins: int, losses: int, ours: str, *, ties: int = 0,
              reason: Reason | None = None, not_attempted: str | None = None) -> dict:
    """The comparison row of ``claim``: wins, losses and ties over its paired comparisons, the
    sign test's p-value, the verdict and the reason (required for a miss)."""
    row = {"key": claim.key, "kind": "claim", "quantity": claim.quantity, "source": claim.source,
           "paper": claim.paper, "comparisons": claim.comparisons, "ours": ours}
    if not_attempted is not None:
        return row | {"ours": None, "wins": None, "losses": None, "ties": None, "p_value": None,
                      "verdict": "not attempted",
                      "reason": {"class": "not attempted", "evidence": not_attempted}}
    verdict = judge_claim(wins, losses)
    out = row | {"wins": wins, "losses": losses, "ties": ties, "p_value": sign_test(wins, losses),
                 "verdict": verdict}
    if not is_miss(verdict):
        return out | {"reason": reason.to_dict() if reason else None}
    return out | {"reason": (reason or Reason("unexplained")).to_dict()}


def sensitivity_row(target: Target, ours: float | None, convention: str) -> dict:
    """A row in another ``convention`` than the target's: shown beside it, never judged."""
    return {"key": f"{target.key}@{convention}", "kind": "sensitivity", "quantity": target.quantity,
            "source": target.source, "unit": target.unit, "convention": convention,
            "paper": target.value, "ours": ours if ours is None or _finite(ours) else None,
            "verdict": None, "reason": None}


# ----------------------------------------------------------------------------- checking
def _fail(path: Path | str, key: Any, problem: str, chapter: str) -> SummaryError:
    return SummaryError(
        f"{path}: row {key!r}: {problem}.\nFix: regenerate the summary from its records with "
        f"`python -m companion report {chapter} --scale paper`, or restore the file with git.")


def check_rows(rows: Any, targets: Iterable[Target | Claim], path: Path | str, chapter: str) -> list[dict]:
    """Recompute every verdict of ``rows`` (a summary's ``comparison``) from ``ours`` and the
    declared ``targets``; return the rows with the recomputed verdicts (and reasons kept).

    Raises :class:`SummaryError` naming ``path`` for a malformed row, a key that is not a declared
    target, a non-finite or non-numeric value, an inconsistent claim count, or a stored verdict
    that differs from the recomputed one."""
    if not isinstance(rows, list):
        raise _fail(path, None, f"'comparison' must be a list, got {type(rows).__name__}", chapter)
    declared = {t.key: t for t in targets}
    out = []
    for row in rows:
        if not isinstance(row, dict) or "key" not in row or "kind" not in row:
            raise _fail(path, row if not isinstance(row, dict) else row.get("key"),
                        "not a comparison row (needs 'key' and 'kind')", chapter)
        key, kind = row["key"], row["kind"]
        if kind == "sensitivity":
            if row.get("verdict") is not None:
                raise _fail(path, key, "a sensitivity row carries no verdict", chapter)
            out.append(dict(row))
            continue
        target = declared.get(key)
        if target is None:
            raise _fail(path, key, f"not a declared target or claim of chapter {chapter!r}", chapter)
        out.append(_check_row(row, target, path, chapter))
    return out


def _check_row(row: dict, target: Target | Claim, path, chapter: str) -> dict:
    key, stored = row["key"], row.get("verdict")
    reason = row.get("reason")
    if stored == "not attempted":
        if row.get("ours") is not None:
            raise _fail(path, key, "'not attempted' with a value", chapter)
        return dict(row)
    if isinstance(target, Claim):
        if row["kind"] != "claim":
            raise _fail(path, key, f"declared as a claim, stored as {row['kind']!r}", chapter)
        wins, losses = row.get("wins"), row.get("losses")
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (wins, losses)):
            raise _fail(path, key, f"wins and losses must be counts, got {wins!r}, {losses!r}", chapter)
        verdict = judge_claim(wins, losses)
    else:
        if row["kind"] != "numeric":
            raise _fail(path, key, f"declared as a number, stored as {row['kind']!r}", chapter)
        if row.get("paper") != target.value:
            raise _fail(path, key, f"paper value {row.get('paper')!r} differs from the declared "
                                   f"{target.value!r}", chapter)
        ours = row.get("ours")
        if stored == "diverged":
            if ours is not None:
                raise _fail(path, key, "'diverged' with a value", chapter)
            return dict(row)
        if not _finite(ours):
            raise _fail(path, key, f"ours must be a finite number, got {ours!r}", chapter)
        verdict = judge_numeric(target, ours)
    if stored != verdict:
        raise _fail(path, key, f"stored verdict {stored!r} differs from the rule's {verdict!r}", chapter)
    if is_miss(verdict) and not (isinstance(reason, dict) and reason.get("class")):
        raise _fail(path, key, f"a miss ({verdict}) without a structured reason", chapter)
    return dict(row)
