"""The package's layers point one way and have no import cycle; records hash compute code only.

Imports are read statically (every ``import`` in a module, those inside functions included), as
the study fingerprints read them (:func:`companion.study._imported_modules`).
"""

from pathlib import Path

import pytest

from companion import pipeline, study
from companion.chapters import available, resolve_parameters

PACKAGE = Path(study.__file__).resolve().parent
# lower layers first; a module may import only its own layer or lower ones
LAYERS = [
    {"jsonio", "runtime", "metrics", "verdicts", "data", "optim", "chapters"},
    {"classic", "initialisation", "nets"},
    {"methods", "tracks"},
    {"study", "results"},
    {"experiments"},
    {"pipeline", "plots", "ranking"},
    {"reports"},
    {"scorecard"},
    {"cli", "__main__"},
]
REPORTING = ("companion.reports", "companion.results", "companion.scorecard", "companion.plots",
             "companion.verdicts", "companion.pipeline", "companion.cli")


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        out[".".join(("companion", *parts))] = path
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        imported = study._imported_modules(name, path)
        graph[name] = {m for m in imported if m in modules and m != name}
    return graph


def _layer(name: str) -> int:
    top = name.split(".")[1] if "." in name else ""
    for level, members in enumerate(LAYERS):
        if top in members:
            return level
    raise AssertionError(f"module {name} is in no layer of {LAYERS}")


def test_no_import_cycle():
    graph, state, cycles = _graph(), {}, []

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + "."):  # a package importing its own submodules is no cycle
                continue
            if state.get(nxt) == "open":
                cycles.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_layers_point_one_way():
    wrong = [(a, b) for a, targets in _graph().items() for b in targets
             if not b.startswith(a + ".") and a != "companion" and b != "companion" and _layer(b) > _layer(a)]
    assert wrong == []


@pytest.mark.parametrize("chapter", [name for name in available() if pipeline.has_pipeline(name)])
def test_records_hash_compute_code_only(chapter):
    """The records of every study of a chapter carry the hash of ``companion.experiments.<chapter>``
    and its imports (the hash the staleness rule compares), and that closure holds no reporting."""
    root = f"companion.experiments.{chapter}"
    closure = study._closure([root])
    assert root in closure
    assert [m for m in closure if m.startswith(REPORTING)] == []
    P = resolve_parameters(chapter, "smoke")
    for name, definition in pipeline.plan(chapter, P).items():
        assert study.code_roots(definition.compute) == [root], name
