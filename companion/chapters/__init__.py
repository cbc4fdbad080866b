"""Chapter registry: presets per scale, parameter schemas and paper targets, one module a chapter.

Each chapter of the book is a jupytext notebook ``notebooks/<name>.md`` and a small declarative
module ``companion/chapters/<name>.py`` holding only data:

``TITLE``
    The chapter title as shown in the book.
``ORDER``
    Position in the book (the scorecard lists chapters in this order).
``PARAMETERS``
    ``{name: Param(type, help, choices)}``: every parameter the notebook accepts besides ``scale``.
``PRESETS``
    ``{"smoke": {...}, "book": {...}, "paper": {...}}``: a complete value for every parameter at
    every scale. ``smoke`` runs in seconds, ``book`` in minutes on two CPU cores, ``paper`` is the
    paper's protocol (cite the table or section in a comment).
``PAPER_TARGETS``
    A list of :class:`companion.results.Target`, the paper's numbers with their table/figure.

Adding a chapter means adding its module; :func:`available` discovers it.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import os
import pkgutil
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = [
    "SCALES",
    "Param",
    "Target",
    "available",
    "describe",
    "get_chapter",
    "resolve_parameters",
]

SCALES = ("smoke", "book", "paper")
DEFAULT_SCALE = "book"
_REQUIRED = ("TITLE", "ORDER", "PARAMETERS", "PRESETS", "PAPER_TARGETS")


@dataclass(frozen=True)
class Param:
    """Schema of one chapter parameter.

    ``type`` is ``str``, ``int``, ``float``, ``bool`` or ``list`` (a list of ``item`` values);
    ``choices``, when given, restricts the value (or each list item) to those values.
    """

    type: type
    help: str
    item: type | None = None
    choices: tuple | None = None

    @property
    def type_name(self) -> str:
        """Readable type, e.g. ``int`` or ``list[str]``."""
        name = self.type.__name__
        return f"{name}[{self.item.__name__}]" if self.item else name

    def check(self, name: str, value: Any) -> Any:
        """Return ``value`` (tuples become lists, ints become floats) or raise TypeError/ValueError."""
        if self.type is list and isinstance(value, tuple):
            value = list(value)
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        items = value if isinstance(value, list) else [value]
        item_type = self.item if self.type is list else self.type
        wrong_type = not isinstance(value, self.type) or (self.type is int and isinstance(value, bool))
        if wrong_type or (item_type and not all(isinstance(i, item_type) for i in items)):
            raise TypeError(
                f"parameter {name!r} must be {self.type_name}, got {type(value).__name__} "
                f"{value!r} ({self.help})"
            )
        bad = [item for item in items if self.choices is not None and item not in self.choices]
        if bad:
            raise ValueError(f"parameter {name!r}: invalid value(s) {bad!r}; valid: {list(self.choices)!r}")
        return value


@dataclass(frozen=True)
class Target:
    """One number a paper reports, to compare ours against.

    ``key`` names the quantity in a chapter's results (``results["ours"][key]``); ``value`` is in
    ``unit``; ``source`` cites the table/figure; ``tolerance`` (same unit) is the absolute
    difference still called *reproduced* (up to ``partly_factor * tolerance``: *partly*).
    """

    key: str
    quantity: str
    value: float
    unit: str
    source: str
    tolerance: float
    partly_factor: float = 3.0


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


def resolve_parameters(chapter: str | ModuleType, scale: str | None = None, **overrides) -> dict:
    """Preset of ``scale`` updated with ``overrides``, every value validated against the schema.

    ``scale`` comes from the argument, else the ``HU_SCALE`` environment variable, else
    ``"book"``. An override whose value is ``None`` means "not given" (the preset value is kept),
    so a notebook's parameters cell can default every parameter to ``None``.

    Returns a new dict with ``"scale"`` and every parameter of the chapter.
    Raises ValueError for an unknown scale, parameter name or choice, TypeError for a value of
    the wrong type; the message lists what is valid.
    """
    module = get_chapter(chapter) if isinstance(chapter, str) else chapter
    scale = scale or os.environ.get("HU_SCALE") or DEFAULT_SCALE
    if scale not in module.PRESETS:
        raise ValueError(f"unknown scale {scale!r}; valid scales: {list(module.PRESETS)}")
    schema: dict[str, Param] = module.PARAMETERS
    unknown = [name for name in overrides if name not in schema]
    if unknown:
        hints = "".join(_suggest(name, list(schema)) for name in unknown)
        raise ValueError(
            f"unknown parameter(s) {unknown} for chapter {_name(module)!r}{hints}; "
            f"valid parameters: {describe(module)}"
        )
    given = {name: value for name, value in overrides.items() if value is not None}
    merged = copy.deepcopy({**module.PRESETS[scale], **given})
    return {"scale": scale, **{name: schema[name].check(name, merged[name]) for name in schema}}


def describe(chapter: str | ModuleType) -> str:
    """One line listing each parameter as ``name (type)``, e.g. for error messages."""
    module = get_chapter(chapter) if isinstance(chapter, str) else chapter
    return ", ".join(f"{name} ({p.type_name})" for name, p in module.PARAMETERS.items())


def _name(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
