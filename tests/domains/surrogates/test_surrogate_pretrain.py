"""The pre-trained prior's numbers, sampling and report lines (pretrain.py, its report, experiment.py)."""

from pathlib import Path

import numpy as np
import pytest

from sciPT.domains.surrogates import correlations
from sciPT.domains.surrogates.data import Points
from sciPT.domains.surrogates.presets import SurrogatePretrainConfig
from sciPT.domains.surrogates.pretrain import (
    SystemFit,
    family_mixture,
    fit_system,
    fit_systems,
    learn_prior,
    population_prior,
    roughnesses,
    source_lines,
    sources,
    validity_box,
)


def by_key(key):
    return next(c for c in correlations.CORRELATIONS if c.key == key)


def test_a_system_s_record_states_its_fit_in_the_law_s_terms():
    """A run stores each system's as_dict: C is exp(log C), a and b the Re and Pr exponents, its
    key carries its roughness, and its source and weight are its own (a report and the
    contamination check read them back)."""
    corr = by_key("dipprey-sabersky")
    fit = SystemFit(corr, 12, np.array([np.log(0.03), 0.85, 0.4]), np.eye(3) * 1e-4, 0.07, 0.01, 1 / 3)
    d = fit.as_dict()
    assert d["key"] == "dipprey-sabersky@e/D=0.01" and d["correlation"] == "dipprey-sabersky"
    assert d["e_D"] == 0.01 and d["weight"] == pytest.approx(1 / 3)
    assert d["C"] == pytest.approx(0.03) and d["a"] == pytest.approx(0.85) and d["b"] == pytest.approx(0.4)
    assert d["source"] == corr.source and d["fitted_on"] == corr.fitted_on and d["family"] == "rough-pipe"
    assert d["points"] == 12 and d["residual_sd"] == 0.07
    # a smooth system's key is its correlation's alone
    assert SystemFit(by_key("colburn"), 12, np.zeros(3), np.eye(3), 0.1).key == "colburn"


def test_a_rough_correlation_is_sampled_at_the_grid_values_on_its_range_s_bounds():
    """Bhatti-Shah is valid for e/D 0.002-0.05, both grid values: the bounds are inside its range,
    so it is sampled at all five roughnesses; a smooth correlation at none."""
    assert correlations.ROUGHNESS_GRID == (0.002, 0.005, 0.01, 0.02, 0.05)
    assert roughnesses(by_key("bhatti-shah")) == [0.002, 0.005, 0.01, 0.02, 0.05]
    assert roughnesses(by_key("colburn")) == [None]


def test_the_seed_sets_the_fits_and_each_system_draws_its_own_sample():
    """Pre-training is reproducible from its seed, another seed draws other points, and two systems
    with the same ranges (Dittus-Boelter heating and cooling, both exact power laws) do not share
    one sample: shared noise would make their residual scatter identical."""
    keys = ["dittus-boelter-heating", "dittus-boelter-cooling"]
    a, again, other = (fit_systems(keys, 20, 0.05, seed) for seed in (4, 4, 5))
    assert [f.theta.tolist() for f in a] == [f.theta.tolist() for f in again]
    assert not np.allclose(a[0].theta, other[0].theta)
    assert a[0].residual_sd != pytest.approx(a[1].residual_sd, rel=1e-6)


def test_the_sample_is_log_uniform_over_re_and_its_scatter_is_the_noise():
    """Each correlation is sampled log-uniformly (Colburn, Re 1e4-1e5: median Re near the geometric
    midpoint 31,623, not the arithmetic 55,000) with log-normal scatter of sd ``noise``: the
    residual sd of a power law's fit recovers 0.1 on 4,000 points."""
    fit = fit_system(by_key("colburn"), 4000, 0.1, np.random.default_rng(0))
    assert fit.theta[1:] == pytest.approx([0.8, 1 / 3], abs=0.02)  # log C, extrapolated to Re = 1, is looser
    assert fit.residual_sd == pytest.approx(0.1, rel=0.05)
    from sciPT.domains.surrogates.data import sample_correlation

    pts = sample_correlation(by_key("colburn"), 4000, 0.0, np.random.default_rng(1))
    assert np.median(pts.re) == pytest.approx(np.sqrt(1e4 * 1e5), rel=0.1)


def test_unequal_weights_weight_the_mean_and_the_fit_covariances():
    """With weights 3:1 (w = 0.75, 0.25) the mean is 0.75 a + 0.25 b, the fit uncertainty 0.75 V_a +
    0.25 V_b = 0.015 I (not the plain average 0.02 I), and the unbiased reliability-weighted spread
    of two systems is (a - b)(a - b)^T / 2 whatever their weights: 0.1875 D / (1 - 0.625)."""
    c = by_key("colburn")
    a = SystemFit(c, 10, np.array([-4.0, 0.8, 0.4]), np.eye(3) * 0.01, 0.1, weight=3.0)
    b = SystemFit(c, 10, np.array([-3.0, 0.6, 0.3]), np.eye(3) * 0.03, 0.1, weight=1.0)
    prior = population_prior([a, b])
    assert prior.mean == pytest.approx([-3.75, 0.75, 0.375])
    d = np.array([-1.0, 0.2, 0.1])
    assert prior.cov == pytest.approx(np.outer(d, d) / 2 + np.eye(3) * 0.015)


def test_each_family_s_component_carries_the_geometric_ratios_and_their_width():
    """family_mixture passes the ratios and group_sd to every family's Gaussian: a calibration with
    e_Dh under a mixture prior gets N(0, group_sd^2) on its exponent, not no ratio or sd 0.5."""
    pipe = SystemFit(by_key("colburn"), 10, np.array([-3.8, 0.8, 0.33]), np.eye(3) * 0.01, 0.1)
    body = SystemFit(by_key("whitaker-sphere"), 10, np.array([-1.0, 0.6, 0.4]), np.eye(3) * 0.01, 0.1)
    mix = family_mixture([pipe, body], ["e_Dh"], group_sd=0.3)
    assert mix.labels == ["smooth-pipe", "bluff-body"]
    for comp, fit in zip(mix.components, (pipe, body)):
        assert comp.names == ["log_C", "Re", "Pr", "e_Dh"]
        assert comp.mean == pytest.approx([*fit.theta, 0.0])
        assert comp.cov[3, 3] == pytest.approx(0.09)


def test_the_sources_list_each_correlation_once_with_its_citation():
    """A rough correlation sampled at three roughnesses is one source line, under its correlation
    key, with its family and citation; a stored system without a correlation key falls back to
    its key."""
    fits = fit_systems(["dipprey-sabersky", "colburn"], 10, 0.05, 0)
    assert len(fits) == 4
    assert source_lines([f.as_dict() for f in fits]) == [
        f"- `dipprey-sabersky` (rough-pipe): {by_key('dipprey-sabersky').source}",
        f"- `colburn` (smooth-pipe): {by_key('colburn').source}",
    ]
    stored = [{"key": "colburn", "family": "smooth-pipe", "source": "Colburn (1933)"}, {"key": "x"}]
    assert sources(stored) == [
        {"correlation": "colburn", "family": "smooth-pipe", "source": "Colburn (1933)"}
    ]


def test_a_rough_system_s_validity_box_is_named_with_its_roughness():
    """The contamination check compares points with a rough system at its own e/D, read from the
    box's key: each of Dipprey-Sabersky's three systems has its own."""
    boxes = validity_box(fit_systems(["dipprey-sabersky"], 10, 0.05, 0))
    assert [b["key"] for b in boxes] == [f"dipprey-sabersky@e/D={e:g}" for e in (0.005, 0.01, 0.02)]


def test_learn_prior_uses_the_config_s_seed_and_group_sd():
    """``scipt pretrain surrogates --seed 3 group_sd=0.2`` learns from the seed-3 sample and gives a
    ratio's exponent sd 0.2, as a Gaussian or as a mixture."""
    cfg = SurrogatePretrainConfig(systems=["colburn", "whitaker-sphere"], points_per_system=10, group_sd=0.2)
    cfg.train.seed = 3
    prior, fits = learn_prior(cfg, ["e_Dh"])
    expected = fit_systems(["colburn", "whitaker-sphere"], 10, 0.05, 3)
    assert [f.theta.tolist() for f in fits] == [f.theta.tolist() for f in expected]
    assert prior.cov[3, 3] == pytest.approx(0.04)
    mix, _ = learn_prior(cfg, ["e_Dh"], form="mixture")
    assert [c.cov[3, 3] for c in mix.components] == pytest.approx([0.04, 0.04])


def test_an_exported_exact_parameter_stays_fixed(tmp_path):
    """A parameter the export holds exactly (zero variance) comes back fixed, not a Gaussian of
    zero width that a calibration would have to invert."""
    from sciPT.domains.surrogates import export_surrogate, prior_posterior
    from sciPT.domains.surrogates.objectives import GaussianPrior
    from sciPT.domains.surrogates.pretrain import prior_from_export

    held = GaussianPrior(["log_C", "Re", "Pr"], [-3.5, 0.8, 0.4], np.diag([0.5, 0.003, 0.0]), fixed=[0, 0, 1])
    export_surrogate(tmp_path / "model", prior_posterior(held), [], {"kind": "prior"})
    prior, _ = prior_from_export(tmp_path, ["e_Dh"])
    assert prior.fixed.tolist() == [False, False, True, False]
    assert prior.mean[2] == pytest.approx(0.4)


def test_the_report_weights_each_correlation_alike_and_lists_its_source_once():
    """The report's w column is each system's share of the total: Dipprey-Sabersky's three
    roughnesses share half (1/6 each), Colburn has the other half; its Sources section lists each
    correlation once."""
    from sciPT.domains.surrogates import prior_report

    cfg = SurrogatePretrainConfig(systems=["dipprey-sabersky", "colburn"], points_per_system=10)
    fits = fit_systems(list(cfg.systems), 10, 0.05, 0)
    lines = prior_report(cfg, fits, population_prior(fits), Path("prior.png"), None).splitlines()
    rows = [line for line in lines if line.startswith(("| dipprey-sabersky", "| colburn"))]
    assert [row.rsplit("|", 2)[1].strip() for row in rows] == ["0.1667", "0.1667", "0.1667", "0.5000"]
    start = lines.index("## Sources")
    left_out = next(
        i for i, line in enumerate(lines) if line.startswith("Left out, as they would contaminate")
    )
    listed = lines[start:left_out]
    assert [line for line in listed if line.startswith("- ")] == source_lines([f.as_dict() for f in fits])
    assert len(source_lines([f.as_dict() for f in fits])) == 2
    # the contamination rule for laws is named with what it left out (it was enforced, and said nowhere)
    excluded = [line for line in lines[left_out : lines.index("## Prior")] if line.startswith("- ")]
    assert excluded == [f"- {key}: {why}" for key, why in correlations.EXCLUDED.items()]
    assert excluded[0].startswith("- han-1988-ribbed-channel: Han, J. Heat Transfer 110:321 (1988)")


def test_a_rough_correlation_is_applied_zero_shot_at_its_smoothest_roughness_without_e_dh():
    """A series with no e_Dh column is taken as the smoothest tube the rough correlation knows
    (Gnielinski-rough: e/D = 0.001), not its roughest (0.05, far more heat transfer)."""
    from sciPT.domains.surrogates.experiment import zero_shot

    rough = by_key("gnielinski-rough")
    re, pr = np.array([2e4, 1e5]), np.full(2, 0.7)
    got = zero_shot(rough, Points(re, pr, np.ones(2), {}, "by hand"))
    np.testing.assert_allclose(got, np.log(rough(re, pr, 0.001)), rtol=1e-12)


def test_library_validation_holds_out_the_series_own_family(monkeypatch):
    """Each synthetic series is calibrated with a prior learnt without its own family: a prior that
    had seen the series' own correlation would make the validation, and the defaults chosen on it,
    look better than a ribbed channel will ever see."""
    from sciPT.domains.surrogates import experiment, pretrain

    fits = fit_systems(["colburn", "whitaker-sphere"], 20, 0.05, 0)
    learnt = []

    def spy(fs, *args, **kw):
        learnt.append(sorted(f.correlation.key for f in fs))
        return population_prior(fs, *args, **kw)

    monkeypatch.setattr(pretrain, "population_prior", spy)
    experiment.library_validation(fits, {"g": {}}, seed=0)
    assert learnt == [["whitaker-sphere"], ["colburn"]]


def test_library_validation_can_hold_out_only_the_series_own_correlation(monkeypatch):
    """hold_out="correlation" is leave-one-correlation-out: Colburn's series is calibrated with a
    prior learnt on Dittus-Boelter, a system of its own family, and the reverse; its coverage is
    the share of held-out points inside the kept fit's interval, counted over every calibration."""
    from sciPT.domains.surrogates import experiment, pretrain

    fits = fit_systems(["colburn", "dittus-boelter-heating"], 20, 0.05, 0)
    learnt, scored = [], []

    def spy(fs, *args, **kw):
        learnt.append([f.correlation.key for f in fs])
        return population_prior(fs, *args, **kw)

    real_score = experiment._score

    def score(post, X, y, level):
        s = real_score(post, X, y, level)
        scored.append((s["covered"], len(y)))
        return s

    monkeypatch.setattr(pretrain, "population_prior", spy)
    monkeypatch.setattr(experiment, "_score", score)
    out = experiment.library_validation(fits, {"g": {}}, hold_out="correlation", seed=0)
    assert learnt == [["dittus-boelter-heating"], ["colburn"]]
    # one config: its score, then scratch's, per calibration
    kept, scratch = scored[0::2], scored[1::2]
    assert out["g"]["coverage"] == pytest.approx(sum(c for c, _ in kept) / sum(n for _, n in kept))
    assert out["scratch"]["coverage"] == pytest.approx(
        sum(c for c, _ in scratch) / sum(n for _, n in scratch)
    )


def test_three_systems_give_their_sample_mean_and_covariance_by_hand():
    """Three systems of equal weight: the prior's mean is the plain mean of their fits, its spread
    the ordinary (ddof = 1) sample covariance, plus their mean fit covariance; a ratio's exponent
    gets N(0, 0.5^2) by default (the docstring's "an exponent of 1 a two-sigma event")."""
    c = by_key("colburn")
    thetas = [[-4.0, 0.8, 0.4], [-3.0, 0.6, 0.3], [-2.0, 0.7, 0.35]]
    fits = [SystemFit(c, 10, np.array(t), np.eye(3) * v, 0.1) for t, v in zip(thetas, (0.01, 0.02, 0.03))]
    prior = population_prior(fits, ["e_Dh"])
    # mean (-3, 0.7, 0.35); deviations (-1, 0.1, 0.05), (0, -0.1, -0.05), (1, 0, 0):
    # sum d d^T = [[2, -0.1, -0.05], [-0.1, 0.02, 0.01], [-0.05, 0.01, 0.005]], / (3 - 1);
    # fit uncertainty (0.01 + 0.02 + 0.03) / 3 = 0.02 on the diagonal
    assert prior.names == ["log_C", "Re", "Pr", "e_Dh"]
    assert prior.mean == pytest.approx([-3.0, 0.7, 0.35, 0.0])
    spread = np.array([[1.0, -0.05, -0.025], [-0.05, 0.01, 0.005], [-0.025, 0.005, 0.0025]])
    assert prior.cov[:3, :3] == pytest.approx(spread + np.eye(3) * 0.02, rel=1e-12)
    assert prior.cov[3, 3] == pytest.approx(0.25, rel=1e-12)
    assert prior.cov[3, :3].tolist() == [0.0, 0.0, 0.0]


def test_learn_prior_refuses_a_form_it_does_not_know():
    """A misspelt form is refused by name, not silently learnt as one Gaussian."""
    cfg = SurrogatePretrainConfig(systems=["colburn"], points_per_system=10)
    with pytest.raises(ValueError) as err:
        learn_prior(cfg, form="mixtures")
    assert str(err.value) == "form must be one of ('gaussian', 'mixture')"


def _export_with_ratios(tmp_path):
    """An exported prior over (log C, a, b, c_g1, c_g2) with g1 and g2 correlated with each other
    and g2 with Re."""
    from sciPT.domains.surrogates import export_surrogate, prior_posterior
    from sciPT.domains.surrogates.objectives import GaussianPrior

    cov = np.diag([0.5, 0.003, 0.002, 0.04, 0.09])
    cov[3, 4] = cov[4, 3] = 0.01
    cov[1, 4] = cov[4, 1] = 0.001
    held = GaussianPrior(["log_C", "Re", "Pr", "g1", "g2"], [-3.5, 0.8, 0.4, 0.2, -0.3], cov)
    export_surrogate(tmp_path / "model", prior_posterior(held), ["g1", "g2"], {"kind": "prior"})


def test_an_export_s_ratios_come_back_by_name_in_the_order_asked(tmp_path):
    """Asked for (new, g2, g1), the export's ratios are taken by name, not position, and a ratio
    it lacks listed first does not stop the others being taken: new gets N(0, 0.3^2) and no
    correlation, g2 and g1 their own means, variances and covariances (with each other and Re)."""
    from sciPT.domains.surrogates.pretrain import prior_from_export

    _export_with_ratios(tmp_path)
    prior, _ = prior_from_export(tmp_path, ["new", "g2", "g1"], group_sd=0.3)
    assert prior.names == ["log_C", "Re", "Pr", "new", "g2", "g1"]
    assert prior.mean == pytest.approx([-3.5, 0.8, 0.4, 0.0, -0.3, 0.2])
    expected = np.diag([0.5, 0.003, 0.002, 0.09, 0.09, 0.04])
    expected[4, 5] = expected[5, 4] = 0.01  # g2 with g1
    expected[1, 4] = expected[4, 1] = 0.001  # Re with g2
    assert prior.cov == pytest.approx(expected, abs=1e-12)


def test_an_export_with_a_ratio_the_points_lack_is_refused(tmp_path):
    """A model with exponents for g1 and g2 cannot be a prior for points that carry only g1: its
    law needs g2 to predict, so the import names the missing ratio instead of dropping it."""
    from sciPT.domains.surrogates.pretrain import prior_from_export
    from sciPT.errors import DataError

    _export_with_ratios(tmp_path)
    with pytest.raises(DataError) as err:
        prior_from_export(tmp_path, ["g1"])
    assert str(err.value) == f"{tmp_path}: the model has the geometric ratio 'g2', which the points lack"
