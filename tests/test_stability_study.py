"""The stability study defined in the package: the same records for the notebook and the CLI."""

import json
import pickle
from pathlib import Path

from companion import study
from companion.chapters import resolve_parameters
from companion.experiments import stability_study

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "results" / "stability" / "paper"


def test_paper_preset_rebuilds_the_fingerprints_of_the_committed_records():
    # The committed subset ran the paper preset with the overrides its summary records; the moved
    # definitions must give every committed record's key and fingerprint (protocol + config).
    params = json.loads((COMMITTED / "summary.json").read_text())["provenance"]["params"]
    P = resolve_parameters("stability", "paper", **{k: v for k, v in params.items() if k != "scale"})
    definition = stability_study.build(P)
    stored = {p.stem: json.loads(p.read_text()) for p in (COMMITTED / "runs").glob("*.json")}
    assert set(definition.configs) == set(stored)
    for key, config in definition.configs.items():
        assert config == stored[key]["config"], key
        assert study.fingerprint(definition.protocol, config) == stored[key]["fingerprint"], key


def test_smoke_records_in_the_order_of_computation():
    P = resolve_parameters("stability", "smoke")
    definition = stability_study.build(P)
    assert list(definition.configs) == ["exp4_init0-2", "exp1_init0-2", "reinit_exp4_keep",
                                        "reinit_exp4_wd0.0001", "reinit_exp4_reset"]
    assert definition.configs["reinit_exp4_keep"]["variants"] == [
        [None, 0.0], ["whole", 0.5], ["layer", 0.5], ["partial", 0.5]]
    assert definition.configs["reinit_exp4_reset"]["variants"] == [["whole", 0.5], ["layer", 0.5],
                                                                    ["partial", 0.5]]
    assert definition.datasets == ["samson"] and definition.directory().parts[-3:] == ("stability", "smoke",
                                                                                     "runs")
    blocks = stability_study.table1_configs({**P, "initialisations": 7, "block": 3}, 6)
    assert [c["initialisations"] for c in blocks.values()] == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(blocks) == ["exp6_init0-2", "exp6_init3-5", "exp6_init6-6"]


def test_notebook_and_cli_builds_share_fingerprints_whatever_else_is_loaded(monkeypatch):
    from companion import cli

    built = {}
    monkeypatch.setattr(cli, "run_chapter_study", lambda args, params: built.setdefault("P", params) and 0)
    assert cli.main(["study", "stability", "--scale", "smoke", "--experiments", "1", "6"]) == 0
    from_cli = stability_study.build(built["P"])
    from_notebook = stability_study.build(resolve_parameters("stability", "smoke", experiments=[1, 6]))
    assert from_cli == from_notebook
    roots = study.code_roots(from_cli.compute)
    assert roots == ["companion.experiments.stability_study"]
    code = study.code_fingerprint(roots)
    import companion.experiments.mtl  # noqa: F401  (a notebook may have loaded other chapters' code)

    assert study.code_fingerprint(study.code_roots(from_notebook.compute)) == code
    closure = study._closure(roots)
    assert {"companion.experiments.stability", "companion.nets.ensemble",
            "companion.nets.unmixing_ae"} <= set(closure)
    assert "companion.experiments.mtl" not in closure


def test_compute_is_picklable_for_dask_workers():
    compute = stability_study.build(resolve_parameters("stability", "smoke")).compute
    assert pickle.loads(pickle.dumps(compute)) == compute
