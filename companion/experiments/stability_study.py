"""The stability chapter's study, defined once for the notebook and the command line.

``build(P)`` turns the chapter's resolved parameters ``P`` (:func:`companion.chapters.resolve_parameters`
for ``"stability"``) into a :class:`companion.study.StudyDefinition`: the study records (their keys,
configurations and order of computation), the protocol that enters every record's fingerprint, and
a picklable ``compute`` that trains one record's block of models. Because ``notebooks/stability.md``
and ``python -m companion study stability`` both call :func:`build`, they fingerprint records
identically and reuse each other's records.

Record kinds:

* ``table1``: ``N x k`` models of one Table 1 experiment for all schemes, in blocks of ``block``
  initialisations (key ``exp<e>_init<first>-<last>``);
* ``table3``: Experiment 4's reinitialisation study (Table 3) and its weight-decay and Adam-step
  variants (key ``reinit_exp4_<tag>``).

Order of computation: Table 1 of the first two experiments listed, Table 3, its weight-decay and
Adam-reset variants, then the remaining experiments, so an interrupted study has the most used
results first.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from companion.experiments import stability as exp
from companion.nets import ensemble, unmixing_ae
from companion.runtime import resolve_device
from companion.study import StudyDefinition, source_fingerprint

__all__ = ["Compute", "build", "configs", "datasets", "protocol", "scene", "table1_configs", "table3_configs",
           "variants"]


def variants(P: Mapping) -> list[tuple[str | None, float]]:
    """Table 3's variants ``(method, threshold)``: the baseline ``(None, 0.0)``, then every
    reinitialisation method at every threshold of ``P["thresholds"]`` (thresholds outer)."""
    return [(None, 0.0)] + [(m, t) for t in P["thresholds"] for m in ensemble.REINIT_METHODS]


def table1_configs(P: Mapping, experiment: int) -> dict[str, dict]:
    """Records of one Table 1 experiment: ``P["initialisations"]`` in blocks of ``P["block"]``."""
    out = {}
    for start in range(0, P["initialisations"], P["block"]):
        inits = list(range(start, min(start + P["block"], P["initialisations"])))
        out[f"exp{experiment}_init{inits[0]}-{inits[-1]}"] = {"kind": "table1", "experiment": experiment,
                                                               "schemes": list(P["schemes"]),
                                                               "initialisations": inits}
    return out


def table3_configs(P: Mapping, tag: str, initialisations: int, chosen: list[tuple[str | None, float]],
                   adam_step: str = "keep", weight_decay: float = 0.0) -> dict[str, dict]:
    """One Table 3 record (Experiment 4, run 0 of ``initialisations`` per scheme, ``chosen`` variants)."""
    return {f"reinit_exp4_{tag}": {
        "kind": "table3", "schemes": list(P["schemes"]), "initialisations": list(range(initialisations)),
        "variants": [[m, t] for m, t in chosen], "epochs": P["reinit_epochs"], "adam_step": adam_step,
        "weight_decay": weight_decay}}


def configs(P: Mapping) -> dict[str, dict]:
    """Every record of the study, keyed by file-name-safe keys, in the order of computation."""
    all_variants, reset = variants(P), P["adam_reset_initialisations"]
    out = {}
    for e in P["experiments"][:2]:
        out |= table1_configs(P, e)
    out |= table3_configs(P, "keep", P["reinit_initialisations"], all_variants)
    for wd in P["weight_decays"]:
        out |= table3_configs(P, f"wd{wd:g}", P["reinit_initialisations"], all_variants[:1], weight_decay=wd)
    if reset:
        out |= table3_configs(P, "reset", reset, all_variants[1:], adam_step="reset")
    for e in P["experiments"][2:]:
        out |= table1_configs(P, e)
    return out


def protocol(P: Mapping) -> dict:
    """Settings shared by every record: epochs and runs ``k`` of Table 1, and the source of the
    experiment, ensemble and network modules (so edited training code recomputes)."""
    return {"epochs": P["epochs"], "runs": P["runs"],
            "code": source_fingerprint(exp, ensemble, unmixing_ae)}


@functools.lru_cache(maxsize=8)
def scene(name: str, device: str) -> exp.Scene:
    """:func:`companion.experiments.stability.load_scene` on ``device``, loaded once per process."""
    return exp.load_scene(name, resolve_device(device))


@dataclass(frozen=True)
class Compute:
    """Trains and scores one record's models (picklable, so a Dask worker can run it).

    ``runs``: k of Table 1; ``epochs``: Table 1's training epochs; ``device``: as the chapter's
    ``device`` parameter (``"auto"`` resolves in the process that computes)."""

    runs: int
    epochs: int
    device: str

    def __call__(self, config: Mapping) -> dict:
        """The record of ``config`` (a value of :func:`configs`): Table 1 metrics per scheme
        (:func:`~companion.experiments.stability.train_initialisations`) or Table 3 metrics per scheme
        and variant (:func:`~companion.experiments.stability.reinit_study`)."""
        if config["kind"] == "table1":
            e = config["experiment"]
            return exp.train_initialisations(scene(exp.EXPERIMENTS[e]["dataset"], self.device), e,
                                             config["schemes"], config["initialisations"], self.runs,
                                             self.epochs)
        return exp.reinit_study(scene("samson", self.device), 4, config["schemes"], config["initialisations"],
                                [tuple(v) for v in config["variants"]], config["epochs"], config["adam_step"],
                                weight_decay=config["weight_decay"])


def datasets(P: Mapping) -> list[str]:
    """Scenes the study reads: those of the chosen experiments, and Samson for Table 3."""
    return sorted({exp.EXPERIMENTS[e]["dataset"] for e in P["experiments"]} | {"samson"})


def build(P: Mapping) -> StudyDefinition:
    """The whole study for resolved chapter parameters ``P``."""
    return StudyDefinition(chapter="stability", scale=P["scale"], configs=configs(P), protocol=protocol(P),
                           compute=Compute(P["runs"], P["epochs"], P["device"]), datasets=datasets(P),
                           desc="stability study")
