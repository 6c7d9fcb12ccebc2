"""What a surrogate calibration says about itself, built from hand-made fits (tasks/surrogate_report.py)."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sciPT.domains.surrogates.calibrate import Calibration, GuardResult
from sciPT.domains.surrogates.data import Points, unexplained_fraction
from sciPT.domains.surrogates.objectives import GaussianPrior, Posterior
from sciPT.tasks.surrogate_report import fit_metrics, fit_row, input_warnings, report

NAMES = ["log_C", "Re", "Pr"]


def points(re, pr, nu=None, **groups):
    re = np.asarray(re, float)
    nu = 0.3 * re**0.6 if nu is None else np.asarray(nu, float)
    lines = np.arange(2, len(re) + 2)
    groups = {g: np.asarray(v, float) for g, v in groups.items()}
    return Points(re, np.broadcast_to(np.asarray(pr, float), re.shape).copy(), nu, groups, "t.csv", lines)


def posterior(theta, sd, noise=0.05, kappa=float("nan"), n=3):
    """A one-component posterior with mean ``theta`` and independent sds ``sd``."""
    theta = np.asarray(theta, float)
    cov = np.diag(np.asarray(sd, float) ** 2)
    return Posterior(
        list(NAMES), np.array([noise]), np.array([1.0]), theta[None], cov[None], kappa=kappa, n=n
    )


def test_a_fit_row_gives_each_exponent_its_own_sd_and_the_training_mape():
    """The row of the "Both fits" table: each exponent with its own sd (not its neighbour's), the
    noise, the width factor and the MAPE of Nu in per cent. The fit misses log Nu by -0.1 and +0.1:
    MAPE (|e^-0.1 - 1| + |e^0.1 - 1|) / 2 = 10.02 %, where the RMSE of log Nu would read 0.10."""
    post = posterior([np.log(0.3), 0.6, 0.4], [0.1, 0.02, 0.03], noise=0.05, kappa=1.5)
    X = np.array([[1.0, np.log(2e4), np.log(0.7)], [1.0, np.log(5e4), np.log(0.7)]])
    y = post.predict(X) + np.array([0.1, -0.1])
    assert fit_row("scratch", post, NAMES, X, y) == (
        "| scratch | `Nu = 0.3 Re^0.6 Pr^0.4` | Re 0.600 ± 0.020, Pr 0.400 ± 0.030 | 0.050 | 1.5 | 10.02 |"
    )
    assert fit_row("prior-informed", None, NAMES, X, y) == "| prior-informed | (no prior) | | | | |"


def test_fit_metrics_give_the_prior_width_factor_only_where_the_prior_fit_has_one():
    """``prior_width_factor`` is the prior-informed fit's most probable width; a fit without one
    (nan) or no prior-informed fit leaves the key out rather than writing a number."""
    chosen = SimpleNamespace(mean=np.array([0.0, 0.8, 0.4]), noise_sd=0.1, predict=lambda design: np.zeros(2))
    guard = SimpleNamespace(prior_weight=1.0, elpd={}, loo_rmse={}, log_evidence={})
    X, y = np.ones((2, 3)), np.zeros(2)
    with_width = SimpleNamespace(guard=guard, prior_fit=SimpleNamespace(kappa=2.5))
    assert fit_metrics(with_width, X, y, chosen, None, 0.9)["prior_width_factor"] == 2.5
    without = SimpleNamespace(guard=guard, prior_fit=SimpleNamespace(kappa=float("nan")))
    assert "prior_width_factor" not in fit_metrics(without, X, y, chosen, None, 0.9)


def _report(pts, cal, prior=None, info=None):
    """``report.md`` of ``cal`` on ``pts`` with everything else minimal."""
    info = info or {"init": "none", "boxes": []}
    return report(
        cfg=SimpleNamespace(correction=0, data=SimpleNamespace(train="t.csv")),
        transfer="exponents",
        points=pts,
        names=NAMES,
        groups=[],
        fixed_groups={},
        prior=prior,
        info=info,
        cal=cal,
        chosen=cal.chosen,
        law={"law": "Nu = 0.3 Re^0.6 Pr^0.4", "python": "lambda Re, Pr: 0.3 * Re**0.6 * Pr**0.4"},
        metrics={},
        warnings=[],
        figure=Path("calibration.png"),
        level=0.9,
        tau=None,
        recal_note="none",
    )


def _loo_calibration(n):
    guard = GuardResult(
        "prior",
        "reason",
        elpd={"prior": 4.25, "scratch": -1.5},
        loo_rmse={"prior": 0.0123, "scratch": 0.0456},
        rule="loo",
    )
    fit = posterior([np.log(0.3), 0.6, 0.4], [0.1, 0.02, 0.03], n=n)
    return Calibration(fit, posterior([np.log(0.3), 0.6, 0.4], [0.1, 0.02, 0.3], n=n), guard)


def test_the_report_tables_each_fits_held_out_elpd_and_rmse():
    """The leave-one-out table: ELPD and RMSE of log Nu on each fit's own row, and its heading says
    leave-one-out up to 100 points, ten folds above (as the guard did)."""
    pts = points(np.geomspace(2e4, 1e5, 3), 0.7)
    text = _report(pts, _loo_calibration(100))
    assert "| prior | 4.250 | 0.0123 |\n| scratch | -1.500 | 0.0456 |" in text
    assert "\nLeave-one-out (each point predicted from the others, the whole procedure re-run):\n" in text
    text = _report(pts, _loo_calibration(101))
    assert "Leave-one-out (each" not in text
    assert (
        "10-fold cross-validation (each point predicted by the whole procedure re-run without its fold; "
        "over 100 points, in place of leave-one-out):"
    ) in text


def test_the_report_counts_the_points_inside_a_validity_range_and_gives_the_family_weights():
    """Two of three points lie in the one pre-training box (Re 1e4 to 5e4 at Pr 0.5 to 1): the
    report says 2 of 3, not the 1 outside; the mixture's family weights are given to two decimals."""
    pts = points([2e4, 4e4, 9e4], 0.7)
    prior = GaussianPrior(NAMES, [np.log(0.02), 0.8, 0.4], np.diag([0.04, 0.01, 0.01]))
    fit = posterior([np.log(0.3), 0.6, 0.4], [0.1, 0.02, 0.03])
    cal = Calibration(fit, fit, GuardResult("prior", "reason"), {"smooth-pipe": 0.734, "rough-pipe": 0.266})
    info = {"init": "all", "boxes": [{"re": [1e4, 5e4], "pr": [0.5, 1.0]}], "systems": 1, "sources": []}
    text = _report(pts, cal, prior, info)
    assert "- inside the validity range of at least one pre-training system: 2 of 3\n" in text
    assert "equal before them): smooth-pipe 0.73, rough-pipe 0.27.\n" in text


def test_a_warning_names_the_lines_of_the_points_outside_every_validity_range():
    """Only the point outside the box (line 4, Re 9e4) is named: the user checks those lines."""
    pts = points([2e4, 4e4, 9e4], 0.7)
    X = pts.features()
    warnings = input_warnings(pts, X, NAMES, None, {"boxes": [{"re": [1e4, 5e4], "pr": [0.5, 1.0]}]})
    assert "1 point(s) outside every pre-training validity range (lines 4)" in warnings


def test_with_no_point_to_spare_a_varying_pr_is_not_called_lock_step():
    """Two points at two Re and two Pr: scratch frees log C and a, and holds b for want of a third
    point, not because Pr follows Re; the no-prior warning says what is held, and nothing more."""
    pts = points([2e4, 5e4], [0.7, 3.0])
    X = pts.features()
    warnings = input_warnings(pts, X, NAMES, None, {"boxes": []})
    assert warnings == [
        "2 point(s) and no prior: only log_C, Re fitted; Pr held at the Dittus-Boelter values "
        "(Pr = 0.4 ± 0.3; the intervals widen by that uncertainty away from the points)"
    ]


def test_without_a_prior_the_warning_counts_the_points_not_the_fitted_parameters():
    """Three points at one Pr: log C and a fitted, b held; the warning counts 3 points."""
    pts = points([2e4, 5e4, 1e5], 0.7)
    X = pts.features()
    assert input_warnings(pts, X, NAMES, None, {"boxes": []}) == [
        "3 point(s) and no prior: only log_C, Re fitted; Pr held at the Dittus-Boelter values "
        "(Pr = 0.4 ± 0.3; the intervals widen by that uncertainty away from the points)"
    ]


def test_a_ratio_in_lock_step_with_re_and_pr_is_said_with_its_reference_width():
    """A rib height scaled with both Re and Pr over the series: the ratio's exponent cannot be told
    apart from theirs; the warning names both ("they leave") and the held value 0 ± 0.5 that
    scratch gives a ratio (not Re's or Pr's 0.3)."""
    re = np.array([2e4, 3e4, 5e4, 7e4, 1e5, 1.5e5])
    pr = np.array([0.7, 3.0, 1.5, 7.0, 0.9, 4.0])
    e = np.array([float(f"{v:.4g}") for v in 1e-3 * re**0.3 * pr**-0.2])  # typed to 4 digits
    pts = points(re, pr, e_Dh=e)
    names = [*NAMES, "e_Dh"]
    X = pts.features(["e_Dh"])
    left = unexplained_fraction(X[:, :3], X[:, 3])
    assert 0 < left < 1e-3
    prior = GaussianPrior(names, [np.log(0.02), 0.8, 0.4, 0.0], np.diag([0.04, 0.01, 0.01, 0.25]))
    warnings = input_warnings(pts, X, names, prior, {"boxes": []})
    assert warnings == [
        f"e_Dh varies in lock-step with Re, Pr over the 6 points (what they leave of log e_Dh is "
        f"{left:.1g} of its spread): the law cannot tell their exponents apart, so e_Dh's is not "
        "learnt from them; scratch holds it at 0 ± 0.5, the prior-informed fit takes it from the "
        "prior; predictions off that line rest on that (measure at other combinations to learn it)"
    ]


@pytest.mark.parametrize(
    "w, words", [(0.3, "(0.30) and scratch (0.70)"), (0.75, "(0.75) and scratch (0.25)")]
)
def test_kept_words_give_the_prior_informed_share_first(w, words):
    """The Result line: the prior-informed fit's weight, then scratch's."""
    from sciPT.tasks.surrogate_report import kept_words

    cal = SimpleNamespace(guard=GuardResult("blend", "", prior_weight=w))
    assert kept_words(cal) == f"the mixture of the prior-informed {words} fits"


def test_kept_words_name_the_fit_a_hard_guard_kept():
    """A hard rule's choice, in the Result line and on standard output: the fit it kept, by name."""
    from sciPT.tasks.surrogate_report import kept_words

    assert kept_words(SimpleNamespace(guard=GuardResult("prior", ""))) == "the prior-informed fit"
    assert kept_words(SimpleNamespace(guard=GuardResult("scratch", ""))) == "the scratch fit"
