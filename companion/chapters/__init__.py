"""Chapter registry: presets per scale, parameter schemas and paper targets, one module a chapter.

Each chapter of the book is a jupytext notebook ``notebooks/<name>.md`` and a small declarative
module ``companion/chapters/<name>.py`` holding only data:

``TITLE``
    The chapter title as shown in the book.
``ORDER``
    Position in the book (the scorecard lists chapters in this order).
``PARAMETERS``
    ``{name: Param(type, help, ...)}``: every parameter the notebook accepts besides ``scale``,
    with its range (``minimum``/``maximum``, ``positive``, ``nonempty``, ``pattern``, ``choices``).
``PRESETS``
    ``{"smoke": {...}, "book": {...}, "paper": {...}}``: a complete value for every parameter at
    every scale. ``smoke`` runs in seconds, ``book`` in minutes on two CPU cores, ``paper`` is the
    paper's protocol (cite the table or section in a comment).
``PAPER_TARGETS``
    A list of :class:`companion.verdicts.Target`: the paper's numbers with their printed
    precision, metric, convention (P or C, fixed before looking), direction, unit and source.
``CLAIMS`` (optional)
    A list of :class:`companion.verdicts.Claim`: the paper's "A beats B" statements, judged by
    the sign test over the paired comparisons each names.

Optionally ``check_parameters(params)``, raising ValueError for combinations of values that are
invalid although each value is in range (e.g. ``real_runs > runs``).

Adding a chapter means adding its module; :func:`available` discovers it.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import math
import os
import pkgutil
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = [
    "SCALES",
    "Param",
    "available",
    "describe",
    "device_param",
    "seed_param",
    "get_chapter",
    "resolve_parameters",
    "show_progress",
    "targets",
]

SCALES = ("smoke", "book", "paper")
DEFAULT_SCALE = "book"
_REQUIRED = ("TITLE", "ORDER", "PARAMETERS", "PRESETS", "PAPER_TARGETS")


@dataclass(frozen=True)
class Param:
    """Schema of one chapter parameter.

    ``type`` is ``str``, ``int``, ``float``, ``bool`` or ``list`` (a list of ``item`` values).
    The range applies to the value, or to each item of a list:

    ``choices``
        the allowed values;
    ``minimum``, ``maximum``
        inclusive bounds (numbers);
    ``positive``
        the number must be > 0;
    ``pattern``
        a regular expression the whole string must match;
    ``nonempty``
        a list must have at least one item;
    ``allow_inf``
        ``+inf`` is a valid float (e.g. an SNR of inf dB: no noise); NaN and ``-inf`` never are.

    Floats must otherwise be finite (``1e400`` parses as inf and is refused). Example::

        "lr": Param(float, "learning rate", positive=True, maximum=1.0)
        "runs": Param(int, "repetitions", minimum=1)
    """

    type: type
    help: str
    item: type | None = None
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False
    pattern: str | None = None
    nonempty: bool = False
    allow_inf: bool = False

    @property
    def type_name(self) -> str:
        """Readable type, e.g. ``int`` or ``list[str]``."""
        name = self.type.__name__
        return f"{name}[{self.item.__name__}]" if self.item else name

    def _bounds(self) -> list[str]:
        item_type = self.item if self.type is list else self.type
        parts = ["finite or inf" if self.allow_inf else "finite"] if item_type is float else []
        parts += ["> 0"] if self.positive else []
        parts += [f">= {self.minimum!r}"] if self.minimum is not None else []
        parts += [f"<= {self.maximum!r}"] if self.maximum is not None else []
        parts += [f"matching '{self.pattern}'"] if self.pattern else []
        return parts

    @property
    def range_text(self) -> str:
        """The range in words, e.g. ``>= 1`` or ``finite, > 0`` (empty when unrestricted)."""
        return ", ".join(self._bounds() + (["at least one item"] if self.nonempty else []))

    def check(self, name: str, value: Any) -> Any:
        """Return ``value`` (tuples become lists, ints become floats) or raise TypeError/ValueError.

        The messages name the parameter, the offending value and what is valid.
        """
        if self.type is list and isinstance(value, tuple):
            value = list(value)
        item_type = self.item if self.type is list else self.type
        if item_type is float:
            if self.type is list and isinstance(value, list):
                value = [float(i) if isinstance(i, int) and not isinstance(i, bool) else i for i in value]
            elif isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
        items = value if isinstance(value, list) else [value]
        wrong_type = not isinstance(value, self.type) or (self.type is int and isinstance(value, bool))
        wrong_item = item_type and not all(
            isinstance(i, item_type) and not (item_type is int and isinstance(i, bool)) for i in items)
        if wrong_type or wrong_item:
            raise TypeError(
                f"parameter {name!r} must be {self.type_name}, got {type(value).__name__} "
                f"{value!r} ({self.help})"
            )
        if self.nonempty and not items:
            raise ValueError(f"parameter {name!r} must have at least one item, got [] ({self.help})")
        bad = [item for item in items if self.choices is not None and item not in self.choices]
        if bad:
            raise ValueError(f"parameter {name!r}: invalid value(s) {bad!r}; valid: {list(self.choices)!r}")
        bad = [item for item in items if not self._in_range(item)]
        if bad:
            shown = bad[0] if self.type is not list else bad
            raise ValueError(
                f"parameter {name!r}: {shown!r} is not valid, expected {', '.join(self._bounds())} "
                f"({self.help})"
            )
        return value

    def _in_range(self, item: Any) -> bool:
        if isinstance(item, float) and not math.isfinite(item):
            return self.allow_inf and item == math.inf
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            return not ((self.positive and item <= 0)
                        or (self.minimum is not None and item < self.minimum)
                        or (self.maximum is not None and item > self.maximum))
        if isinstance(item, str) and self.pattern:
            return re.fullmatch(self.pattern, item) is not None
        return True


# 'mps' is not matched: the book needs float64, which MPS lacks (runtime.NO_FLOAT64).
DEVICE_PATTERN = r"auto|cpu|cuda(:\d+)?"


SEED_MAX = 2**31 - 1


def seed_param(help: str) -> Param:
    """An integer seed parameter: 0 to 2**31 - 1 (what every generator of the book accepts)."""
    return Param(int, help, minimum=0, maximum=SEED_MAX)


def device_param(help: str = "torch device: 'auto', 'cpu', 'cuda' or 'cuda:N'") -> Param:
    """The ``device`` parameter every chapter shares (``gpu`` or ``cuda0`` fail validation, and
    ``mps``, whose lack of float64 the help names)."""
    return Param(str, f"{help}; not 'mps', which has no float64", pattern=DEVICE_PATTERN)


def targets(chapter: str | ModuleType) -> list:
    """Every declared target and claim of ``chapter`` (``PAPER_TARGETS + CLAIMS``)."""
    module = get_chapter(chapter) if isinstance(chapter, str) else chapter
    return [*module.PAPER_TARGETS, *getattr(module, "CLAIMS", [])]


def available() -> list[str]:
    """Names of all chapters, in book order."""
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    return sorted(names, key=lambda n: (get_chapter(n).ORDER, n))


def get_chapter(name: str) -> ModuleType:
    """The declarative module of chapter ``name``; ValueError listing the chapters if unknown."""
    known = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    if name not in known:
        raise ValueError(f"unknown chapter {name!r}{_suggest(name, known)}; chapters: {sorted(known)}")
    module = importlib.import_module(f"{__name__}.{name}")
    missing = [attr for attr in _REQUIRED if not hasattr(module, attr)]
    if missing:
        raise TypeError(f"chapter module {module.__name__} lacks {missing}")
    for scale in SCALES:
        keys = set(module.PRESETS.get(scale, ()))
        if keys != set(module.PARAMETERS):
            raise TypeError(
                f"chapter {name!r}: preset {scale!r} must set exactly {sorted(module.PARAMETERS)}, "
                f"sets {sorted(keys)}"
            )
    return module


def resolve_parameters(chapter: str | ModuleType, scale: str | None = None,
                       namespace: Mapping[str, Any] | None = None, **overrides) -> dict:
    """Preset of ``scale`` updated with ``overrides``, every value validated against the schema.

    ``scale`` comes from the argument, else the ``HU_SCALE`` environment variable, else
    ``"book"``. An override whose value is ``None`` means "not given" (the preset value is kept),
    so a notebook's parameters cell can default every parameter to ``None``.

    ``namespace`` (a notebook passes ``globals()``) supplies the overrides by name: every chapter
    parameter defined there is taken, so the parameters cell's values need not be named again::

        P = resolve_parameters("mtl", scale, namespace=globals())

    Explicit ``overrides`` win over ``namespace``; names there that are not parameters are ignored.

    Returns a new dict with ``"scale"`` and every parameter of the chapter.
    Raises ValueError for an unknown scale, parameter name, choice or out-of-range value (and
    for combinations the chapter's ``check_parameters`` refuses), TypeError for a value of the
    wrong type; the message lists what is valid.
    """
    module = get_chapter(chapter) if isinstance(chapter, str) else chapter
    scale = scale or os.environ.get("HU_SCALE") or DEFAULT_SCALE
    if scale not in module.PRESETS:
        raise ValueError(f"unknown scale {scale!r}; valid scales: {list(module.PRESETS)}")
    schema: dict[str, Param] = module.PARAMETERS
    overrides = {**{k: v for k, v in (namespace or {}).items() if k in schema}, **overrides}
    unknown = [name for name in overrides if name not in schema]
    if unknown:
        hints = "".join(_suggest(name, list(schema)) for name in unknown)
        raise ValueError(
            f"unknown parameter(s) {unknown} for chapter {_name(module)!r}{hints}; "
            f"valid parameters: {describe(module)}"
        )
    given = {name: value for name, value in overrides.items() if value is not None}
    merged = copy.deepcopy({**module.PRESETS[scale], **given})
    params = {"scale": scale, **{name: schema[name].check(name, merged[name]) for name in schema}}
    if hasattr(module, "check_parameters"):
        module.check_parameters(params)
    return params


def show_progress() -> bool:
    """Whether a chapter shows progress bars: yes in a terminal run (``python -m companion run``),
    no in the book build, whose kernels inherit ``TQDM_DISABLE=1`` (``book/_ext/quiet_progress.py``).
    Chapters pass it as ``run_study(..., progress=show_progress())``: an explicit ``disable``
    argument is not overridden by tqdm's environment variable."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("1", "true", "yes")


def describe(chapter: str | ModuleType) -> str:
    """One line listing each parameter as ``name (type[, range])``, e.g. for error messages."""
    module = get_chapter(chapter) if isinstance(chapter, str) else chapter
    return ", ".join(
        f"{name} ({', '.join(filter(None, (p.type_name, p.range_text)))})"
        for name, p in module.PARAMETERS.items()
    )


def _name(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
