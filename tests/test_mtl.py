"""MTL network: mixing-model generators, simplex projection, the NMF limit, planted recovery."""

import numpy as np
import pytest
import torch

from companion import metrics
from companion.classic import fcls, project_simplex, rnmf, vca
from companion.data.nonlinear import gbm, mix, ppnm
from companion.data.scenes import nonlinear_scene
from companion.nets import mtl, nlaeu
from companion.optim import IRpropPlus

E2 = np.array([[0.2, 0.6], [0.5, 0.4], [0.9, 0.1]])          # 3 bands, 2 endmembers
A2 = np.array([[0.3], [0.7]])


def test_gbm_known_value():
    # E a = [0.48, 0.43, 0.34]; bilinear term 0.5 * 0.3 * 0.7 * (e1 * e2) = 0.105 * [0.12, 0.2, 0.09]
    expected = np.array([0.48 + 0.105 * 0.12, 0.43 + 0.105 * 0.2, 0.34 + 0.105 * 0.09])
    np.testing.assert_allclose(gbm(E2, A2, np.array([[0.5]]))[:, 0], expected, rtol=1e-12)


def test_ppnm_known_value():
    x = np.array([0.48, 0.43, 0.34])
    np.testing.assert_allclose(ppnm(E2, A2, np.array([-0.2]))[:, 0], x - 0.2 * x**2, rtol=1e-12)


def test_nonlinear_models_reduce_to_linear_and_gbm_adds_energy():
    rng = np.random.default_rng(1)
    E, A = rng.uniform(0, 1, (20, 4)), rng.dirichlet(np.ones(4), 30).T
    np.testing.assert_allclose(gbm(E, A, np.zeros((6, 30))), E @ A)
    np.testing.assert_allclose(ppnm(E, A, np.zeros(30)), E @ A)
    assert np.all(mix("gbm", E, A, seed=0) >= E @ A)
    with pytest.raises(ValueError, match="unknown mixing model"):
        mix("cubic", E, A)


def test_simplex_projection_is_the_nearest_simplex_point():
    X = torch.randn(2, 4, 300, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    Pr = project_simplex(X)
    assert torch.allclose(Pr.sum(-2), torch.ones(2, 300, dtype=torch.float64)) and Pr.min() >= 0
    # optimality: x - p = tau on the support and x - p <= tau off it (KKT conditions)
    residual = X - Pr
    tau = torch.where(Pr > 0, residual, -torch.inf).amax(-2, keepdim=True)
    assert torch.allclose(torch.where(Pr > 0, residual, tau), tau.expand_as(residual))
    assert (residual <= tau + 1e-12).all()
    assert torch.equal(project_simplex(Pr), Pr) or torch.allclose(project_simplex(Pr), Pr)


@pytest.fixture(scope="module")
def linear_scene():
    return nonlinear_scene("linear", 4, np.inf, z=4, scene_seed=0)


def auxiliary_nmf_alone(Y, E0, A0, iterations):
    """The NMF the auxiliary task defines, alone: ``||Y - E A||_F^2`` over ``E = exp(V)``,
    ``A = softmax(Z)``, by iRprop+ from the same start as MTL (``E0 (L, P)``, ``A0 (P, N)``)."""
    Yt = torch.as_tensor(Y, dtype=torch.float32)
    V = torch.log(torch.as_tensor(E0, dtype=torch.float32).clamp(min=mtl.FLOOR)).requires_grad_()
    A0 = torch.as_tensor(A0, dtype=torch.float32).clamp(min=mtl.FLOOR)
    Z = torch.log(A0 / A0.sum(0)).requires_grad_()
    opt = IRpropPlus([V, Z], lr=0.01)

    def closure():
        opt.zero_grad()
        loss = ((Yt - torch.exp(V) @ torch.softmax(Z, 0)) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(iterations):
        opt.step(closure)
    return torch.exp(V).detach().double().numpy(), torch.softmax(Z, 0).detach().double().numpy()


def test_large_alpha_gives_the_auxiliary_nmf(linear_scene):
    """On linear data with alpha = 1e4 the NMF task dominates: MTL's E and A agree with the NMF
    its auxiliary task defines, trained alone from the same start, and both fit Y as well as an
    independent sum-to-one NMF (rNMF with a prohibitive outlier penalty, i.e. R = 0).

    The start is VCA's former normal draw (seed 0), on which the 0.01 bounds were set. From the
    reference-code draw (seeds 0-2) the agreement is only 0.028-0.042 rad and alpha = 1 lands
    closer to this NMF than alpha = 1e4 (iRprop+ follows gradient signs, not their scale): an
    observation left open (issue 27's MTL section)."""
    hsi = linear_scene
    E0 = vca(hsi.Y, 4, seed=0, directions="normal")[0][None]
    A0 = project_simplex(torch.as_tensor(np.linalg.pinv(E0[0]) @ hsi.Y)).numpy()[None]
    fit = mtl.fit(hsi.Y, 4, [0], iterations=300, alpha=1e4, beta=0.0, hidden_rows=[8], hidden_cols=[8],
                  device="cpu", start=(E0, A0))
    E_nmf, A_nmf = auxiliary_nmf_alone(hsi.Y, E0[0], A0[0], 300)
    assert metrics.sad(E_nmf, fit.endmembers[0]).max() < 0.01                  # same order: no matching
    assert metrics.rmse_per_pixel_mean(A_nmf, fit.abundances[0]) < 0.01
    assert metrics.sad(E0[0], fit.endmembers[0]).max() > 0.03                  # and it did move
    mse = lambda E, A: np.mean((hsi.Y - E @ A) ** 2)  # noqa: E731
    reference = rnmf(hsi.Y, E0[0], np.maximum(A0[0], 1e-4), lam=1e8, n_iter=300, device="cpu")
    assert mse(fit.endmembers[0], fit.abundances[0]) < 2 * mse(reference.endmembers, reference.abundances)


def test_beats_vca_fcls_on_planted_gbm_data():
    """GBM mixtures at 30 dB: MTL's mean SAD is at most 0.8 of VCA + FCLS's (measured: about
    0.55 of it) and its abundance RMSE is lower too."""
    hsi = nonlinear_scene("gbm", 4, 30.0, z=5, scene_seed=0)
    fit = mtl.fit(hsi.Y, 4, [0], iterations=150, alpha=1.0, beta=1e-3, hidden_rows=[100, 250],
                  hidden_cols=[25, 50], lr=0.01, device="cpu")
    E0 = fit.initial_endmembers[0]

    def scores(E, A):
        perm = metrics.match_endmembers(hsi.endmembers, E)
        return (metrics.sad(hsi.endmembers, E[:, perm]).mean(),
                metrics.rmse_per_pixel_mean(hsi.abundances, A[perm]))

    sad_mtl, rmse_mtl = scores(fit.endmembers[0], fit.abundances[0])
    sad_vca, rmse_vca = scores(E0, fcls(hsi.Y, E0, device="cpu"))
    assert sad_mtl < 0.8 * sad_vca
    assert rmse_mtl < rmse_vca
    assert np.allclose(fit.abundances[0].sum(0), 1.0, atol=1e-5) and fit.endmembers.min() > 0


def test_starts_as_the_linear_model_and_rejects_bad_settings(linear_scene):
    hsi = linear_scene
    E0, A0 = mtl.initial_factors(hsi.Y, 4, [0, 1])
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    model = mtl.MTLUnmixing(as_t(hsi.Y), as_t(E0), as_t(A0), [10], [5], alpha=1.0, beta=0.0, seeds=[0, 1])
    with torch.no_grad():
        linear = model.E @ model.A
        assert torch.allclose(model.rows(), model.E @ model.W1)          # f starts at zero
        assert torch.allclose(model.columns(), model.W2 @ model.A)       # g starts at zero
        assert linear.shape == (2, hsi.Y.shape[0], hsi.n_pixels)
    with pytest.raises(ValueError, match="non-negative"):
        mtl.MTLUnmixing(as_t(hsi.Y), as_t(E0), as_t(A0), [10], [5], alpha=-1.0, beta=0.0, seeds=[0, 1])
    with pytest.raises(ValueError, match="iterations"):
        mtl.fit(hsi.Y, 4, [0], iterations=0, alpha=1.0, beta=0.0, hidden_rows=[4], hidden_cols=[4])


def test_runs_trained_together_equal_runs_alone(linear_scene):
    """Each run has its own VCA seed, weight seed and iRprop+ error test."""
    hsi = linear_scene
    kwargs = dict(iterations=15, alpha=1.0, beta=1e-3, hidden_rows=[6, 7], hidden_cols=[5], device="cpu")
    together = mtl.fit(hsi.Y, 4, [3, 4], **kwargs)
    alone = mtl.fit(hsi.Y, 4, [4], **kwargs)
    np.testing.assert_allclose(together.endmembers[1], alone.endmembers[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(together.abundances[1], alone.abundances[0], rtol=1e-4, atol=1e-6)


def test_nlaeu_outputs_simplex_abundances(linear_scene):
    hsi = linear_scene
    fit = nlaeu.fit(hsi.Y, 4, [0, 1], iterations=20, device="cpu")
    assert fit.abundances.shape == (2, 4, hsi.n_pixels) and fit.loss.shape == (20, 2)
    assert np.allclose(fit.abundances.sum(1), 1.0, atol=1e-5) and fit.endmembers.min() >= 0
    assert np.all(fit.loss[-1] < fit.loss[0])


# ----------------------------------------------------------------------------- pipeline and report
import json  # noqa: E402
from pathlib import Path  # noqa: E402

from companion import pipeline, study, verdicts  # noqa: E402
from companion.chapters import targets  # noqa: E402
from companion.experiments import mtl as experiments  # noqa: E402
from companion.reports import mtl as report_of  # noqa: E402

COMMITTED = Path(__file__).resolve().parents[1] / "results/mtl/paper"


def test_compute_closure_has_no_reporting_module():
    closure = set(study._closure(["companion.experiments.mtl"]))
    assert "companion.experiments.mtl" in closure and "companion.nets.mtl" in closure
    banned = [m for m in closure if m.startswith(("companion.reports", "companion.chapters"))
              or m in ("companion.results", "companion.scorecard", "companion.plots", "companion.verdicts",
                       "companion.experiments.nmf_sae")]
    assert banned == []


def _scores(sad: float, rmse: float | None, per_em=None) -> dict:
    per_em = per_em or [sad, sad]
    return {"sad": [per_em], "sad_mean": [sad], "rmse": None if rmse is None else [rmse], "diverged": [False]}


def _image(mtl: tuple, **others: tuple) -> dict:
    return {"mtl": _scores(*mtl), **{k: _scores(*v) for k, v in others.items()}}


def test_comparisons_count_wins_losses_and_ties():
    records = {"a": _image((0.1, 0.2), vca_fcls=(0.2, 0.2), l1_nmf=(0.05, float("nan")))}
    details = report_of.compare_runs(records, ["vca_fcls", "l1_nmf"])
    assert [d["outcome"] for d in details] == ["win", "tie", "loss", "win"]   # NaN (diverged) loses
    # without reference abundances (Cuprite) RMSE is no comparison; per endmember, one per SAD
    image = _image((0.1, None, [0.1, 0.3]), rnmf=(0.2, None, [0.2, 0.2]))
    cuprite = {"cuprite": {"names": ["x", "y"], **image}}
    assert [d["metric"] for d in report_of.compare_runs(cuprite, ["rnmf"])] == ["sad"]
    per_em = report_of.compare_runs(cuprite, ["rnmf"], per_endmember=True)
    assert [(d["metric"], d["outcome"]) for d in per_em] == [("sad[x]", "win"), ("sad[y]", "loss")]


def test_claim_reasons_at_their_boundaries():
    # 4 of 4 cannot reach p < 0.05 (p = 1/16): partly, for sample size; 5 of 5 can (p = 1/32)
    assert verdicts.judge_claim(4, 0) == "partly" and verdicts.judge_claim(5, 0) == "supported"
    assert report_of.claim_reason(4, 0, [], "Claim 3").cls == "sample size"
    assert report_of.claim_reason(5, 0, [], "Claim 3") is None
    # a lost comparison with enough of them: unexplained, with the losses named in the evidence
    details = [{"image": "ppnm", "metric": "sad", "rival": "l1_nmf", "ours": 0.07, "theirs": 0.06,
                "outcome": "loss"}] + [{"image": "gbm", "metric": "sad", "rival": "rnmf", "ours": 0.02,
                                        "theirs": 0.05, "outcome": "win"}] * 6
    reason = report_of.claim_reason(6, 1, details, "Claims 1 and 2")   # p = 0.0625: partly
    assert reason.cls == "unexplained"
    assert reason.evidence.startswith("Claims 1 and 2")
    assert "ppnm 0 of 1 (lost: SAD 0.070 vs L1-NMF 0.060)" in reason.evidence
    assert report_of.claim_reason(7, 1, details, "x") is None                # p = 0.035: supported


def _details(wins_losses: dict[str, tuple[int, int]]) -> list[dict]:
    """Comparisons with ``wins`` won and ``losses`` lost on each image."""
    out = []
    for image, (wins, losses) in wins_losses.items():
        out += [{"image": image, "metric": "sad", "rival": "rnmf", "ours": 0.02, "theirs": 0.05,
                 "outcome": "win"}] * wins
        out += [{"image": image, "metric": "rmse", "rival": "rnmf", "ours": 0.09, "theirs": 0.05,
                 "outcome": "loss"}] * losses
    return out


def test_a_split_the_run_count_cannot_resolve_is_sample_size():
    # the rule declared for diagnosis MTL: p in [0.05, 0.2) and the majority won on every image
    split = _details({"gbm": (3, 1), "ppnm": (3, 1)})                       # 6 of 8: p = 0.145
    assert 0.05 <= verdicts.sign_test(6, 2) < 0.2
    reason = report_of.claim_reason(6, 2, split, "Claims 1 and 2")
    assert reason.cls == "sample size" and "p = 0.145" in reason.evidence
    # one image lost on balance: unexplained, whatever the p
    uneven = _details({"gbm": (5, 0), "ppnm": (1, 2)})                      # 6 of 8 again
    assert report_of.claim_reason(6, 2, uneven, "Claims 1 and 2").cls == "unexplained"
    # an image tied on balance is no majority won
    tied = _details({"gbm": (5, 1), "ppnm": (1, 1)})
    assert report_of.claim_reason(6, 2, tied, "Claims 1 and 2").cls == "unexplained"
    # p at or above 0.2 (5 of 8: p = 0.363), every image won on balance: unexplained
    wide = _details({"gbm": (3, 1), "ppnm": (2, 1), "lin": (0, 1)})
    assert verdicts.sign_test(5, 3) >= 0.2
    assert report_of.claim_reason(5, 3, _details({"gbm": (3, 2), "ppnm": (2, 1)}), "x").cls == "unexplained"
    assert report_of.claim_reason(5, 3, wide, "x").cls == "unexplained"


def _P(**changes) -> dict:
    return json.loads((COMMITTED / "summary.json").read_text())["provenance"]["params"] | changes


def test_cuprite_is_not_attempted_for_want_of_its_image(monkeypatch):
    monkeypatch.setattr(experiments, "available", lambda image: False)   # whatever HU_DATA_DIR holds
    P = _P()
    records = pipeline.load_records("mtl", P)
    assert "cuprite" not in records["real"]
    row = {r["key"]: r for r in pipeline.report("mtl", P, records).comparison}["cuprite"]
    assert row["verdict"] == "not attempted" and row["reason"]["evidence"].startswith("data we lack")
    assert "cuprite/CupriteS1_R188.mat" in row["reason"]["evidence"]
    rows = pipeline.report("mtl", _P(real=["samson", "jasper"]), records).comparison
    row = {r["key"]: r for r in rows}["cuprite"]
    assert "not part of this run" in row["reason"]["evidence"]


def test_plan_reproduces_the_committed_configurations(monkeypatch):
    monkeypatch.setattr(experiments, "available", lambda image: False)   # Cuprite was absent
    P = _P()
    studies = pipeline.plan("mtl", P)
    assert [d.folder for d in studies.values()] == ["runs", "runs/sensitivity", "runs", "runs"]
    for definition in studies.values():
        for key, config in definition.configs.items():
            stored = json.loads((definition.directory() / f"{key}.json").read_text())
            assert stored["config"] == dict(config), key
            assert "code" not in definition.protocol
    assert sum(len(d.configs) for d in studies.values()) == 16
    stored = {(n, k): {"config": c} for n, d in studies.items() for k, c in d.configs.items()}
    assert pipeline.sample_keys(stored, experiments.cost) == [
        ("sensitivity", "alpha_0.1"), ("sensitivity", "alpha_10"), ("sensitivity", "beta_0"),
        ("large", "ppnm_p12_snr40")]


def test_committed_summary_is_the_report_of_the_committed_records():
    summary = json.loads((COMMITTED / "summary.json").read_text())
    rows = verdicts.check_rows(summary["comparison"], targets("mtl"), COMMITTED / "summary.json", "mtl")
    assert [r["key"] for r in rows] == [c.key for c in targets("mtl")]
    P = summary["provenance"]["params"]
    fresh = pipeline.report("mtl", P, pipeline.load_records("mtl", P)).comparison
    assert summary["comparison"] == json.loads(json.dumps(fresh))


def test_committed_claims_rest_on_five_runs_per_record():
    """Diagnosis MTL (book/diagnoses.md): the committed claims are judged on N = 5 runs, every
    method of every record holding five runs (the real scenes too), none of them diverged."""
    P = json.loads((COMMITTED / "summary.json").read_text())["provenance"]["params"]
    assert (P["runs"], P["real_runs"]) == (5, 5)
    records = list((COMMITTED / "runs").rglob("*.json"))
    assert len(records) == 16
    for path in records:
        record = json.loads(path.read_text())["record"]
        runs = {m: len(v["sad"]) for m, v in record.items() if isinstance(v, dict) and "sad" in v}
        assert {"mtl", "vca_fcls"} <= set(runs) and set(runs.values()) == {5}, (path.name, runs)
        assert not any(record["mtl"]["diverged"]), path.name


def test_cuprite_is_planned_when_its_image_is_present(monkeypatch):
    monkeypatch.setattr(experiments, "available", lambda image: True)
    real = pipeline.plan("mtl", _P())["real"]
    assert list(real.configs) == ["samson", "jasper", "cuprite"] and real.datasets == list(real.configs)


def test_committed_ablation_splits_by_mixing_model_as_the_chapter_says():
    """The chapter's text on claim 2 (notebooks/mtl.md, "Why the auxiliary task matters"): in the
    committed run the auxiliary task wins every comparison on the GBM images and loses every one
    on the PPNM images, at both SNRs."""
    summary = json.loads((COMMITTED / "summary.json").read_text())
    details = summary["data"]["comparisons"]["2. the auxiliary task regularises (alpha = 0 is worse)"]
    outcomes: dict[str, set] = {}
    for d in details:
        outcomes.setdefault(d["image"].split("_")[0], set()).add(d["outcome"])
    assert outcomes == {"gbm": {"win"}, "ppnm": {"loss"}}
    assert {d["image"] for d in details} == {"gbm_p4_snr40", "gbm_p4_snr30", "ppnm_p4_snr40", "ppnm_p4_snr30"}
