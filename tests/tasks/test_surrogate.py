"""The surrogate task's finetune / evaluate / predict / demo, called directly (tasks/surrogate.py)."""

import argparse
import json
import shlex

import numpy as np
import pytest
import yaml

from sciPT.checkpoint import from_pretrained
from sciPT.domains.surrogates import domain, presets
from sciPT.domains.surrogates.objectives import LEVELS
from sciPT.domains.surrogates.presets import tiny
from sciPT.domains.surrogates.recalibration import for_library
from sciPT.errors import ConfigError, DataError, UserError
from sciPT.run import RunDir
from sciPT.tasks.surrogate import task

RIBBED = [
    "Re,Pr,Nu,e_Dh",
    "20000,0.7,190,0.1",
    "35000,0.7,270,0.1",
    "60000,0.7,390,0.1",
    "100000,0.7,540,0.1",
]


def finetune_args(*argv):
    parser = argparse.ArgumentParser()
    task.add_finetune_arguments(parser)
    return parser.parse_args(list(argv))


def side_args(method, **values):
    parser = argparse.ArgumentParser()
    getattr(task, method)(parser)
    ns = parser.parse_args([])
    for k, v in values.items():
        setattr(ns, k, v)
    return ns


@pytest.fixture
def csv(tmp_path):
    def write(name, lines):
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n")
        return path

    return write


@pytest.fixture
def calibrated(tmp_path, csv):
    out = tmp_path / "run"
    task.finetune(finetune_args("--train", str(csv("train.csv", RIBBED[:4])), "--out", str(out)))
    return out


def test_finetune_writes_a_complete_run(calibrated, capsys):
    run = RunDir(calibrated)
    config = yaml.safe_load(run.config.read_text())
    assert config["task"] == "surrogate"
    assert config["init"] == "all" and config["data"]["train"].endswith("train.csv")
    law = json.loads((calibrated / "law.json").read_text())
    assert law["constant_groups"] == {"e_Dh": 0.1}  # constant over the points: folded into C
    assert law["law"].startswith("Nu = ") and "Re^" in law["law"]
    assert law["valid_for"]["Re"] == [20000, 60000]
    # the law reproduces the calibration points to within a few per cent
    f = eval(law["python"])
    assert f(35000, 0.7) == pytest.approx(270, rel=0.05)
    metrics = run.read_metrics()
    assert metrics["points"] == 3 and "loo_elpd_prior" in metrics and "loo_elpd_scratch" in metrics
    # the default: one Gaussian per family, averaged by evidence; both fits blended by leave-one-out
    assert law["guard_rule"] == "blend" and law["kept"] == "blend"
    weights = law["family_weights"]
    assert set(weights) == {"flat-plate", "smooth-pipe", "rough-pipe", "bluff-body"}
    assert sum(weights.values()) == pytest.approx(1.0)
    assert json.loads((run.model / "config.json").read_text())["domain"] == "surrogates"
    report = run.report.read_text()
    for needle in (
        "## Both fits",
        "| prior-informed |",
        "| scratch |",
        "pre-trained (before data)",
        "Guard (blend rule): leave-one-out with Burman's correction to 3 points: ",
        "The prior in the law's own terms (mean ± sd): flat-plate (0.25): C = ",  # one per family
        "Mixture prior, posterior weight of each family after the points",
        "e_Dh is constant (0.1)",
        "plots/calibration.png",
    ):
        assert needle in report
    assert (run.plots / "calibration.png").stat().st_size > 10_000


def test_a_mixture_prior_is_averaged_by_family_and_stored_as_one_posterior(csv, tmp_path):
    out = tmp_path / "mix"
    train = csv("train.csv", RIBBED[:4])
    # --no-guard keeps the prior-informed fit, so the averaged posterior is the one stored
    task.finetune(
        finetune_args("--train", str(train), "--out", str(out), "--prior-form", "mixture", "--no-guard")
    )
    law = json.loads((out / "law.json").read_text())
    weights = law["family_weights"]
    assert list(weights) == ["flat-plate", "smooth-pipe", "rough-pipe", "bluff-body"]
    assert sum(weights.values()) == pytest.approx(1.0)
    # three points spanning Re: the slope (about 0.66) moves the weights off the equal prior ones
    assert max(weights.values()) > 0.4
    # these points scale as about Re^0.65: the bluff-body family (a = 0.62 +- 0.04) fits them best
    assert max(weights, key=weights.get) == "bluff-body"
    report = RunDir(out).report.read_text()
    assert "Mixture prior, posterior weight of each family after the points" in report
    assert "; smooth-pipe (0.25): C = " in report
    # the averaged posterior (every family's components over the noise and width grids) is stored
    # whole, reloaded and evaluated
    from safetensors.numpy import load_file

    model_cfg = json.loads((out / "model" / "config.json").read_text())
    stored = load_file(out / "model" / "model.safetensors")
    assert stored["weights"].shape == (model_cfg["n_sigma"],) and model_cfg["n_sigma"] > 4 * 72
    assert stored["weights"].sum() == pytest.approx(1.0)
    held = csv("held.csv", [RIBBED[0], RIBBED[4]])
    metrics = task.evaluate(RunDir(out), side_args("add_evaluate_arguments", data=str(held)))
    assert 0 <= metrics["eval_mape"] < 15
    from sciPT.tasks.surrogate import resolve_prior

    with pytest.raises(ConfigError, match="^--prior-form: expected one of gaussian, mixture, got 'both'$"):
        resolve_prior("all", [], form="both")


def test_evaluate_and_predict(calibrated, csv, tmp_path):
    held = csv("held.csv", [RIBBED[0], RIBBED[4]])
    metrics = task.evaluate(RunDir(calibrated), side_args("add_evaluate_arguments", data=str(held)))
    assert metrics["eval_points"] == 1
    assert metrics["eval_outside_calibration_range"] == 1  # Re = 1e5 is beyond the calibrated 6e4
    assert 0 <= metrics["eval_mape"] < 15
    run = RunDir(calibrated)
    saved = json.loads((run.evaluations / "held" / "metrics.json").read_text())
    assert saved["eval_points"] == 1 and saved["data"] == str(held) and len(saved["data_sha256"]) == 64
    assert (run.evaluations / "held" / "plots/evaluate.png").is_file()
    assert "eval_points" not in run.read_metrics()  # the calibration's metrics.json is left alone
    # the one point is an extrapolation: flagged in predictions.csv, scored on its own
    assert saved["eval_mape_outside"] == pytest.approx(saved["eval_mape"]) and "eval_mape_inside" not in saved
    assert saved["eval_coverage_outside"] == saved["eval_coverage"]
    flagged = (run.evaluations / "held" / "predictions.csv").read_text().splitlines()
    assert flagged[0].endswith(",in_calibration_range") and flagged[1].endswith(",0")
    assert "Outside the range (extrapolation): MAPE" in (run.evaluations / "held" / "report.md").read_text()
    task.evaluate(run, side_args("add_evaluate_arguments", data=str(held)))
    assert [p.name for p in run.evaluations.iterdir()] == ["held"]  # the same file: replaced, not stacked
    assert run.report.read_text().count("](evaluations/held/report.md)") == 1
    out = tmp_path / "pred.csv"
    task.predict(RunDir(calibrated), side_args("add_predict_arguments", input=str(held), output=str(out)))
    header, row = out.read_text().splitlines()
    # the input file's columns in its order (Re, Pr, Nu, e_Dh), then the predictions
    assert header == "Re,Pr,Nu,e_Dh,Nu_pred,Nu_median,Nu_lo_0.9,Nu_hi_0.9,in_calibration_range"
    values = [float(v) for v in row.split(",")]
    assert values[6] < values[4] < values[7] and values[6] < values[5] < values[7] and values[8] == 0


def test_evaluate_names_each_other_law_for_what_it_is(calibrated, csv):
    """The prior's mean law, which no calibration point touched, is many times off on a new system:
    its line must say it is not calibrated, or a user reads it as the prior-informed fit's error."""
    held = csv("held.csv", [RIBBED[0], RIBBED[4]])
    metrics = task.evaluate(RunDir(calibrated), side_args("add_evaluate_arguments", data=str(held)))
    fits = json.loads((calibrated / "model" / "config.json").read_text())["fits"]
    zero_shot = fits["pretrained"]
    point = {"Re": 1e5, "Pr": 0.7, "e_Dh": 0.1}
    nu = np.exp(zero_shot["log_C"] + sum(e * np.log(point[k]) for k, e in zero_shot["exponents"].items()))
    mape = abs(nu - 540) / 540 * 100
    assert metrics["eval_mape_pretrained"] == pytest.approx(mape)
    report = (RunDir(calibrated).evaluations / "held" / "report.md").read_text()
    assert (
        f"- the pre-trained law's mean, not calibrated (zero-shot): RMSE of log Nu "
        f"{abs(np.log(nu / 540)):.4f}, MAPE {mape:.2f} %"
    ) in report
    others = {"scratch": "scratch (no pre-training)", "prior": "prior-informed,"}
    for key, words in others.items():
        assert (f"- {words}" in report) == (key != fits["kept"]), key


def test_predict_takes_a_points_file_with_nu_left_blank_and_writes_it_back_as_it_was(
    calibrated, csv, tmp_path
):
    """A template to fill in: Nu blank, or filled in part; predict does not read it."""
    ask = csv("ask.csv", ["Re,Pr,Nu,e_Dh", "30000,0.7,,0.1", "50000,0.7,310,0.1"])
    out = tmp_path / "pred.csv"
    task.predict(RunDir(calibrated), side_args("add_predict_arguments", input=str(ask), output=str(out)))
    header, *rows = [r.split(",") for r in out.read_text().splitlines()]
    assert header == [
        *("Re", "Pr", "Nu", "e_Dh", "Nu_pred", "Nu_median", "Nu_lo_0.9", "Nu_hi_0.9", "in_calibration_range")
    ]
    assert [r[2] for r in rows] == ["", "310"]
    full = tmp_path / "full.csv"
    plain = csv("plain.csv", ["Re,Pr,e_Dh", "30000,0.7,0.1", "50000,0.7,0.1"])
    task.predict(RunDir(calibrated), side_args("add_predict_arguments", input=str(plain), output=str(full)))
    assert [r[4] for r in rows] == [r.split(",")[3] for r in full.read_text().splitlines()[1:]]
    # evaluate needs every Nu: a blank one is still refused, naming its line
    with pytest.raises(DataError) as err:
        task.evaluate(RunDir(calibrated), side_args("add_evaluate_arguments", data=str(ask)))
    assert str(err.value) == f"{ask}, line 2: Nu = '' is not a number"


def test_intervals_use_the_recalibration_learnt_on_the_library_and_exported_with_the_run(
    calibrated, csv, tmp_path
):
    run = RunDir(calibrated)
    metrics = run.read_metrics()
    lib = presets.small()
    recal = for_library(lib, "mixture", "exponents")
    assert 0 < metrics["kept_prior"] < 1  # the default keeps a blend, with the blend's own map
    level_map = recal.level_map("blend", 3)
    expected = float(np.interp(0.9, LEVELS, level_map))
    assert metrics["interval_nominal_level"] == pytest.approx(expected)
    exported = json.loads((run.model / "config.json").read_text())
    np.testing.assert_allclose(exported["interval_level_map"], level_map)
    assert f"the central {expected:.1%} of the predictive" in run.report.read_text()
    # predict's interval is the stored posterior's at the recalibrated level
    held = csv("one.csv", [RIBBED[0], RIBBED[4]])
    out = tmp_path / "pred.csv"
    task.predict(run, side_args("add_predict_arguments", input=str(held), output=str(out)))
    lo, hi = (float(v) for v in out.read_text().splitlines()[1].split(",")[6:8])
    post = from_pretrained(run.path, domain="surrogates").model.posterior()
    x = np.array([[1.0, np.log(1e5), np.log(0.7)]])
    # loaded, the model carries its recalibration: its 90 % interval is the predictive's central 'expected'
    want = post.interval(x, 0.9)
    np.testing.assert_allclose(want, post.interval(x, expected, recalibrated=False), rtol=1e-12)
    # the CSV holds six significant figures: half a unit of the sixth is at most 5e-6 of the value
    assert (lo, hi) == pytest.approx((float(np.exp(want[0][0])), float(np.exp(want[1][0]))), rel=5e-6)
    # switched off: the predictive's own 90 % interval, and the report says so
    plain = tmp_path / "plain"
    task.finetune(
        finetune_args("--train", str(csv("t.csv", RIBBED[:4])), "--out", str(plain), "--recalibrate", "false")
    )
    assert RunDir(plain).read_metrics()["interval_nominal_level"] == 0.9
    assert "Recalibration: recalibration switched off" in RunDir(plain).report.read_text()


def test_a_blend_is_kept_with_its_weights_and_its_own_recalibration(csv, tmp_path):
    out = tmp_path / "blend"
    task.finetune(
        finetune_args("--train", str(csv("t.csv", RIBBED[:4])), "--out", str(out), "--guard-rule", "blend")
    )
    run = RunDir(out)
    law, metrics = json.loads((out / "law.json").read_text()), run.read_metrics()
    w = metrics["kept_prior"]
    assert law["kept"] == "blend" and law["guard_rule"] == "blend" and 0 < w < 1
    assert f"kept: the mixture of the prior-informed ({w:.2f}) and scratch ({1 - w:.2f}) fits" in (
        run.report.read_text()
    )
    lib = presets.small()
    recal = for_library(lib, "mixture", "exponents")
    exported = json.loads((run.model / "config.json").read_text())
    np.testing.assert_allclose(exported["interval_level_map"], recal.level_map("blend", 3))
    assert (
        "; the level set by the blend's own map, learnt on the default guard's blends."
        in run.report.read_text()
    )


def test_the_guard_s_leave_one_out_correction_is_a_setting(csv, tmp_path):
    """--loo-correction reaches the guard: with four points at one Pr, Burman's correction is made,
    the reason says so, and the weight differs from the plain leave-one-out's; config.yaml
    records it."""
    weights = {}
    for correction in ("none", "burman"):
        out = tmp_path / correction
        task.finetune(
            finetune_args(
                "--train", str(csv("t.csv", RIBBED[:5])), "--out", str(out), "--loo-correction", correction
            )
        )
        law = json.loads((out / "law.json").read_text())
        weights[correction] = RunDir(out).read_metrics()["kept_prior"]
        assert yaml.safe_load((out / "config.yaml").read_text())["loo_correction"] == correction
        corrected = law["guard_reason"].startswith("leave-one-out with Burman's correction to 4 points: ")
        assert corrected == (correction == "burman"), law["guard_reason"]
        # the blend's own map was learnt with the default correction: these mix their members' maps
        w = weights[correction]
        recal = for_library(presets.small(), "mixture", "exponents")
        exported = json.loads((out / "model" / "config.json").read_text())["interval_level_map"]
        mixed = w * recal.level_map("prior", 4) + (1 - w) * recal.level_map("scratch", 4)
        np.testing.assert_allclose(exported, mixed, rtol=1e-12)
        assert (
            f"; the level set by the mean of the prior-informed and scratch fits' maps weighted as the "
            f"fits ({w:.2f} and {1 - w:.2f}): the blend's own map was learnt on the default guard's blends"
        ) in (out / "report.md").read_text()
    assert weights["burman"] != pytest.approx(weights["none"], abs=1e-6)


def test_init_none_with_one_point_warns_which_exponents_are_held(tmp_path, csv, capsys):
    out = tmp_path / "one"
    task.finetune(
        finetune_args("--train", str(csv("one.csv", RIBBED[:2])), "--out", str(out), "--init", "none")
    )
    assert (
        "warning: 1 point(s) and no prior: only log_C fitted; Re, Pr held at the Dittus-Boelter "
        "values (Re = 0.8 ± 0.3, Pr = 0.4 ± 0.3; the intervals widen by that uncertainty away from "
        "the points)"
    ) in capsys.readouterr().err
    assert json.loads((out / "law.json").read_text())["exponents"] == pytest.approx({"Re": 0.8, "Pr": 0.4})


def test_the_report_says_when_the_pr_exponent_comes_from_the_prior_alone(tmp_path, csv, calibrated):
    one = tmp_path / "one"
    task.finetune(finetune_args("--train", str(csv("one.csv", RIBBED[:2])), "--out", str(one)))
    said = (
        "- Pr is constant (0.7) over the points: the Pr exponent is not learnt from them but taken "
        "from the prior (scratch holds it at 0.4 ± 0.3), and predictions at another Pr rest on that"
    )
    one_point = (
        "; with one point the intervals there were too narrow for a kind of system the library does "
        "not hold (benchmarks/RESULTS_surrogate.md, Prandtl section)\n"
    )
    assert said + one_point in (one / "report.md").read_text()
    assert said + "\n" in (calibrated / "report.md").read_text()  # three points: no n = 1 caveat
    varied = tmp_path / "varied"
    lines = ["Re,Pr,Nu", "20000,0.7,60", "35000,3.0,150", "60000,7.0,300"]
    task.finetune(finetune_args("--train", str(csv("varied.csv", lines)), "--out", str(varied)))
    assert "- Pr is constant" not in (varied / "report.md").read_text()


def test_a_calibration_stopped_while_writing_leaves_no_run_and_runs_again(tmp_path, csv, monkeypatch):
    import sciPT.tasks.surrogate as surrogate_task

    train = csv("train.csv", RIBBED[:4])
    out = tmp_path / "run"

    def broken(*args, **kwargs):
        raise RuntimeError("no display")

    monkeypatch.setattr(surrogate_task, "calibration_plot", broken)
    with pytest.raises(RuntimeError, match="no display"):
        task.finetune(finetune_args("--train", str(train), "--out", str(out)))
    assert [e.name for e in out.iterdir()] == [RunDir.LOCK]  # no law.json, no model to predict with
    monkeypatch.undo()
    task.finetune(finetune_args("--train", str(train), "--out", str(out)))
    assert (out / "model" / "model.safetensors").is_file()


def test_points_outside_every_validity_range_are_flagged(tmp_path, csv, capsys):
    out = tmp_path / "slow"
    lines = ["Re,Pr,Nu", "200,0.3,5", "400,0.3,7"]
    task.finetune(finetune_args("--train", str(csv("slow.csv", lines)), "--out", str(out)))
    expected = (
        "none of the 2 points lies inside the validity range of any pre-training system: the prior "
        "is extrapolated, trust the guard and the scratch fit more"
    )
    assert expected in capsys.readouterr().err
    assert expected in (out / "report.md").read_text()


@pytest.mark.parametrize(
    "lines, extra, error, message",
    [
        (["Re,Pr,Nu", "2e4,0.7,-190"], [], DataError, "line 2: Nu = -190 is not a positive number"),
        (["Re,Nu", "2e4,190"], [], DataError, "missing column 'Pr'"),
        (
            RIBBED[:3],
            ["--init", "nowhere"],
            ConfigError,
            "--init: 'nowhere' is neither all, smooth, flat-plate, smooth-pipe, rough-pipe, bluff-body, none "
            "nor an "
            "existing run directory",
        ),
        (
            RIBBED[:3],
            ["--correction", "4"],
            ConfigError,
            "--correction: 2 point(s) are too few for a correction on top of a 3-parameter law (need at least 7)",
        ),
        (
            RIBBED[:3],
            ["--interval-level", "90"],
            ConfigError,
            "--interval-level: expected a probability between 0 and 1, got 90.0",
        ),
        (
            RIBBED[:3],
            # NumPy's generator of the correction's features raised a ValueError (a traceback)
            ["--seed", "-1", "--correction", "2"],
            ConfigError,
            "--seed: expected an integer from 0 to 4294967295, got -1",
        ),
        (
            RIBBED[:3],
            ["--interval-level", "0.999"],
            ConfigError,
            # the recalibration map ends at 0.99: 0.999 got the 0.99 interval in silence
            "--interval-level: expected a level from 0.01 to 0.99, the levels the interval "
            "recalibration maps, got 0.999; pass --recalibrate false for other levels",
        ),
        (
            RIBBED[:3],
            ["--interval-level", "0.005"],
            ConfigError,
            "--interval-level: expected a level from 0.01 to 0.99, the levels the interval "
            "recalibration maps, got 0.005; pass --recalibrate false for other levels",
        ),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(tmp_path, csv, lines, extra, error, message):
    out = tmp_path / "never"
    args = finetune_args("--train", str(csv("bad.csv", lines)), "--out", str(out), *extra)
    with pytest.raises(error) as err:
        task.finetune(args)
    assert message in str(err.value)
    assert not out.exists()


def test_chained_calibration_from_a_pretrained_run(tmp_path, csv):
    prior_run = tmp_path / "prior"
    domain.pretrain(tiny(), prior_run)
    config = yaml.safe_load((prior_run / "config.yaml").read_text())
    assert config["domain"] == "surrogates" and config["systems"] == ["all"]
    metrics = RunDir(prior_run).read_metrics()
    # 15 smooth + 31 (rough, e/D) + 12 bluff-body systems
    assert metrics["systems"] == 58 and 0.6 < metrics["prior_a"] < 0.9
    out = tmp_path / "chained"
    task.finetune(
        finetune_args(
            "--train",
            str(csv("t.csv", RIBBED)),
            "--out",
            str(out),
            "--init",
            str(prior_run),
            "--correction",
            "0",
        )
    )
    assert yaml.safe_load((out / "config.yaml").read_text())["init"] == str(prior_run)
    # the pre-trained run carries the recalibration learnt on its own systems, and the calibration
    # from it uses that (one Gaussian, the export's form)
    stored = json.loads((prior_run / "model" / "config.json").read_text())["interval_recalibration"]
    assert stored["transfer"] == "exponents" and set(stored["maps"]) == {"prior", "scratch", "blend"}
    assert "Recalibration: learnt at pre-training (58 synthetic series" in RunDir(out).report.read_text()
    cfg = tiny()
    learnt = for_library(cfg, "gaussian", "exponents")
    np.testing.assert_allclose(stored["maps"]["prior"]["2"], learnt.level_map("prior", 2))
    with pytest.raises(UserError, match="pre-train in closed form"):
        domain.build_pretraining(tiny())
    # the prior alone predicts like a calibrated run (evaluate already scored it)
    parser = argparse.ArgumentParser()
    domain.add_predict_arguments(parser)
    args = parser.parse_args([])
    args.input, args.output = str(csv("q.csv", ["Re,Pr", "30000,0.7"])), str(tmp_path / "q_pred.csv")
    domain.predict(RunDir(prior_run), args)
    header, row = (tmp_path / "q_pred.csv").read_text().splitlines()
    assert header == "Re,Pr,Nu_pred,Nu_median,Nu_lo_0.9,Nu_hi_0.9,in_calibration_range"
    values = [float(v) for v in row.split(",")]
    prior = RunDir(prior_run).read_metrics()
    mean_law = np.exp(prior["prior_log_C"] + prior["prior_a"] * np.log(3e4) + prior["prior_b"] * np.log(0.7))
    assert values[2] == pytest.approx(mean_law, rel=1e-5) and values[4] < values[2] < values[5]
    assert values[3] == values[2]  # one Gaussian: its median is its mean
    assert values[6] == 1  # inside a smooth pipe's validity range
    # a run pre-trained before the prior's width was integrated out: its maps are for narrower
    # predictives, so they are not applied
    import shutil

    old_run = tmp_path / "prior_before"
    shutil.copytree(prior_run, old_run)
    exported = json.loads((old_run / "model" / "config.json").read_text())
    del exported["interval_recalibration"]["prior_width"]
    (old_run / "model" / "config.json").write_text(json.dumps(exported))
    again = tmp_path / "chained_before"
    task.finetune(
        finetune_args("--train", str(csv("t2.csv", RIBBED)), "--out", str(again), "--init", str(old_run))
    )
    assert (
        "Recalibration: the pre-trained run's recalibration was learnt for fits that set the prior's width "
        "to its most probable value, where they now integrate it out (pre-train again to learn one): the "
        "predictive's own central interval"
    ) in RunDir(again).report.read_text()


def roughness_series() -> list[str]:
    """Eight points of Nu = 0.3 Re^0.6 Pr^0.4 e_Dh^0.15 with 1 % scatter, e_Dh varying."""
    rng = np.random.default_rng(0)
    lines = ["Re,Pr,Nu,e_Dh"]
    for re, e in zip(np.geomspace(2e4, 1e5, 8), [0.05, 0.1, 0.2, 0.05, 0.1, 0.2, 0.05, 0.1]):
        nu = 0.3 * re**0.6 * 0.7**0.4 * e**0.15 * np.exp(0.01 * rng.standard_normal())
        lines.append(f"{re:.1f},0.7,{nu:.3f},{e}")
    return lines


def test_geometric_ratio_that_varies_enters_the_law(tmp_path, csv):
    lines = roughness_series()
    out = tmp_path / "geo"
    task.finetune(finetune_args("--train", str(csv("geo.csv", lines)), "--out", str(out)))
    law = json.loads((out / "law.json").read_text())
    assert law["exponents"]["e_Dh"] == pytest.approx(0.15, abs=0.05)
    assert law["exponents"]["Re"] == pytest.approx(0.6, abs=0.05)


def test_a_chained_calibration_keeps_the_runs_ratio_when_new_points_hold_it_constant(tmp_path, csv, capsys):
    """One new point at a time (the README's chained calibration): its ratio cannot vary, and its
    column may be spelt in another case; the ratio stays in the law with the run's exponent."""
    lines = roughness_series()
    first = tmp_path / "first"
    task.finetune(finetune_args("--train", str(csv("geo.csv", lines)), "--out", str(first)))
    before = json.loads((first / "law.json").read_text())["exponents"]["e_Dh"]
    nu = 0.3 * 5e4**0.6 * 0.7**0.4 * 0.1**0.15
    chained = tmp_path / "chained"
    one = csv("one.csv", ["Re,Pr,Nu,E_DH", f"50000,0.7,{nu:.3f},0.1"])
    task.finetune(finetune_args("--train", str(one), "--out", str(chained), "--init", str(first)))
    law = json.loads((chained / "law.json").read_text())
    assert law["constant_groups"] == {} and law["exponents"]["e_Dh"] == pytest.approx(before, abs=0.05)
    # a run as --init is the Gaussian it stores: recorded so, and a mixture asked of it (as a
    # config.yaml written before the default depended on the start holds) said, not acted on
    assert yaml.safe_load((chained / "config.yaml").read_text())["prior_form"] == "gaussian"
    assert yaml.safe_load((first / "config.yaml").read_text())["prior_form"] == "mixture"
    capsys.readouterr()
    argv = [
        "--train",
        str(one),
        "--out",
        str(tmp_path / "c2"),
        "--init",
        str(first),
        "--prior-form",
        "mixture",
    ]
    task.finetune(finetune_args(*argv))
    assert (
        f"note: prior_form mixture: --init {first} is a run, whose stored Gaussian is the prior (a mixture "
        "is learnt from a library prior, --init "
    ) in capsys.readouterr().err
    assert yaml.safe_load((tmp_path / "c2" / "config.yaml").read_text())["prior_form"] == "gaussian"
    assert json.loads((tmp_path / "c2" / "law.json").read_text()) == law
    # a prediction at another roughness moves by the run's exponent, not by nothing
    out = tmp_path / "pred.csv"
    ask = csv("ask.csv", ["Re,Pr,e_Dh", "50000,0.7,0.1", "50000,0.7,0.2"])
    task.predict(RunDir(chained), side_args("add_predict_arguments", input=str(ask), output=str(out)))
    rows = [r.split(",") for r in out.read_text().splitlines()[1:]]
    pred = [float(r[3]) for r in rows]
    assert pred[1] / pred[0] == pytest.approx(2 ** law["exponents"]["e_Dh"], rel=1e-4)


def test_demo_writes_tables_plots_and_an_example(tmp_path, monkeypatch):
    from sciPT.domains.surrogates.demo import run_demo

    out = tmp_path / "demo"
    (tmp_path / "t.csv").write_text("\n".join(RIBBED[:4]) + "\n")
    run_demo(out, progress=False, ns=(1, 2), max_draws=2)
    for name in (
        "report.md",
        "study.json",
        "metrics.json",
        "example_train.csv",
        "example_test.csv",
        "plots/example.png",
        "plots/sample_efficiency_all.png",
        "model/config.json",
    ):
        assert (out / name).is_file(), name
    study = json.loads((out / "study.json").read_text())
    rows = study["all systems"]
    assert {r["method"] for r in rows} == {"scratch", "prior", "guard"}
    assert all(0 <= r["coverage"] <= 1 and r["mape_median"] >= 0 for r in rows)
    assert yaml.safe_load((out / "config.yaml").read_text())["task"] == "surrogate"
    # the example's files as typed (258.78, not 258.78000000000003), and its command, run as
    # printed, gives the worked example's guard weights and laws (--init RUN gave 0.53/0.47)
    assert (out / "example_train.csv").read_text() == (
        "Re,Pr,AR,e_Dh,Nu\n27820.9,0.7,1,0.167,258.78\n36663.8,0.7,1,0.167,301.53\n"
    )
    report = (out / "report.md").read_text()
    command = next(line.strip() for line in report.splitlines() if line.startswith("    scipt finetune"))
    argv = shlex.split(command)
    assert argv[:3] == ["scipt", "finetune", "surrogate"]
    rerun = tmp_path / "example"
    task.finetune(finetune_args(*argv[3:-2], "--out", str(rerun)))
    again = (rerun / "report.md").read_text()
    guard = next(line for line in again.splitlines() if line.startswith("Guard ("))
    assert f"Guard: {guard.split('): ', 1)[1]}" in report and "weighted 0.55 and scratch 0.45" in guard
    for fit in ("prior-informed", "scratch"):
        law = next(row for row in again.splitlines() if row.startswith(f"| {fit} |")).split("`")[1]
        assert f"{fit} `{law}`" in report
    # run again into the same folder: refused at once, before its minute of calibrations
    from sciPT.domains.surrogates import demo

    monkeypatch.setattr(demo, "taslim_series", lambda *a: pytest.fail("read the series before refusing"))
    with pytest.raises(UserError) as err:
        demo.run_demo(out, progress=False, ns=(1,), max_draws=1)
    assert str(err.value) == f"{out}: run directory already exists and is not empty (choose another --out)"
    # its prior as --init: a pre-trained prior stored without a recalibration, not a calibrated run
    chained = tmp_path / "from_demo"
    task.finetune(
        finetune_args("--train", str(tmp_path / "t.csv"), "--out", str(chained), "--init", str(out))
    )
    assert (
        "Recalibration: the pre-trained run has no recalibration (its prior was stored without one, as a "
        "demo run's is): the predictive's own central interval."
    ) in RunDir(chained).report.read_text()


def test_correction_is_fitted_exported_and_used_by_evaluate(tmp_path, csv):
    re = np.geomspace(3e3, 3e6, 12)
    nu = 0.012 * re**0.87 * np.exp(-0.04 * (np.log(re) - 11) ** 2)  # curved in log-log
    lines = ["Re,Pr,Nu"] + [f"{r:.2f},0.7,{n:.5f}" for r, n in zip(re, nu)]
    path = csv("curved.csv", lines)
    plain, corrected = tmp_path / "plain", tmp_path / "corrected"
    task.finetune(finetune_args("--train", str(path), "--out", str(plain), "--init", "none"))
    task.finetune(
        finetune_args("--train", str(path), "--out", str(corrected), "--init", "none", "--correction", "6")
    )
    assert json.loads((corrected / "model/config.json").read_text())["correction_width"] == 6
    fit_plain = RunDir(plain).read_metrics()["train_rmse_log_nu"]
    fit_corrected = RunDir(corrected).read_metrics()["train_rmse_log_nu"]
    assert fit_corrected < 0.5 * fit_plain
    metrics = task.evaluate(RunDir(corrected), side_args("add_evaluate_arguments", data=str(path)))
    assert metrics["eval_rmse_log_nu"] == pytest.approx(fit_corrected, rel=1e-6)


def test_configuration_layers_preset_then_yaml_then_flags(tmp_path, csv):
    """preset < --config FILE.yaml < flags, like every task; the resolved config is RUN/config.yaml."""
    train = csv("train.csv", RIBBED[:4])
    (tmp_path / "c.yaml").write_text(f"data:\n  train: {train}\ninit: none\nnoise_sd: 0.1\nmargin: 0.5\n")
    out = tmp_path / "run"
    task.finetune(
        finetune_args(
            "--config", str(tmp_path / "c.yaml"), "--noise-sd", "0.2", "--no-guard", "--out", str(out)
        )
    )
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["noise_sd"] == 0.2  # the flag over the YAML
    assert config["margin"] == 0.5  # the YAML over the preset (0.0)
    assert config["init"] == "none" and config["data"]["train"] == str(train)
    assert config["guard"] is False and config["noise_dof"] == 2.0  # --no-guard; the preset's value
    # the resolved config (less the "task" key naming its writer) reruns as it is
    rerun = tmp_path / "rerun.yaml"
    rerun.write_text(yaml.safe_dump({k: v for k, v in config.items() if k != "task"}))
    again = tmp_path / "again"
    task.finetune(finetune_args("--config", str(rerun), "--out", str(again)))
    assert yaml.safe_load((again / "config.yaml").read_text()) == config
    assert (again / "law.json").read_text() == (out / "law.json").read_text()


def test_missing_training_points_and_resume_are_refused(tmp_path):
    with pytest.raises(ConfigError) as err:
        task.finetune(finetune_args("--out", str(tmp_path / "r")))
    assert str(err.value) == "no measured points: pass --train POINTS.csv (or data.train in --config)"
    with pytest.raises(ConfigError) as err:
        task.finetune(finetune_args("--train", "x.csv", "--resume", "--out", str(tmp_path / "r")))
    assert (
        str(err.value) == "--resume: a surrogate calibration is closed form and takes seconds; run it again"
    )
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--noise-sd", "nan"], "--noise-sd: expected a number, got 'nan'"),
        (["--noise-dof", "inf"], "--noise-sd and --noise-dof: expected positive numbers"),
        # a scatter of exactly 0 is no noise model at all: every interval would have zero width
        (["--noise-sd", "0"], "--noise-sd and --noise-dof: expected positive numbers"),
        (["--margin", "-5"], "--margin: expected nats per point >= 0, got -5.0"),
        (["--correction", "-1"], "--correction: expected a width >= 0, got -1"),
    ],
)
def test_settings_that_are_no_numbers_are_refused_before_anything_is_written(tmp_path, flags, message):
    """A noise width of nan passed the "> 0" check and wrote a run whose law was nan, then failed."""
    with pytest.raises(ConfigError) as err:
        task.finetune(finetune_args("--train", "x.csv", *flags, "--out", str(tmp_path / "r")))
    assert str(err.value) == message
    assert not (tmp_path / "r").exists()


def test_a_correction_needs_four_points_more_than_the_law_has_parameters(tmp_path, csv):
    """Six points under a 3-parameter law and a correction: one short, refused, not fitted on too few."""
    rows = ["Re,Pr,Nu"] + [f"{re},0.7,{0.02 * re**0.8:.4g}" for re in (1e4, 2e4, 4e4, 8e4, 1.6e5, 3.2e5)]
    out = tmp_path / "never"
    args = finetune_args(
        "--train", str(csv("six.csv", rows)), "--out", str(out), "--init", "none", "--correction", "4"
    )
    with pytest.raises(ConfigError) as err:
        task.finetune(args)
    assert str(err.value) == (
        "--correction: 6 point(s) are too few for a correction on top of a 3-parameter law (need at least 7)"
    )
    assert not out.exists()


def test_finetune_warns_on_the_terminal_of_points_on_a_library_law(tmp_path, csv, capsys):
    """Points computed from Dittus-Boelter (Nu = 0.023 Re^0.8 Pr^0.4, a law the prior was learnt on)
    must be named on the terminal too, not only in report.md: the user reads the terminal."""
    rows = ["Re,Pr,Nu"] + [
        f"{re:g},{pr:g},{0.023 * re**0.8 * pr**0.4:.6g}" for re, pr in ((2e4, 0.7), (6e4, 3.0))
    ]
    train = csv("db.csv", rows)
    out = tmp_path / "run"
    task.finetune(
        finetune_args(
            "--train", str(train), "--out", str(out), "--init", "smooth-pipe", "--recalibrate", "false"
        )
    )
    said = (
        f"warning: {train}: 2 of 2 points lie on library system dittus-boelter-heating (within 1%): "
        "they are not held out from the prior; the prior-informed model has seen this law\n"
    )
    assert said in capsys.readouterr().err
    assert RunDir(out).read_metrics()["points_on_library_system"] == 2


def test_a_calibrated_run_as_prior_is_named_as_such_not_as_zero_systems(tmp_path, csv):
    first, second = tmp_path / "first", tmp_path / "second"
    train = csv("t.csv", RIBBED[:3])
    task.finetune(finetune_args("--train", str(train), "--out", str(first)))
    task.finetune(
        finetune_args(
            "--train", str(csv("u.csv", [RIBBED[0], *RIBBED[2:]])), "--out", str(second), "--init", str(first)
        )
    )
    report = RunDir(second).report.read_text()
    assert f"Prior: `{first}` (the posterior of a calibration on `{train}`), transfer: all" in report
    assert "0 systems" not in report


def test_a_correction_says_which_fit_it_rides_on_not_the_blend(tmp_path, csv, capsys):
    rng = np.random.default_rng(3)
    re = np.geomspace(1e4, 1e5, 8)
    nu = 0.023 * re**0.8 * 0.7**0.4 * np.exp(0.03 * rng.standard_normal(8))
    path = csv("db.csv", ["Re,Pr,Nu"] + [f"{r:.1f},0.7,{n:.4f}" for r, n in zip(re, nu)])
    out = tmp_path / "corrected"
    task.finetune(finetune_args("--train", str(path), "--out", str(out), "--correction", "4"))
    w = RunDir(out).read_metrics()["kept_prior"]
    assert 0 < w < 1  # the guard blended; the correction rides on the heavier member
    member = "prior-informed" if w >= 0.5 else "scratch"
    kept = f"(kept: the {member} fit, the heavier in the guard's blend ({max(w, 1 - w):.2f}), refitted with a correction of 4 random features)"
    assert kept in capsys.readouterr().out
    assert kept in RunDir(out).report.read_text()


@pytest.mark.parametrize(
    "groups, message",
    [
        ("Re", "--groups: 'Re' is Re, which every law has (Nu = C Re^a Pr^b ...); expected "),
        ("e_Dh,pr", "--groups: 'pr' is Pr, which every law has (Nu = C Re^a Pr^b ...); expected "),
        ("NU", "--groups: 'NU' is Nu, which every law has (Nu = C Re^a Pr^b ...); expected "),
        (
            "Nu_lo_0.9",
            "--groups: 'Nu_lo_0.9' is a column scipt evaluate and predict write (a prediction of Nu), "
            "not a geometric ratio; expected ",
        ),
    ],
)
def test_groups_naming_re_pr_nu_or_a_prediction_are_refused(tmp_path, csv, groups, message):
    """``--groups Re`` gave ``Nu = 0.0374 Re^-0.0247 Pr^0.4 Re^0.8`` and a law.json whose python
    lambda had a duplicate argument; ``--groups Nu`` fitted Nu with itself."""
    out = tmp_path / "never"
    train = csv("t.csv", RIBBED[:4])
    with pytest.raises(ConfigError) as err:
        task.finetune(finetune_args("--train", str(train), "--out", str(out), "--groups", groups))
    assert str(err.value) == message + "geometric-ratio columns only, or none"
    assert not out.exists()


def test_groups_none_is_read_in_any_case(tmp_path, csv):
    train = csv("log.csv", ["run,Re,Pr,Nu", "1,20000,0.7,190", "2,35000,0.7,270", "3,60000,0.7,390"])
    for spelling in ("none", "None", "NONE"):
        out = tmp_path / spelling
        task.finetune(finetune_args("--train", str(train), "--out", str(out), "--groups", spelling))
        law = json.loads((out / "law.json").read_text())
        assert law["exponents"].keys() == {"Re", "Pr"} and law["valid_for"].keys() == {"Re", "Pr"}


def test_empty_groups_are_refused_naming_the_flag_typed_or_the_key(tmp_path, csv):
    """``--groups ""`` (an unset shell variable) named ``--data.groups``, no flag at all; and
    ``groups: []`` in a config file dropped every ratio in silence where the flag is refused."""
    out = tmp_path / "never"
    train = csv("t.csv", RIBBED[:4])
    with pytest.raises(ConfigError) as err:
        task.finetune(finetune_args("--train", str(train), "--out", str(out), "--groups", ""))
    assert str(err.value) == "--groups: given empty; expected one or more values, comma-separated"
    (tmp_path / "c.yaml").write_text(f"data:\n  train: {train}\n  groups: []\n")
    with pytest.raises(ConfigError) as err:
        task.finetune(finetune_args("--config", str(tmp_path / "c.yaml"), "--out", str(out)))
    assert (
        str(err.value)
        == "data.groups: given empty; expected geometric-ratio column names, or none for no ratio"
    )
    assert not out.exists()


def test_a_quoted_boolean_in_yaml_is_the_boolean(tmp_path, csv):
    """``guard: "false"`` said "expected true or false, got 'false'"."""
    train = csv("t.csv", RIBBED[:4])
    (tmp_path / "c.yaml").write_text(f'data:\n  train: {train}\nguard: "false"\nrecalibrate: "No"\n')
    out = tmp_path / "run"
    task.finetune(finetune_args("--config", str(tmp_path / "c.yaml"), "--out", str(out)))
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["guard"] is False and config["recalibrate"] is False
    assert json.loads((out / "law.json").read_text())["guard_reason"] == "guard switched off"


def test_a_ratio_that_is_a_product_of_re_and_pr_is_refused_before_anything_is_written(tmp_path, csv):
    """``Pe = Re Pr`` to 5 digits gave ``Nu = 8.04e-189 Re^1.26e+03 Pr^0.4 Pe^-1.26e+03`` with exit 0.
    Hand computation of the printed fraction: the test of the same name in test_surrogate_data.py
    (AR = Re / 1e4 but for a factor exp(1e-3) at the middle point: 2.507e-4, printed 0.0003)."""
    out = tmp_path / "never"
    train = csv(
        "ar.csv",
        ["Re,Pr,Nu,AR", "1e4,0.7,40,1", f"1e5,0.7,250,{float(10 * np.exp(1e-3))!r}", "1e6,0.7,1600,100"],
    )
    with pytest.raises(DataError) as err:
        task.finetune(finetune_args("--train", str(train), "--out", str(out), "--init", "none"))
    assert str(err.value) == (
        f"{train}: column 'AR' is (nearly) a constant times a product of powers of Re over the 3 points "
        "(what they leave of its log is 0.0003 of its spread), so the law cannot tell its exponent from "
        "theirs; expected a geometric ratio that varies on its own (leave it out: name the ratios with "
        "--groups, or --groups none for none)"
    )
    assert not out.exists()


def test_predictions_fed_back_as_points_calibrate_as_the_points_alone(calibrated, csv, tmp_path):
    """predictions.csv as --train took Nu_pred, Nu_lo, Nu_hi as ratios: an OverflowError traceback."""
    held = csv("held.csv", RIBBED[:4])
    task.evaluate(RunDir(calibrated), side_args("add_evaluate_arguments", data=str(held)))
    fed = tmp_path / "fed"
    task.finetune(
        finetune_args("--train", str(calibrated / "evaluations/held/predictions.csv"), "--out", str(fed))
    )
    plain = tmp_path / "plain"
    task.finetune(finetune_args("--train", str(held), "--out", str(plain)))
    law, again = (json.loads((run / "law.json").read_text()) for run in (fed, plain))
    assert law["exponents"].keys() == {"Re", "Pr"} and law["constant_groups"] == {"e_Dh": 0.1}
    assert law["law"] == again["law"]


def test_evaluate_reports_the_median_geometric_half_width_of_the_interval(calibrated, csv):
    """A 90 % interval from lo to hi is Nu_pred / (1 + h) to Nu_pred (1 + h) with h = sqrt(hi / lo) - 1;
    the report printed half of hi / lo - 1 (0.5 for h = 0.41 at hi / lo = 2)."""
    held = csv("held.csv", [RIBBED[0], RIBBED[4]])
    metrics = task.evaluate(RunDir(calibrated), side_args("add_evaluate_arguments", data=str(held)))
    folder = RunDir(calibrated).evaluations / "held"
    header, row = (folder / "predictions.csv").read_text().splitlines()
    cells = dict(zip(header.split(","), row.split(",")))
    h = np.sqrt(float(cells["Nu_hi_0.9"]) / float(cells["Nu_lo_0.9"])) - 1  # one point: its own median
    assert metrics["eval_interval_half_width_outside"] == pytest.approx(h, rel=1e-5)  # written to 6 digits
    assert "eval_interval_width_outside" not in metrics
    assert (
        f"median interval half-width about {metrics['eval_interval_half_width_outside']:.1%}."
        in (folder / "report.md").read_text()
    )


def test_a_one_family_pretrained_run_as_prior_is_not_called_a_calibrated_run(tmp_path, csv):
    prior_run = tmp_path / "smooth-pipe"
    domain.pretrain(presets.smooth_pipe(), prior_run)
    out = tmp_path / "run"
    task.finetune(
        finetune_args("--train", str(csv("t.csv", RIBBED[:4])), "--out", str(out), "--init", str(prior_run))
    )
    assert (
        "Recalibration: the pre-trained run has no recalibration (its prior holds one family, smooth-pipe, "
        "so none could be held out to learn one): the predictive's own central interval."
    ) in RunDir(out).report.read_text()


def test_a_correction_on_the_prior_holds_its_most_probable_width(tmp_path, csv, monkeypatch):
    # a blend carries no width of its own, so the correction held the law's at 1 whatever the
    # prior-informed member's most probable width was (the README: "at its most probable value")
    from sciPT.tasks import surrogate as surrogate_task

    rng = np.random.default_rng(7)
    re = np.geomspace(1e4, 1e5, 8)
    nu = 0.023 * re**0.8 * 0.7**0.4 * np.exp(0.06 * rng.standard_normal(8))
    path = csv("db.csv", ["Re,Pr,Nu"] + [f"{r:.1f},0.7,{n:.4f}" for r, n in zip(re, nu)])
    widths = []
    fit_correction = surrogate_task.fit_correction

    def spy(X, y, base, kappa, *args):
        widths.append(kappa)
        return fit_correction(X, y, base, kappa, *args)

    monkeypatch.setattr(surrogate_task, "fit_correction", spy)
    out = tmp_path / "corrected"
    task.finetune(finetune_args("--train", str(path), "--out", str(out), "--correction", "4"))
    metrics = RunDir(out).read_metrics()
    assert 0.5 <= metrics["kept_prior"] < 1  # a blend, the prior-informed fit the heavier
    assert widths == [metrics["prior_width_factor"]] and widths[0] != 1.0


def test_a_calibration_killed_before_its_model_runs_again_in_place(tmp_path, csv):
    """SIGKILL (no cleanup) at the export: law.json and report.md ("Next: scipt evaluate") made the
    leftover look complete, and the same command was refused."""
    import os
    import subprocess
    import sys

    train, out = csv("good.csv", RIBBED[:4]), tmp_path / "k9"
    argv = ["finetune", "surrogate", "--init", "none", "--recalibrate", "false", "--train", str(train)]
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys, sciPT.tasks.surrogate as t; from sciPT.cli import main; "
            "t.export_surrogate = lambda *a, **k: os.kill(os.getpid(), 9); main(sys.argv[1:])",
            *argv,
            "--out",
            str(out),
        ],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
    )
    assert killed.returncode == -9
    assert sorted(e.name for e in out.iterdir()) == [RunDir.LOCK, "config.yaml", "metrics.json", "plots"]
    assert RunDir(out).unstarted()
    # what the same kill left before the model was written first
    (out / "law.json").write_text("{}")
    (out / "report.md").write_text("Next: `scipt evaluate RUN --data HELD_OUT.csv`")
    assert RunDir(out).unstarted()
    task.finetune(
        finetune_args("--init", "none", "--recalibrate", "false", "--train", str(train), "--out", str(out))
    )
    assert (out / "model" / "model.safetensors").is_file()
    assert json.loads((out / "law.json").read_text())["kept"] == "scratch"


def test_rows_copied_twice_are_named_and_replicates_are_not(tmp_path, csv, capsys):
    train = csv("dup.csv", [*RIBBED[:3], RIBBED[2], RIBBED[3], RIBBED[2]])
    task.finetune(finetune_args("--train", str(train), "--out", str(tmp_path / "dup")))
    said = (
        f"warning: {train}: rows identical in every column at lines 3 = 4 = 6 (copied twice?): each copy "
        "counts as one more independent measurement and narrows the intervals; remove the copies unless "
        "each is a measurement of its own"
    )
    assert said in capsys.readouterr().err.splitlines()
    replicates = csv("rep.csv", [*RIBBED[:4], "35000,0.7,262,0.1"])
    task.finetune(finetune_args("--train", str(replicates), "--out", str(tmp_path / "rep")))
    assert "identical in every column" not in capsys.readouterr().err


def test_nu_median_is_inside_the_interval_at_any_level_where_the_mean_of_a_blend_is_not(
    calibrated, csv, tmp_path
):
    """The predictive mean of a blend (Nu_pred) lay outside its own 1 % interval with nothing beside
    it; Nu_median, the 0.5 quantile, is written next to it."""
    post = from_pretrained(calibrated, domain="surrogates").model.posterior()
    assert json.loads((calibrated / "law.json").read_text())["kept"] == "blend"
    points = csv("p.csv", ["Re,Pr,e_Dh", "20000,0.7,0.1", "60000,7,0.1", "100000,70,0.1"])
    out = tmp_path / "p_out.csv"
    task.predict(
        RunDir(calibrated),
        side_args("add_predict_arguments", input=str(points), output=str(out), interval_level=0.01),
    )
    header, *lines = out.read_text().splitlines()
    assert header == "Re,Pr,e_Dh,Nu_pred,Nu_median,Nu_lo_0.01,Nu_hi_0.01,in_calibration_range"
    rows = [[float(v) for v in r.split(",")] for r in lines]
    pred, median, lo, hi = (np.array([r[k] for r in rows]) for k in (3, 4, 5, 6))
    assert np.all((lo <= median) & (median <= hi))
    assert not np.all((lo <= pred) & (pred <= hi))
    X = np.column_stack([np.ones(3), np.log([[20000, 0.7], [60000, 7], [1e5, 70]])])  # e_Dh: constant, in C
    assert median == pytest.approx(np.exp(post.quantile(X, 0.5)), rel=1e-5)  # written to 6 digits
    assert pred == pytest.approx(np.exp(post.predict(X)), rel=1e-5)


def test_a_point_on_the_documented_bound_is_inside_the_calibration_range():
    """0.99 x 27820.9 typed by hand is 27542.691; floating point made the bound 27542.691000000003."""
    from sciPT.domains.surrogates.data import Points
    from sciPT.domains.surrogates.evaluate import in_range

    config = {"calibration_range": {"Re": [27820.9, 50000.0], "Pr": [0.7, 0.7]}}
    re = np.array([27542.691, 27542.69, 50500.0, 50500.01])
    points = Points(re, np.full(4, 0.7), None)
    assert in_range(points, config).tolist() == [True, False, True, False]


def test_evaluate_says_which_variable_puts_points_outside_the_range_and_the_range(calibrated, csv):
    held = csv("far.csv", ["Re,Pr,Nu,e_Dh", "20000,0.7,190,0.1", "100000,0.7,540,0.1", "30000,7,500,0.1"])
    task.evaluate(RunDir(calibrated), side_args("add_evaluate_arguments", data=str(held)))
    report = (RunDir(calibrated).evaluations / "far" / "report.md").read_text()
    assert (
        "2 point(s) lie outside the calibration range (extrapolation): lines 3, 4; by variable:\n\n"
        "- Re: calibrated on 20000 to 60000, inside from 19800 to 60600 (1% slack, bounds included); "
        "1 point(s) outside, lines 3\n"
        "- Pr: calibrated on 0.7 to 0.7, inside from 0.693 to 0.707 (1% slack, bounds included); "
        "1 point(s) outside, lines 4\n"
    ) in report


def test_the_reports_list_each_correlation_with_its_source(tmp_path, csv):
    from sciPT.domains.surrogates.correlations import select

    prior_run = tmp_path / "prior"
    domain.pretrain(presets.smooth_pipe(), prior_run)
    gnielinski = next(c for c in select(["gnielinski"]))
    line = f"- `gnielinski` (smooth-pipe): {gnielinski.source}"
    assert line in (prior_run / "report.md").read_text().splitlines()
    keys = [c.key for c in select(presets.smooth_pipe().systems)]
    out = tmp_path / "cal"
    task.finetune(
        finetune_args("--train", str(csv("t.csv", RIBBED[:4])), "--out", str(out), "--init", str(prior_run))
    )
    text = (out / "report.md").read_text()
    assert (
        f"## What the prior was learnt from\n\n{len(keys)} systems (`{prior_run}`) of {len(keys)} textbook "
        "correlations, each sampled over its validity range and fitted by a power law:\n\n"
    ) in text
    assert line in text.splitlines()
    out = tmp_path / "flat"
    task.finetune(
        finetune_args("--train", str(csv("t.csv", RIBBED[:4])), "--out", str(out), "--init", "flat-plate")
    )
    text = (out / "report.md").read_text()
    assert all(f"- `{c.key}` (flat-plate): {c.source}" in text.splitlines() for c in select(["flat-plate"]))


def test_the_demo_says_what_it_does_before_its_half_minute_of_priors(tmp_path, monkeypatch, capsys):
    """It printed nothing until the priors and their recalibration were learnt, 25-40 s."""
    from sciPT.domains.surrogates import demo

    class Learning(Exception):
        pass

    def learn_prior(*args, **kwargs):
        raise Learning

    monkeypatch.setattr(demo, "learn_prior", learn_prior)
    with pytest.raises(Learning):
        demo.run_demo(tmp_path / "demo", progress=False)
    assert capsys.readouterr().err == (
        "[1/3] learning the priors from the textbook correlations (all systems; smooth pipes only) "
        "and recalibrating the intervals\n"
    )


def test_pr_in_lock_step_with_re_is_said_and_its_exponent_not_fitted(tmp_path, capsys):
    """A water series heated more as the flow grows: Pr falls with Re (typed to 4 digits). The
    law came out Nu = 3.3e+206 Re^-29.7 Pr^-101 with exit 0; now Pr's exponent is the prior's and
    scratch's reference, and one line says why."""
    re = np.geomspace(1e4, 1e5, 10)
    pr = 7 * (re / 1e4) ** -0.3
    nu = 0.023 * re**0.8 * pr**0.4 * np.exp(0.02 * np.sin(np.arange(10)))
    train = tmp_path / "water.csv"
    train.write_text("Re,Pr,Nu\n" + "".join(f"{a:.5g},{b:.4g},{c:.5g}\n" for a, b, c in zip(re, pr, nu)))
    task.finetune(finetune_args("--train", str(train), "--out", str(tmp_path / "run")))
    err = capsys.readouterr().err
    assert (
        "warning: Pr varies in lock-step with Re over the 10 points (what it leaves of log Pr is 0.0002 "
        "of its spread): the law cannot tell their exponents apart, so Pr's is not learnt from them; "
        "scratch holds it at 0.4 ± 0.3, the prior-informed fit takes it from the prior; predictions off "
        "that line rest on that (measure at other combinations to learn it)"
    ) in err
    law = json.loads((tmp_path / "run" / "law.json").read_text())
    # b from the prior and the reference (both near 0.4), a and C then fit along the line: the
    # data's own law (C 0.023, a 0.8, b 0.4) to within b's pull on a (0.3 per unit of b)
    assert law["exponents"]["Pr"] == pytest.approx(0.4, abs=0.05)
    assert law["exponents"]["Re"] == pytest.approx(0.8, abs=0.03)
    assert law["C"] == pytest.approx(0.023, rel=0.2)


def test_evaluate_scores_coverage_inside_and_outside_the_range_on_their_own_points(calibrated, csv):
    """``eval_coverage_inside`` and ``eval_coverage_outside`` are the share of covered points among
    the points inside (outside) the calibration range, each over its own points only."""
    # calibrated on Re 2e4 to 6e4 at Pr 0.7: four points inside (three of the calibration points,
    # covered, and one at 40000 with Nu far off the law, not), two outside (Re 1e5 near the law,
    # Pr 7 with Nu far off it); expected about 3/4 inside, 1/2 outside, 4/6 over all (read below)
    held = csv(
        "mixed.csv",
        [
            "Re,Pr,Nu,e_Dh",
            "20000,0.7,190,0.1",
            "35000,0.7,270,0.1",
            "60000,0.7,390,0.1",
            "40000,0.7,3000,0.1",
            "100000,0.7,540,0.1",
            "30000,7,20000,0.1",
        ],
    )
    metrics = task.evaluate(RunDir(calibrated), side_args("add_evaluate_arguments", data=str(held)))
    header, *rows = (RunDir(calibrated).evaluations / "mixed" / "predictions.csv").read_text().splitlines()
    cells = [dict(zip(header.split(","), row.split(","))) for row in rows]
    covered = np.array([float(c["Nu_lo_0.9"]) <= float(c["Nu"]) <= float(c["Nu_hi_0.9"]) for c in cells])
    inside = np.array([c["in_calibration_range"] == "1" for c in cells])
    assert inside.tolist() == [True, True, True, True, False, False]
    assert metrics["eval_coverage_inside"] == pytest.approx(covered[inside].mean())
    assert metrics["eval_coverage_outside"] == pytest.approx(covered[~inside].mean())
    assert metrics["eval_coverage"] == pytest.approx(covered.mean())
    # the data make the three differ, so a coverage taken over the wrong points shows
    assert len({covered[inside].mean(), covered[~inside].mean(), covered.mean()}) == 3


def test_the_run_metrics_give_c_itself_as_law_json_does(calibrated):
    """The calibration's ``metrics.json`` gives ``C`` (not ``log C``), the same value as
    ``law.json``'s ``C`` and ``exp(log_C)``."""
    law = json.loads((calibrated / "law.json").read_text())
    metrics = RunDir(calibrated).read_metrics()
    # C = exp(log C): for these ribbed points C is 0.33 (log C -1.12), far from its log
    assert metrics["C"] == pytest.approx(law["C"], rel=1e-6)
    assert metrics["C"] == pytest.approx(np.exp(law["log_C"]), rel=1e-6)


def test_fit_metrics_are_the_chosen_fits_own_numbers():
    """``metrics.json`` of a calibration: C = exp(log C), the exponents, the noise as a standard
    deviation of log Nu (not its variance) and the training errors. Predictions 1.1 and 1.9 of
    log Nu 1 and 2: errors +0.1 and -0.1, RMSE 0.1; MAPE (|e^0.1 - 1| + |e^-0.1 - 1|) / 2 =
    (0.105171 + 0.095163) / 2 = 10.0167 %."""
    from types import SimpleNamespace

    from sciPT.tasks.surrogate_report import fit_metrics

    chosen = SimpleNamespace(
        mean=np.array([np.log(0.023), 0.8, 0.4]), noise_sd=0.1, predict=lambda design: np.array([1.1, 1.9])
    )
    guard = SimpleNamespace(prior_weight=0.25, elpd={"prior": -1.5}, loo_rmse={"prior": 0.2}, log_evidence={})
    cal = SimpleNamespace(guard=guard, prior_fit=None)
    X, y = np.array([[1.0, 9.0, -0.4], [1.0, 10.0, 0.3]]), np.array([1.0, 2.0])
    metrics = fit_metrics(cal, X, y, chosen, None, 0.9)
    assert metrics == pytest.approx(
        {
            "points": 2,
            "kept_prior": 0.25,
            "C": 0.023,
            "a": 0.8,
            "b": 0.4,
            "noise_sd_log_nu": 0.1,
            "train_rmse_log_nu": 0.1,
            "train_mape": 10.0167,
            "loo_elpd_prior": -1.5,
            "loo_rmse_log_nu_prior": 0.2,
        },
        rel=1e-4,
    )


def test_a_library_prior_gives_a_ratio_exponent_the_group_sd_asked_for():
    """Pins resolve_prior's --group-sd for a library prior (--init all): a geometric ratio's
    exponent gets the prior N(0, group_sd^2), so its variance is 0.5^2 = 0.25 by default and
    2.0^2 = 4.0 when asked; the Re/Pr block learnt from the library does not depend on it."""
    from sciPT.tasks.surrogate import resolve_prior

    narrow, _ = resolve_prior("all", ["e_Dh"], 0.5, "gaussian")
    wide, _ = resolve_prior("all", ["e_Dh"], 2.0, "gaussian")
    assert narrow.cov[3, 3] == pytest.approx(0.25) and wide.cov[3, 3] == pytest.approx(4.0)
    np.testing.assert_allclose(wide.cov[:3, :3], narrow.cov[:3, :3])
    assert wide.mean[3] == 0.0


# --- a second mutation pass over tasks/surrogate.py --------------------------------------------------
def test_a_ratio_held_constant_flags_predictions_at_another_value(calibrated, csv, tmp_path):
    """e_Dh is 0.1 at every calibration point: it is folded into C, but its range is still recorded
    (model/config.json's calibration_range), so a prediction at e_Dh = 0.2 is flagged as an
    extrapolation (the module docstring) while one at 0.1 is not."""
    exported = json.loads((calibrated / "model" / "config.json").read_text())
    assert exported["calibration_range"] == {"Re": [20000, 60000], "Pr": [0.7, 0.7], "e_Dh": [0.1, 0.1]}
    assert exported["constant_groups"] == {"e_Dh": 0.1}
    ask = csv("ask.csv", ["Re,Pr,e_Dh", "35000,0.7,0.1", "35000,0.7,0.2"])
    out = tmp_path / "pred.csv"
    task.predict(RunDir(calibrated), side_args("add_predict_arguments", input=str(ask), output=str(out)))
    rows = [r.split(",") for r in out.read_text().splitlines()[1:]]
    assert [r[-1] for r in rows] == ["1", "0"]


@pytest.mark.parametrize(
    "flags, message",
    [
        # no pseudo-points behind the noise guess: an improper hyperprior, not a weak one
        (["--noise-dof", "0"], "--noise-sd and --noise-dof: expected positive numbers"),
        (["--margin", "inf"], "--margin: expected nats per point >= 0, got inf"),
    ],
)
def test_settings_at_the_edge_of_their_range_are_refused_before_anything_is_written(tmp_path, flags, message):
    """The bounds are strict where the docstring says positive (noise_dof > 0) and finite where a
    handicap of infinitely many nats would make the guard never keep scratch."""
    with pytest.raises(ConfigError) as err:
        task.finetune(finetune_args("--train", "x.csv", *flags, "--out", str(tmp_path / "r")))
    assert str(err.value) == message
    assert not (tmp_path / "r").exists()


def test_a_correction_on_exactly_four_points_more_than_the_law_has_parameters_is_fitted(tmp_path, csv):
    """Seven points under a 3-parameter law: the least the refusal above allows (p + 4), fitted."""
    rows = ["Re,Pr,Nu"] + [f"{re:g},0.7,{0.02 * re**0.8:.4g}" for re in np.geomspace(1e4, 6.4e5, 7)]
    out = tmp_path / "seven"
    task.finetune(
        finetune_args(
            "--train",
            str(csv("seven.csv", rows)),
            "--out",
            str(out),
            "--init",
            "none",
            "--recalibrate",
            "false",
            "--correction",
            "4",
        )
    )
    assert json.loads((out / "model" / "config.json").read_text())["correction_width"] == 4
    assert RunDir(out).read_metrics()["points"] == 7


def test_without_a_prior_no_library_count_is_written(tmp_path, csv, calibrated):
    """``points_on_library_system`` is 0 with a library prior and no point on it, and absent with
    ``--init none``, which has no library to compare with (the module docstring)."""
    assert RunDir(calibrated).read_metrics()["points_on_library_system"] == 0
    out = tmp_path / "none"
    task.finetune(
        finetune_args(
            "--train",
            str(csv("t.csv", RIBBED[:4])),
            "--out",
            str(out),
            "--init",
            "none",
            "--recalibrate",
            "false",
        )
    )
    assert "points_on_library_system" not in RunDir(out).read_metrics()


def test_a_calibrated_run_as_prior_transfers_all_unless_told_and_has_no_recalibration(
    calibrated, csv, tmp_path
):
    """A calibrated run's posterior describes this very system, C included: transfer ``all`` by
    default; ``--transfer exponents`` is obeyed; either way there is no recalibration to reuse."""
    train = csv("u.csv", [RIBBED[0], *RIBBED[2:4]])
    for flags, transfer in (([], "all"), (["--transfer", "exponents"], "exponents")):
        out = tmp_path / transfer
        task.finetune(
            finetune_args("--train", str(train), "--out", str(out), "--init", str(calibrated), *flags)
        )
        assert json.loads((out / "model" / "config.json").read_text())["transfer"] == transfer
        report = RunDir(out).report.read_text()
        assert f"transfer: {transfer}" in report
        assert (
            "Recalibration: a calibrated run as prior has no recalibration: the predictive's own central "
            "interval"
        ) in report


def stored_recalibration(**changes):
    """What a pre-training run stores (domains/surrogates/__init__.py): the maps, the transfer and
    the noise prior they were learnt with."""
    from sciPT.domains.surrogates.recalibration import IntervalRecalibration

    maps = {kind: {2: np.linspace(0.2, 0.99, len(LEVELS))} for kind in ("prior", "scratch", "blend")}
    stored = {
        **IntervalRecalibration(maps, {}, "4 synthetic series").as_dict(),
        "transfer": "exponents",
        "noise_prior": {"s0": 0.05, "nu0": 2.0},
    }
    return {**stored, **changes}


def test_a_runs_stored_recalibration_is_used_only_where_it_was_learnt_for_the_same_fits(tmp_path):
    """interval_recalibration with a run as ``--init``: the stored maps apply only to a pre-trained
    prior, with the transfer and noise prior they were learnt with; otherwise the predictive's own
    central interval, with the reason in the report's words."""
    from sciPT.domains.surrogates.objectives import NoisePrior
    from sciPT.tasks.surrogate import SurrogateConfig, interval_recalibration

    cfg = SurrogateConfig(init=str(tmp_path))
    noise = NoisePrior(0.05, 2.0)
    own = ": the predictive's own central interval"
    recal, said = interval_recalibration(
        cfg, {"kind": "prior", "recalibration": stored_recalibration()}, "exponents", noise
    )
    assert said == "learnt at pre-training (4 synthetic series)"
    np.testing.assert_array_equal(recal.level_map("prior", 2), np.linspace(0.2, 0.99, len(LEVELS)))
    other = "the pre-trained run's recalibration was learnt with another transfer or noise prior" + own
    info = {"kind": "prior", "recalibration": stored_recalibration()}
    assert interval_recalibration(cfg, info, "all", noise) == (None, other)
    assert interval_recalibration(cfg, info, "exponents", NoisePrior(0.1, 2.0)) == (None, other)
    assert interval_recalibration(cfg, info, "exponents", NoisePrior(0.05, 3.0)) == (None, other)
    # a calibrated run carries a recalibration note, not maps; any run but a pre-trained prior has none
    calibrated = {"kind": "calibrated", "recalibration": stored_recalibration()}
    assert interval_recalibration(cfg, calibrated, "all", noise) == (
        None,
        "a calibrated run as prior has no recalibration" + own,
    )
    none = "the pre-trained run has no recalibration (its prior was stored without one, as a demo run's is)"
    assert interval_recalibration(
        cfg, {"kind": "demo", "recalibration": stored_recalibration()}, "exponents", noise
    ) == (None, none + own)
    two = {"kind": "prior", "recalibration": None, "families": ["flat-plate", "smooth-pipe"]}
    assert interval_recalibration(cfg, two, "exponents", noise) == (None, none + own)
    one = {"kind": "prior", "recalibration": None, "families": ["smooth-pipe"]}
    assert interval_recalibration(cfg, one, "exponents", noise) == (
        None,
        "the pre-trained run has no recalibration (its prior holds one family, smooth-pipe, so none could "
        "be held out to learn one)" + own,
    )


def test_the_prior_form_asked_for_a_library_prior_is_the_one_used():
    """``--prior-form gaussian`` with a library prior is used as asked; unset, the mixture (the
    default); a run as ``--init`` is always the Gaussian it stores."""
    from sciPT.tasks.surrogate import SurrogateConfig, prior_form_used

    assert prior_form_used(SurrogateConfig(init="all", prior_form="gaussian")) == "gaussian"
    assert prior_form_used(SurrogateConfig(init="smooth-pipe", prior_form=None)) == "mixture"
    assert prior_form_used(SurrogateConfig(init="runs/prior", prior_form=None)) == "gaussian"


def test_the_correction_width_is_chosen_by_evidence_and_the_laws_width_held_at_kappa(monkeypatch):
    """fit_correction: each tau of the grid is a fit; the one kept has the highest evidence. The law
    block's prior is N(m, kappa S) (objectives.fit) and each correction weight's N(0, tau^2 / width)
    whatever kappa is: the same posterior as a fit at kappa 1 of the law block's covariance times
    kappa beside tau^2 / width."""
    import sciPT.tasks.surrogate as surrogate_task
    from sciPT.domains.surrogates.objectives import GaussianPrior, NoisePrior, fit

    rng = np.random.default_rng(5)
    re, pr = np.geomspace(3e3, 3e6, 10), np.geomspace(0.7, 7, 10)[rng.permutation(10)]
    log_nu = (
        np.log(0.012 * re**0.87 * pr**0.4) - 0.04 * (np.log(re) - 11) ** 2 + 0.01 * rng.standard_normal(10)
    )
    X = np.column_stack([np.ones(10), np.log(re), np.log(pr)])
    names = ["log_C", "Re", "Pr"]
    # a Gaussian prior on every parameter (no free one), so its width kappa moves the fit
    law = GaussianPrior(names, np.array([np.log(0.023), 0.8, 0.4]), np.diag([0.5, 0.1, 0.1]) ** 2)
    noise, width, kappa = NoisePrior(), 5, 3.0
    post, basis, tau = surrogate_task.fit_correction(X, log_nu, law, kappa, width, noise, 0)
    evidences = {}
    for t in surrogate_task.TAU_GRID:
        monkeypatch.setattr(surrogate_task, "TAU_GRID", np.array([t]))
        one = surrogate_task.fit_correction(X, log_nu, law, kappa, width, noise, 0)[0]
        evidences[float(t)] = one.log_evidence
    monkeypatch.undo()
    assert tau == max(evidences, key=evidences.get)
    assert post.log_evidence == pytest.approx(max(evidences.values()))
    assert len(set(np.round(list(evidences.values()), 6))) > 1  # the grid's fits differ: the choice matters
    p = X.shape[1]
    cov = np.zeros((p + width, p + width))
    cov[:p, :p] = kappa * law.cov
    cov[p:, p:] = np.eye(width) * tau**2 / width
    joint = GaussianPrior(
        names + [f"w{j}" for j in range(width)], np.concatenate([law.mean, np.zeros(width)]), cov
    )
    by_hand = fit(np.hstack([X, basis.features(X)]), log_nu, joint, noise, kappa=1.0)
    np.testing.assert_allclose(post.mean, by_hand.mean, rtol=1e-8, atol=1e-10)
    # a law block held at kappa 1 is another posterior: the check above sees kappa
    assert not np.allclose(
        post.mean, surrogate_task.fit_correction(X, log_nu, law, 1.0, width, noise, 0)[0].mean, rtol=1e-4
    )


def test_a_correction_on_a_mixture_prior_rides_on_the_most_probable_family(tmp_path, csv, monkeypatch):
    """With the mixture prior and a blend whose heavier member is the prior-informed fit, the
    correction is refitted on the component of the family with the highest posterior weight (the
    weights law.json records), as transfer_prior makes it; and the report says the library's
    recalibration, learnt for the law alone, is not applied to it."""
    import sciPT.tasks.surrogate as surrogate_task
    from sciPT.domains.surrogates.calibrate import transfer_prior
    from sciPT.tasks.surrogate import resolve_prior

    rng = np.random.default_rng(7)
    re = np.geomspace(1e4, 1e5, 8)
    nu = 0.023 * re**0.8 * 0.7**0.4 * np.exp(0.06 * rng.standard_normal(8))
    path = csv("db.csv", ["Re,Pr,Nu"] + [f"{r:.1f},0.7,{n:.4f}" for r, n in zip(re, nu)])
    bases = []
    fit_correction = surrogate_task.fit_correction

    def spy(X, y, base, *args):
        bases.append(base)
        return fit_correction(X, y, base, *args)

    monkeypatch.setattr(surrogate_task, "fit_correction", spy)
    out = tmp_path / "corrected"
    task.finetune(finetune_args("--train", str(path), "--out", str(out), "--correction", "4"))
    assert RunDir(out).read_metrics()["kept_prior"] >= 0.5  # the prior-informed member the heavier
    weights = json.loads((out / "law.json").read_text())["family_weights"]
    prior, _ = resolve_prior("all", [], form="mixture")
    families = list(weights)
    assert len(set(weights.values())) == len(weights)  # one family the most probable, one the least
    heaviest = prior.components[families.index(max(weights, key=weights.get))]
    want = transfer_prior(heaviest, "exponents")
    (base,) = bases
    np.testing.assert_allclose(base.mean, want.mean)
    np.testing.assert_allclose(base.cov, want.cov)
    assert (
        "learnt for the law alone, so not applied with a correction: the predictive's own central interval"
        in RunDir(out).report.read_text()
    )


def test_the_recalibration_is_learnt_with_the_noise_prior_asked_for(tmp_path, csv, monkeypatch):
    """--noise-sd and --noise-dof set the noise hyperprior of the fits the library recalibration is
    learnt on, not only of the calibration (maps for another noise prior misstate the coverage)."""
    import sciPT.tasks.surrogate as surrogate_task

    class Asked(Exception):
        pass

    def for_library(lib, form, transfer, noise=None):
        raise Asked(form, transfer, noise)

    monkeypatch.setattr(surrogate_task, "for_library", for_library)
    out = tmp_path / "never"
    argv = [
        "--train",
        str(csv("t.csv", RIBBED[:4])),
        "--out",
        str(out),
        "--noise-sd",
        "0.1",
        "--noise-dof",
        "3",
    ]
    with pytest.raises(Asked) as asked:
        task.finetune(finetune_args(*argv, "--init", "none"))
    form, transfer, noise = asked.value.args
    # without a prior, only scratch maps: no prior form to learn them for
    assert form is None and transfer == "exponents" and (noise.s0, noise.nu0) == (0.1, 3.0)
    with pytest.raises(Asked) as asked:
        task.finetune(finetune_args(*argv, "--prior-form", "gaussian"))
    form, transfer, noise = asked.value.args
    assert form == "gaussian" and (noise.s0, noise.nu0) == (0.1, 3.0)
    assert not out.exists()


def test_a_relative_train_path_is_recorded_absolute(tmp_path, csv, monkeypatch):
    """config.yaml is rerun with --config from anywhere (a SLURM job's directory): the points file
    it names is recorded as an absolute path."""
    csv("t.csv", RIBBED[:4])
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    task.finetune(
        finetune_args("--train", "t.csv", "--out", str(out), "--init", "none", "--recalibrate", "false")
    )
    assert yaml.safe_load((out / "config.yaml").read_text())["data"]["train"] == str(tmp_path / "t.csv")


def test_a_run_as_init_is_recorded_by_absolute_path_and_replayed_from_elsewhere(tmp_path, csv, monkeypatch):
    """``--init base`` was recorded as ``base``: config.yaml replayed from another directory read
    whatever run of that name lay there. A library name stays a name, even beside a folder of
    that name."""
    plain = ("--recalibrate", "false")
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()
    monkeypatch.chdir(here)
    csv("t.csv", RIBBED[:3])
    csv("u.csv", ["Re,Pr,Nu,e_Dh", "60000,0.7,390,0.1", "100000,0.7,540,0.1"])
    task.finetune(
        finetune_args("--train", str(tmp_path / "t.csv"), "--out", "base", "--init", "none", *plain)
    )
    task.finetune(
        finetune_args("--train", str(tmp_path / "u.csv"), "--out", "chain", "--init", "base", *plain)
    )
    config = yaml.safe_load((here / "chain" / "config.yaml").read_text())
    assert config["init"] == str(here / "base")
    # another run named base where the replay runs, calibrated on other points
    monkeypatch.chdir(there)
    other = csv("o.csv", ["Re,Pr,Nu,e_Dh", "20000,0.7,100,0.1", "35000,0.7,300,0.1"])
    task.finetune(finetune_args("--train", str(other), "--out", "base", "--init", "none", *plain))
    task.finetune(finetune_args("--config", str(here / "chain" / "config.yaml"), "--out", "again"))
    assert (there / "again" / "law.json").read_text() == (here / "chain" / "law.json").read_text()
    (there / "all").mkdir()
    task.finetune(finetune_args("--train", str(tmp_path / "t.csv"), "--out", "lib", "--init", "all", *plain))
    assert yaml.safe_load((there / "lib" / "config.yaml").read_text())["init"] == "all"


def test_the_calibrated_interval_level_is_predicts_default(tmp_path, csv):
    """--interval-level 0.8 at calibration: exported with the model, and predict without the flag
    writes the 80 % interval."""
    out = tmp_path / "run"
    train = csv("t.csv", RIBBED[:4])
    task.finetune(finetune_args("--train", str(train), "--out", str(out), "--interval-level", "0.8"))
    assert json.loads((out / "model" / "config.json").read_text())["interval_level"] == 0.8
    pred = tmp_path / "pred.csv"
    task.predict(RunDir(out), side_args("add_predict_arguments", input=str(train), output=str(pred)))
    assert pred.read_text().splitlines()[0] == (
        "Re,Pr,Nu,e_Dh,Nu_pred,Nu_median,Nu_lo_0.8,Nu_hi_0.8,in_calibration_range"
    )


def test_a_level_beyond_the_recalibration_map_is_refused_where_the_map_sets_the_interval(
    calibrated, csv, tmp_path
):
    """The map covers 0.01 to 0.99: predict on a recalibrated run refuses 0.999 (it got the 0.99
    interval in silence); a run calibrated with --recalibrate false gives 0.999 its own interval,
    wider than its 0.99 one, and writes the level with its digits (not 100%)."""
    points = csv("p.csv", ["Re,Pr,e_Dh", "50000,0.7,0.1"])
    with pytest.raises(ConfigError) as err:
        task.predict(
            RunDir(calibrated),
            side_args(
                "add_predict_arguments",
                input=str(points),
                output=str(tmp_path / "p.out"),
                interval_level=0.999,
            ),
        )
    assert str(err.value) == (
        "--interval-level: expected a level from 0.01 to 0.99, the levels the interval recalibration "
        "maps, got 0.999; other levels need a run calibrated with --recalibrate false"
    )
    plain = tmp_path / "plain"
    train = csv("t.csv", RIBBED[:4])
    argv = ["--train", str(train), "--out", str(plain), "--recalibrate", "false", "--interval-level", "0.999"]
    task.finetune(finetune_args(*argv))
    assert RunDir(plain).read_metrics()["interval_nominal_level"] == 0.999
    assert (
        "Intervals: meant to hold 99.9% of new points; the central 99.9% of"
        in (plain / "report.md").read_text()
    )
    widths = {}
    for level in (0.999, 0.99):
        out = tmp_path / f"p{level}.csv"
        task.predict(
            RunDir(plain),
            side_args("add_predict_arguments", input=str(points), output=str(out), interval_level=level),
        )
        header, row = out.read_text().splitlines()
        assert header == f"Re,Pr,e_Dh,Nu_pred,Nu_median,Nu_lo_{level},Nu_hi_{level},in_calibration_range"
        lo, hi = (float(v) for v in row.split(",")[5:7])
        widths[level] = hi / lo
    assert widths[0.999] > widths[0.99] * 1.1


# --- a third mutation pass over tasks/surrogate.py ---------------------------------------------------
def test_a_library_prior_of_two_families_is_recalibrated_and_one_of_one_family_is_not(monkeypatch):
    """The library recalibration holds one family out at a time: ``smooth`` (flat-plate and
    smooth-pipe) has two, so it is learnt on that library; ``flat-plate`` alone has none to hold
    out, and the report says so; ``--init none`` learns scratch maps (no prior form) on the whole
    library (``small``, every system)."""
    from types import SimpleNamespace

    import sciPT.tasks.surrogate as surrogate_task
    from sciPT.domains.surrogates.objectives import NoisePrior
    from sciPT.tasks.surrogate import SurrogateConfig, interval_recalibration

    asked = []
    learnt = SimpleNamespace(protocol="held out by family")

    def for_library(lib, form, transfer, noise):
        asked.append((lib, form))
        return learnt

    monkeypatch.setattr(surrogate_task, "for_library", for_library)
    noise = NoisePrior(0.05, 2.0)
    two = SurrogateConfig(init="smooth", prior_form="mixture")
    assert interval_recalibration(two, {}, "exponents", noise) == (learnt, "held out by family")
    assert asked == [(presets.smooth(), "mixture")]
    one = SurrogateConfig(init="flat-plate", prior_form="gaussian")
    assert interval_recalibration(one, {}, "exponents", noise) == (
        None,
        "the 'flat-plate' prior holds one family, so none can be held out to learn a recalibration: the "
        "predictive's own central interval",
    )
    assert len(asked) == 1  # nothing learnt for it
    scratch = SurrogateConfig(init="none", prior_form="mixture")
    assert interval_recalibration(scratch, {}, "exponents", noise) == (learnt, "held out by family")
    assert asked[1] == (presets.small(), None)


def test_the_correction_s_features_are_drawn_from_the_seed_and_the_default_is_0(tmp_path, csv):
    """--seed seeds the correction's random features: a run without it is the run with --seed 0
    (every task's default seed), and another seed draws other features, so another law."""
    rows = ["Re,Pr,Nu"] + [f"{re:g},0.7,{0.02 * re**0.8:.4g}" for re in np.geomspace(1e4, 6.4e5, 7)]
    train = str(csv("seven.csv", rows))
    laws = {}
    for seed in (None, "0", "1"):
        out = tmp_path / f"seed{seed}"
        flags = [] if seed is None else ["--seed", seed]
        argv = ["--train", train, "--out", str(out), "--init", "none", "--recalibrate", "false"]
        task.finetune(finetune_args(*argv, "--correction", "4", *flags))
        laws[seed] = json.loads((out / "law.json").read_text())
    assert laws[None] == laws["0"]
    assert laws["1"]["log_C"] != laws["0"]["log_C"]


def test_groups_typed_with_spaces_after_the_commas_are_read_as_the_names(tmp_path, csv):
    """``--groups "e_Dh, pr"`` is split at the comma into ``e_Dh`` and `` pr``: the space does not
    hide that Pr is in every law, and ``--groups " none "`` is no ratio, as ``none`` is."""
    out = tmp_path / "never"
    train = csv("t.csv", RIBBED[:4])
    with pytest.raises(ConfigError) as err:
        task.finetune(finetune_args("--train", str(train), "--out", str(out), "--groups", "e_Dh, pr"))
    assert str(err.value) == (
        "--groups: ' pr' is Pr, which every law has (Nu = C Re^a Pr^b ...); expected geometric-ratio "
        "columns only, or none"
    )
    assert not out.exists()
    log = csv("log.csv", ["run,Re,Pr,Nu", "1,20000,0.7,190", "2,35000,0.7,270", "3,60000,0.7,390"])
    argv = ["--train", str(log), "--out", str(out), "--init", "none", "--recalibrate", "false"]
    task.finetune(finetune_args(*argv, "--groups", " none "))
    assert json.loads((out / "law.json").read_text())["valid_for"].keys() == {"Re", "Pr"}


def test_the_law_goes_to_standard_output_and_the_rest_to_standard_error(tmp_path, csv, capsys):
    """The kept law is the one line a script captures (``LAW=$(scipt finetune surrogate ...)``):
    it alone is on standard output; warnings and where the run was written are on standard error."""
    out = tmp_path / "run"
    argv = ["--train", str(csv("t.csv", RIBBED[:4])), "--out", str(out), "--init", "none"]
    task.finetune(finetune_args(*argv, "--recalibrate", "false"))
    law = json.loads((out / "law.json").read_text())
    said = capsys.readouterr()
    assert said.out == f"{law['law']}   (kept: the scratch fit)\n"  # no prior: scratch is all there is
    assert said.err.startswith("warning: 3 point(s) and no prior: ")
    assert said.err.endswith(f"\nrun written to {out}\n")


def test_the_run_records_the_points_file_it_was_calibrated_on_and_its_hash(tmp_path, csv):
    """model/config.json's ``calibrated_on``: the points file's path as given (absolute here) and
    the SHA-256 of its bytes, which tells an edited file from the one calibrated on."""
    import hashlib

    train = csv("t.csv", RIBBED[:4])
    out = tmp_path / "run"
    task.finetune(
        finetune_args("--train", str(train), "--out", str(out), "--init", "none", "--recalibrate", "false")
    )
    recorded = json.loads((out / "model" / "config.json").read_text())["calibrated_on"]
    assert recorded == {"path": str(train), "sha256": hashlib.sha256(train.read_bytes()).hexdigest()}


def test_a_relative_train_path_is_recorded_absolute_as_the_file_calibrated_on(tmp_path, csv, monkeypatch):
    """config.yaml names the points file by absolute path (rerun from anywhere); model/config.json's
    ``calibrated_on``, which a later ``--init RUN`` names in its report ("the posterior of a
    calibration on ..."), should name the same file, not ``t.csv`` relative to a directory the
    later run does not know."""
    csv("t.csv", RIBBED[:4])
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    task.finetune(
        finetune_args("--train", "t.csv", "--out", str(out), "--init", "none", "--recalibrate", "false")
    )
    recorded = json.loads((out / "model" / "config.json").read_text())["calibrated_on"]["path"]
    assert recorded == yaml.safe_load((out / "config.yaml").read_text())["data"]["train"]


def test_a_library_prior_is_described_by_its_systems_and_their_sources():
    """resolve_prior's facts about a library prior (``--init smooth-pipe``), which the report's
    "What the prior was learnt from" is written from: one fitted system per smooth-pipe correlation,
    each with its source and its validity box."""
    from sciPT.domains.surrogates.correlations import select
    from sciPT.tasks.surrogate import resolve_prior

    keys = [c.key for c in select(presets.smooth_pipe().systems)]
    _, info = resolve_prior("smooth-pipe", [], form="gaussian")
    assert info["init"] == "smooth-pipe" and info["systems"] == len(keys) > 1
    assert [s["key"] for s in info["sources"]] == keys
    assert len(info["boxes"]) == len(keys)


def test_only_a_mixture_asked_of_a_run_is_said_and_init_none_keeps_the_form_asked(capsys):
    """prior_form_used: a run as ``--init`` is the Gaussian it stores, and only a mixture asked of it
    is said on standard error (nothing asked, or gaussian, is what is used); ``--init none`` is no
    run: the form asked is recorded as asked, without the note about a run."""
    from sciPT.tasks.surrogate import SurrogateConfig, prior_form_used

    for asked in (None, "gaussian"):
        assert prior_form_used(SurrogateConfig(init="runs/prior", prior_form=asked)) == "gaussian"
        assert capsys.readouterr().err == ""
    assert prior_form_used(SurrogateConfig(init="runs/prior", prior_form="mixture")) == "gaussian"
    assert capsys.readouterr().err.startswith("note: prior_form mixture: --init runs/prior is a run, ")
    assert prior_form_used(SurrogateConfig(init="none", prior_form="mixture")) == "mixture"
    assert prior_form_used(SurrogateConfig(init="none", prior_form=None)) == "mixture"  # the default
    assert capsys.readouterr().err == ""


def test_law_json_gives_the_noise_as_the_standard_deviation_metrics_json_gives(tmp_path, csv):
    """law.json's ``log_nu_noise_sd`` is the kept fit's noise as a standard deviation of log Nu, the
    number metrics.json gives as ``noise_sd_log_nu`` (held there as an sd, not a variance)."""
    out = tmp_path / "run"
    argv = ["--train", str(csv("t.csv", RIBBED[:4])), "--out", str(out), "--init", "none"]
    task.finetune(finetune_args(*argv, "--recalibrate", "false"))
    law = json.loads((out / "law.json").read_text())
    assert law["log_nu_noise_sd"] == pytest.approx(RunDir(out).read_metrics()["noise_sd_log_nu"], rel=1e-12)
