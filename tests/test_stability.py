"""Initialisation schemes, error measures, statistics and resumability of the stability study."""

import math

import numpy as np
import pytest
import scikit_posthocs
import torch
from scipy import stats

from companion.experiments import stability as st
from companion.nets.unmixing_ae import AEConfig, initial_weights
from companion.reports import stability_stats as ss


def _ate_std(scheme, architecture, fan_in, fan_out):
    """The std of ATE's draw (``weights_initialization`` in ate/ate_train.py): torch.nn.init with
    ``calculate_gain`` of the hidden activation (sigmoid: 1, ReLU: sqrt(2)) for He normal and
    both Glorot schemes; PyTorch's default U(+-1/sqrt(fan_in)) for He uniform."""
    gain = {"original": 1.0, "basic": math.sqrt(2.0)}[architecture]
    return {"he_normal": gain / math.sqrt(fan_in),
            "glorot_normal": gain * math.sqrt(2 / (fan_in + fan_out)),
            "glorot_uniform": gain * math.sqrt(6 / (fan_in + fan_out)) / math.sqrt(3),
            "he_uniform": 1 / math.sqrt(3 * fan_in)}[scheme]


@pytest.mark.parametrize("architecture", ["original", "basic"])
@pytest.mark.parametrize("scheme", ["he_normal", "he_uniform", "glorot_normal", "glorot_uniform"])
def test_every_layer_is_drawn_as_ate_draws_it(scheme, architecture):
    config = AEConfig(architecture, 300, 40, n1=10)
    draws = [initial_weights(config, scheme, s) for s in range(3)]
    for i, (fan_in, fan_out, bias) in enumerate(config.linear_layers()):
        w = torch.cat([d[f"W{i}"].flatten() for d in draws])
        assert w.std().item() == pytest.approx(_ate_std(scheme, architecture, fan_in, fan_out), rel=0.03), i
        if not bias:
            continue
        b = torch.cat([d[f"b{i}"] for d in draws])
        if scheme == "he_uniform":                        # PyTorch default: biases drawn too
            assert b.abs().max() <= 1 / math.sqrt(fan_in) and b.std() > 0
        else:                                             # ATE zeroes them
            assert torch.count_nonzero(b) == 0


@pytest.mark.parametrize("architecture", ["original", "basic"])
@pytest.mark.parametrize("scheme", ["he_normal", "he_uniform", "glorot_normal", "glorot_uniform"])
def test_reinitialisation_draws_follow_the_same_scheme(scheme, architecture):
    from companion.nets.unmixing_ae import ACTIVATION_GAIN, INIT_SCHEMES, counter_linear
    seeds = torch.arange(40)
    code = torch.full((40,), INIT_SCHEMES.index(scheme))
    w, b = counter_linear(seeds, code, 1, 3, 7, 200, 30, ACTIVATION_GAIN[architecture])
    assert w.std().item() == pytest.approx(_ate_std(scheme, architecture, 200, 30), rel=0.03)
    assert (torch.count_nonzero(b) == 0) == (scheme != "he_uniform")


@pytest.mark.parametrize("architecture", ["original", "basic"])
def test_a_stated_gain_scales_the_gained_draws_and_none_is_the_activations(architecture):
    """``gain=None`` is ATE's gain bit for bit; another gain scales He normal and both Glorot
    draws by gain / default (the same underlying numbers) and leaves He uniform alone."""
    from companion.nets.unmixing_ae import ACTIVATION_GAIN
    default = ACTIVATION_GAIN[architecture]
    plain = AEConfig(architecture, 30, 4, n1=5)
    for scheme in ("he_normal", "he_uniform", "glorot_normal", "glorot_uniform"):
        base = initial_weights(plain, scheme, 3)
        same = initial_weights(AEConfig(architecture, 30, 4, n1=5, gain=default), scheme, 3)
        one = initial_weights(AEConfig(architecture, 30, 4, n1=5, gain=0.5), scheme, 3)
        factor = 1.0 if scheme == "he_uniform" else 0.5 / default
        for k in base:
            assert torch.equal(base[k], same[k]), (scheme, k)
            assert torch.allclose(one[k], base[k] * (factor if k.startswith("W") else 1.0),
                                  rtol=1e-14, atol=0), (scheme, k)


@pytest.mark.parametrize("gain", [0.0, -1.0, float("nan"), float("inf")])
def test_a_gain_that_is_not_a_positive_number_fails_fast(gain):
    with pytest.raises(ValueError, match="gain must be a positive number"):
        AEConfig("basic", 30, 4, gain=gain)


def test_a_records_gain_reaches_training_and_none_leaves_the_chapters_records_alone():
    """A Table 1 record trained with ``gain`` = the activation's equals the chapter's record
    (no ``gain`` key) bit for bit; gain 1 trains other models."""
    scene = _scene(R=3, L=10, pixels=64)
    args = (scene, 4, ["glorot_uniform"], [0], 2, 1)
    chapter = st.train_initialisations(*args)["glorot_uniform"]["rmse"]
    assert st.train_initialisations(*args, gain=math.sqrt(2.0))["glorot_uniform"]["rmse"] == chapter
    assert st.train_initialisations(*args, gain=1.0)["glorot_uniform"]["rmse"] != chapter


def test_initial_weights_are_a_pure_function_of_the_seed():
    config = AEConfig("original", 20, 3)
    a, b, c = (initial_weights(config, "he_normal", s) for s in (5, 5, 6))
    assert all(torch.equal(a[k], b[k]) for k in a) and not torch.equal(a["W0"], c["W0"])


def _scene(R=3, L=10, pixels=50):
    g = torch.Generator().manual_seed(0)
    E = torch.rand(L, R, generator=g, dtype=torch.float64)
    A = torch.distributions.Dirichlet(torch.ones(R, dtype=torch.float64)).sample((pixels,))
    return st.Scene("planted", A @ E.T, E, A)


def test_match_and_score_undoes_a_permutation_and_scaling():
    scene = _scene()
    perm = [2, 0, 1]
    abundances = scene.A_true[:, perm].unsqueeze(0).repeat(2, 1, 1)
    endmembers = (3.0 * scene.E_true[:, perm]).unsqueeze(0).repeat(2, 1, 1)
    abundances[1] += 0.1                                  # model 1: abundance error exactly 0.1
    scores = st.match_and_score(abundances, endmembers, torch.zeros(2, 50, dtype=torch.float64), scene)
    assert scores["endmember_error"].abs().max() < 1e-6   # SAD is scale invariant
    assert scores["abundance_error"][0] < 1e-12
    assert scores["abundance_error"][1].item() == pytest.approx(0.1)


def test_kruskal_and_conover_agree_with_scipy_and_scikit_posthocs():
    rng = np.random.default_rng(0)
    rmse = rng.normal(size=(5, 8)) + np.arange(5)[:, None] * 0.5
    H, log_p = ss.kruskal(rmse)
    reference = stats.kruskal(*rmse)
    assert H == pytest.approx(reference.statistic) and log_p == pytest.approx(math.log(reference.pvalue))
    p = ss.conover_pvalues(rmse)
    assert np.allclose(p, scikit_posthocs.posthoc_conover(list(rmse), p_adjust=None).to_numpy())
    pairs = np.array([[1, 0.01, 0.2], [0.01, 1, 0.04], [0.2, 0.04, 1]])
    assert ss.ph_upper_share(pairs) == pytest.approx(2 / 3)
    assert ss.ph_symmetric_matrix(pairs) == pytest.approx(4 / 9)
    assert ss.ph_full_zero_filled(pairs) == pytest.approx((6 + 2) / 9)
    assert ss.ph_one_minus_mean_p(pairs) == pytest.approx(1 - 0.25 / 3)


def test_ph_candidates_under_the_null_hypothesis():
    """With N = 50 identical initialisations only 'zero-filled' and '1 - mean p' stay near the
    paper's floor of about 0.54; the share of distinct pairs is near alpha."""
    rmse = np.random.default_rng(1).normal(size=(50, 50))
    p = ss.conover_pvalues(rmse)
    assert ss.ph_upper_share(p) < 0.1
    assert 0.5 < ss.ph_full_zero_filled(p) < 0.56 and 0.45 < ss.ph_one_minus_mean_p(p) < 0.55


def test_spearman_pairs_each_run_with_its_initialisations_mean():
    rmse = np.array([[1.0, 3.0], [10.0, 12.0], [5.0, 5.0]])       # init means 2, 11, 5
    dead = np.array([[0.1, 0.2], [0.9, 0.8], [0.5, 0.4]])         # ranks follow the init means
    assert ss.spearman_dead_vs_init_mean(dead, rmse) == pytest.approx(
        stats.spearmanr(dead.ravel(), [2, 2, 11, 11, 5, 5]).statistic)
    per_run = stats.spearmanr(dead.ravel(), rmse.ravel()).statistic
    assert ss.spearman_dead_vs_run(dead, rmse) == pytest.approx(per_run)
    assert np.isnan(ss.spearman_dead_vs_init_mean(np.zeros((3, 2)), rmse))   # no dead units: undefined


def test_log_p_of_the_papers_table_2():
    """Table 2 gives H = 200.9 with log p = -45.07 for N = 50 groups: natural log, chi2 with 49 df."""
    assert stats.chi2.logsf(200.9, 49) == pytest.approx(-45.07, abs=0.05)


def test_wilcoxon_flags_only_a_lower_and_significant_method():
    base = np.linspace(1, 2, 20)
    assert ss.wilcoxon_improvement(base, base - 0.1)[1]
    assert not ss.wilcoxon_improvement(base, base + 0.1)[1]
    assert not ss.wilcoxon_improvement(base, base)[1]


def test_train_initialisations_shapes_and_shared_start(monkeypatch):
    scene = _scene()
    monkeypatch.setitem(st.EXPERIMENTS, 99, dict(arch="basic", loss="mse", dataset="planted", n1=2,
                                                 batch_size=10, lr=1e-3, dropout=0.0))
    out = st.train_initialisations(scene, 99, ["he_normal", "glorot_uniform"], [0, 1], runs=3, epochs=1)
    rmse = np.asarray(out["he_normal"]["rmse"])
    assert rmse.shape == (2, 3) and np.isfinite(rmse).all()
    assert len(set(rmse[0].round(12))) == 3               # runs differ (data order) ...
    assert not np.asarray(out["glorot_uniform"]["diverged"]).any()


def test_study_resumes_after_interruption_without_loss_or_duplication(tmp_path, monkeypatch):
    from companion.study import run_study

    scene = _scene()
    monkeypatch.setitem(st.EXPERIMENTS, 99, dict(arch="basic", loss="mse", dataset="planted", n1=2,
                                                 batch_size=10, lr=1e-3, dropout=0.0))
    configs = {f"exp99_init{i}-{i + 1}": {"initialisations": [i, i + 1]} for i in (0, 2)}
    calls = []

    def compute(config, interrupt_at=None):
        if config["initialisations"][0] == interrupt_at:
            raise KeyboardInterrupt                               # killed while training block 2
        calls.append(config["initialisations"][0])
        return st.train_initialisations(scene, 99, ["he_normal"], config["initialisations"], 2, 1)

    with pytest.raises(KeyboardInterrupt):
        run_study(configs, lambda c: compute(c, interrupt_at=2), tmp_path, {"p": 1}, progress=False)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["exp99_init0-1.json"]  # nothing half-written
    records = run_study(configs, compute, tmp_path, {"p": 1}, progress=False)
    assert calls == [0, 2]                                       # the finished block is not recomputed
    rmse = np.concatenate([np.asarray(r["he_normal"]["rmse"]) for r in records.values()])
    assert rmse.shape == (4, 2)                                  # every (initialisation, run) exactly once
    fresh = st.train_initialisations(scene, 99, ["he_normal"], [0, 1, 2, 3], 2, 1)["he_normal"]["rmse"]
    np.testing.assert_allclose(rmse, fresh, rtol=1e-9)           # and equal to an uninterrupted study


def test_table3_records_do_not_depend_on_the_chunk_size(monkeypatch):
    """Counter-based reinitialisation draws: chunks of 1 model and one chunk of all give the same
    Table-3 records (every metric, every variant)."""
    scene = _scene(pixels=60)
    monkeypatch.setitem(st.EXPERIMENTS, 99, dict(arch="basic", loss="mse", dataset="planted", n1=2,
                                                 batch_size=4, lr=1e-2, dropout=0.0))
    variants = [(None, 0.0), ("whole", 0.3), ("layer", 0.3), ("partial", 0.3)]
    args = (scene, 99, ["he_normal", "glorot_uniform"], [0, 1], variants, 2)
    together = st.reinit_study(*args)
    alone = st.reinit_study(*args, max_chunk=1)
    fired = sum(np.sum(together[s][st.variant_label(*v)]["reinitialised"])
                for s in together for v in variants[1:])
    assert fired > 0                                                  # the rules did fire
    for s in together:
        for v, metrics in together[s].items():
            for k, values in metrics.items():
                np.testing.assert_allclose(alone[s][v][k], values, rtol=1e-6, atol=1e-9, err_msg=f"{v} {k}")


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.normal(size=10), rng.normal(size=1000)
    lo_s, hi_s = ss.bootstrap_interval(lambda i: small[i].mean(), len(small))
    lo_l, hi_l = ss.bootstrap_interval(lambda i: large[i].mean(), len(large))
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 5                      # ~ 1/sqrt(n)
    assert hi_l - lo_l == pytest.approx(2 * 1.645 / np.sqrt(1000), rel=0.15)
