"""Points that lie on a library correlation are found (domains/surrogates/contamination.py)."""

import argparse
import json
import math

import numpy as np
import pytest

from sciPT.domains.surrogates import contamination, domain
from sciPT.domains.surrogates.contamination import (
    ON_LIBRARY_RTOL,
    library_matches,
    library_system,
    points_on_library,
    recorded_systems,
)
from sciPT.domains.surrogates.correlations import CORRELATIONS, select
from sciPT.domains.surrogates.correlations.base import Correlation
from sciPT.domains.surrogates.presets import SurrogatePretrainConfig
from sciPT.run import RunDir

ALL = [c.key for c in CORRELATIONS if not c.rough]


def dittus_boelter(re, pr):
    return 0.023 * np.asarray(re, float) ** 0.8 * np.asarray(pr, float) ** 0.4


def test_points_on_a_system_are_counted_and_named():
    re, pr = np.array([1e4, 3e4, 2e5]), np.array([0.7, 0.7, 5.0])
    (match,) = library_matches(re, pr, dittus_boelter(re, pr), ALL)
    assert (match.system, match.points, match.total) == ("dittus-boelter-heating", 3, 3)
    assert list(match.lines) == [1, 2, 3] and points_on_library([match]) == 3
    assert match.sentence() == (
        "3 of 3 points lie on library system dittus-boelter-heating (within 1%): they are not held out "
        "from the prior; the prior-informed model has seen this law"
    )


def test_the_tolerance_and_the_share():
    re, pr = np.array([1e4, 3e4, 1e5]), np.array([0.7, 0.7, 0.7])
    nu = dittus_boelter(re, pr)
    inside, outside = 1 + 0.9 * ON_LIBRARY_RTOL, 1 + 1.1 * ON_LIBRARY_RTOL
    assert library_matches(re, pr, nu * inside, ALL)[0].points == 3
    assert library_matches(re, pr, nu * outside, ALL) == []
    # more than half: two of three are reported, with their lines; one of three is not
    (two,) = library_matches(re, pr, nu * [1, 1.1, 1], ALL, lines=np.array([2, 3, 4]))
    assert (two.points, two.total, list(two.lines)) == (2, 3, [2, 4])
    assert library_matches(re, pr, nu * [1, 1.1, 1.2], ALL) == []
    # half of an even count is not more than half
    assert library_matches(re[:2], pr[:2], nu[:2] * [1, 1.1], ALL) == []
    assert points_on_library([]) == 0


def test_only_points_inside_a_systems_validity_range_are_compared():
    # Dittus-Boelter's form below its range (Re < 1e4): the prior never saw the law there
    re, pr = np.array([3e3, 5e3]), np.array([0.7, 0.7])
    assert library_matches(re, pr, dittus_boelter(re, pr), ["dittus-boelter-heating"]) == []


def test_a_rough_system_is_evaluated_at_its_own_roughness_and_unknown_keys_are_skipped():
    (gowen,) = select(["gowen-smith"])
    re, pr = np.array([1.2e4, 2e4, 4e4]), np.array([0.7, 2.0, 7.0])
    nu = gowen(re, pr, 0.005)
    keys = [
        "gowen-smith@e/D=0.01",
        "gowen-smith@e/D=0.005",
        "no-such-law",
        "taslim-spring-1987",
        "gowen-smith",
    ]
    (match,) = library_matches(re, pr, nu, keys)
    assert match.system == "gowen-smith@e/D=0.005" and match.points == 3
    assert library_system("gowen-smith") is None and library_system("no-such-law") is None
    assert library_system("gowen-smith@e/D=0.005") == (gowen, 0.005)


def test_at_pr_1_every_system_the_points_lie_on_is_listed():
    re, pr = np.array([1e4, 5e4]), np.array([1.0, 1.0])
    found = library_matches(re, pr, dittus_boelter(re, pr), ALL)
    assert {m.system for m in found} == {"dittus-boelter-heating", "dittus-boelter-cooling", "colburn"}


def test_recorded_systems_are_the_keys_of_the_validity_boxes():
    boxes = [{"key": "colburn", "re": [1e4, 1e5]}, {"key": "colburn"}, {"re": [1, 2]}, "x"]
    assert recorded_systems(boxes) == ["colburn"] and recorded_systems(None) == []


def test_evaluating_a_pretraining_run_flags_points_on_its_library(tmp_path, capsys):
    """A prior alone (scipt pretrain surrogates) checks its evaluation points against the systems
    it was learnt on, and only those."""
    run = tmp_path / "prior"
    domain.pretrain(SurrogatePretrainConfig(systems=["smooth-pipe"], points_per_system=20), run)
    re, pr = np.array([2e4, 6e4, 2e5]), np.array([0.7, 3.0, 7.0])
    held = tmp_path / "held.csv"
    held.write_text(
        "Re,Pr,Nu\n" + "".join(f"{r:g},{p:g},{n:.4f}\n" for r, p, n in zip(re, pr, dittus_boelter(re, pr)))
    )
    args = argparse.Namespace(data=str(held), interval_level=None, out=None)
    metrics = domain.evaluate(RunDir(run), args)
    assert metrics["eval_points_on_library_system"] == 3
    said = "3 of 3 points lie on library system dittus-boelter-heating (within 1%)"
    assert said in capsys.readouterr().err
    assert f"Contamination: {said}" in (run / "evaluations/held/report.md").read_text()
    # the flat-plate library this prior was not learnt on is not checked: a flat plate's law is no leak
    plate = tmp_path / "plate.csv"
    re = np.array([1e6, 3e6, 1e7])
    plate.write_text("Re,Pr,Nu\n" + "".join(f"{r:g},0.7,{0.037 * r**0.8 * 0.7 ** (1 / 3):.4f}\n" for r in re))
    metrics = domain.evaluate(RunDir(run), argparse.Namespace(data=str(plate), interval_level=None, out=None))
    assert metrics["eval_points_on_library_system"] == 0
    assert "library system" not in capsys.readouterr().err
    assert (
        json.loads((run / "evaluations/plate/metrics.json").read_text())["eval_points_on_library_system"] == 0
    )


@pytest.mark.parametrize("key", [c.key for c in CORRELATIONS])
def test_every_system_is_found_on_its_own_points(key):
    """Each correlation of the library, evaluated at points inside its range, is recognised."""
    (corr,) = select([key])
    ed = corr.ed_range[0] * 2 if corr.rough else None
    (lo_re, hi_re), (lo_pr, hi_pr) = corr.re_range, corr.pr_range
    re = np.geomspace(lo_re, hi_re, 4)
    pr = np.geomspace(lo_pr, min(hi_pr, 100.0), 4)
    nu = corr(re, pr, ed) if corr.rough else corr(re, pr)
    system = key if ed is None else f"{key}@e/D={ed:g}"
    found = library_matches(re, pr, nu, [system])
    assert [(m.system, m.points) for m in found] == [(system, 4)]


def test_the_metric_counts_points_not_systems_when_several_match():
    """points_on_library is the number of points on the system with the most: two points at Pr = 1
    lie on three systems at once, and the metric is 2, not 6."""
    re, pr = np.array([1e4, 5e4]), np.array([1.0, 1.0])
    found = library_matches(re, pr, dittus_boelter(re, pr), ALL)
    assert len(found) == 3 and [m.points for m in found] == [2, 2, 2]
    assert points_on_library(found) == 2


def test_a_point_outside_a_systems_range_counts_in_the_total_and_the_sentence():
    """The sentence says how many of the file's points lie on the law: a point outside the law's
    range is one of the file's points, not on it (2 of 3, not 2 of 2, which reads as the whole file)."""
    re, pr = np.array([5e3, 2e4, 6e4]), np.array([0.7, 0.7, 0.7])  # Re 5e3 below Dittus-Boelter's 1e4
    (match,) = library_matches(re, pr, dittus_boelter(re, pr), ["dittus-boelter-heating"])
    assert (match.points, match.total, list(match.lines)) == (2, 3, [2, 3])
    assert match.sentence() == (
        "2 of 3 points lie on library system dittus-boelter-heating (within 1%): they are not held out "
        "from the prior; the prior-informed model has seen this law"
    )


def test_a_prandtl_number_outside_a_systems_range_is_not_compared():
    """Dittus-Boelter's form evaluated at Pr 0.3 (its range starts at 0.6): the prior never saw the
    law there, so points computed from the form there are no leak."""
    re, pr = np.array([2e4, 5e4, 1e5]), np.array([0.3, 0.3, 0.3])
    assert library_matches(re, pr, dittus_boelter(re, pr), ["dittus-boelter-heating"]) == []


def test_the_tolerance_is_relative_to_the_systems_nusselt_number():
    """The rule is |Nu - Nu_system| <= 1 % of Nu_system: 0.995 % below the law is on it (relative
    to the point's own Nu, 1 % of 0.99 Nu_system, it would not be)."""
    re, pr = np.array([2e4, 5e4, 1e5]), np.array([0.7, 0.7, 0.7])
    nu = dittus_boelter(re, pr) * (1 - 0.995 * ON_LIBRARY_RTOL)
    (match,) = library_matches(re, pr, nu, ["dittus-boelter-heating"])
    assert match.points == 3


def test_more_than_half_of_five_points_is_three():
    """The share is more than half: three of five points on one law are reported, two are not."""
    re, pr = np.geomspace(2e4, 2e5, 5), np.full(5, 0.7)
    nu = dittus_boelter(re, pr)
    (match,) = library_matches(re, pr, nu * [1, 1.1, 1, 1.1, 1], ["dittus-boelter-heating"])
    assert (match.points, match.total, list(match.lines)) == (3, 5, [1, 3, 5])
    assert library_matches(re, pr, nu * [1, 1.1, 1, 1.1, 1.1], ["dittus-boelter-heating"]) == []


def test_the_system_with_the_most_points_is_listed_first():
    """The report and the warning list the system holding the most points first, whatever the order
    the run recorded its systems in: three points at Pr 1 lie on Colburn and Dittus-Boelter, a fourth
    at Pr 5 (outside Colburn's range) on Dittus-Boelter only."""
    re, pr = np.array([1e4, 2e4, 5e4, 3e4]), np.array([1.0, 1.0, 1.0, 5.0])
    found = library_matches(re, pr, dittus_boelter(re, pr), ["colburn", "dittus-boelter-heating"])
    assert [(m.system, m.points, m.total) for m in found] == [
        ("dittus-boelter-heating", 4, 4),
        ("colburn", 3, 4),
    ]


def test_a_point_at_a_range_bound_up_to_rounding_is_inside():
    """The validity bounds are inclusive up to rounding (a bound stored as the run wrote it against a
    point typed at it): Re one part in 1e12 below Dittus-Boelter's 1e4 and above its 1e6, and Pr as
    far below its 0.6, are compared; one part in 1e6 below is outside, not compared, and counts in
    the total only."""
    re = np.array([1e4 * (1 - 1e-12), 1e6 * (1 + 1e-12), 3e4, 1e4 * (1 - 1e-6)])
    pr = np.array([0.7, 0.7, 0.6 * (1 - 1e-12), 0.7])
    (match,) = library_matches(re, pr, dittus_boelter(re, pr), ["dittus-boelter-heating"])
    assert (match.points, match.total, list(match.lines)) == (3, 4, [1, 2, 3])


def test_a_key_with_an_unreadable_roughness_is_not_a_library_system():
    """A recorded key whose e/D is not a number, a smooth law given an e/D, or a key that only
    begins a key of this library (another version's name) names no system of it: it is skipped,
    never an error."""
    assert library_system("gowen-smith@e/D=rough") is None and library_system("colburn@e/D=0.01") is None
    assert library_system("dittus-boelter") is None and library_system("laminar") is None
    re, pr = np.array([1.2e4, 2e4]), np.array([0.7, 2.0])
    (gowen,) = select(["gowen-smith"])
    assert library_matches(re, pr, gowen(re, pr, 0.005), ["gowen-smith@e/D=rough"]) == []


def law(nusselt):
    """A one-law library (monkeypatched in) whose form is given: Re 1e4-1e6, Pr 0.5-10."""
    return Correlation("test-law", "smooth-pipe", "Nu = f(Re)", (1e4, 1e6), (0.5, 10.0), "a test", nusselt)


def test_a_form_that_fails_at_a_point_does_not_lie_through_it(monkeypatch):
    """Nu = 0.1 sqrt(Re - 2e4) fails below Re 2e4 (math domain error): that point is not on the law
    and the check goes on; the two points computed from the form are."""
    monkeypatch.setattr(contamination, "CORRELATIONS", (law(lambda re, pr: 0.1 * math.sqrt(re - 2e4)),))
    re, pr = np.array([1e4, 3e4, 6e4]), np.full(3, 0.7)
    nu = np.array([5.0, 0.1 * 1e2, 0.1 * 2e2])  # sqrt(1e4) = 100, sqrt(4e4) = 200
    (match,) = library_matches(re, pr, nu, ["test-law"])
    assert (match.points, match.total, list(match.lines)) == (2, 3, [2, 3])


def test_a_point_exactly_one_percent_off_the_law_lies_on_it(monkeypatch):
    """The rule is |Nu - Nu_system| <= 1 % of Nu_system, bound included. With Nu = Re / 100 the
    numbers are exact in floating point: Nu_system 100 and 200, 1 % of them 1.0 and 2.0 (0.01 times
    100 rounds to 1.0), and 101, 99, 202 are exactly 1 % off; 101.01 and 202.02 are beyond."""
    monkeypatch.setattr(contamination, "CORRELATIONS", (law(lambda re, pr: re / 100),))
    re, pr = np.array([1e4, 1e4, 2e4]), np.full(3, 0.7)
    (match,) = library_matches(re, pr, np.array([101.0, 99.0, 202.0]), ["test-law"])
    assert match.points == 3
    assert library_matches(re, pr, np.array([101.01, 99.0, 202.02]), ["test-law"]) == []


def test_systems_with_as_many_points_keep_the_library_order():
    """Among systems holding as many points, the order is the library's (the run records its
    systems in that order): Dittus-Boelter heating, cooling, then Colburn, not alphabetical."""
    re, pr = np.array([1e4, 5e4]), np.array([1.0, 1.0])
    order = [k for k in ALL if k in ("dittus-boelter-heating", "dittus-boelter-cooling", "colburn")]
    found = library_matches(re, pr, dittus_boelter(re, pr), ALL)
    assert (
        [m.system for m in found] == order == ["dittus-boelter-heating", "dittus-boelter-cooling", "colburn"]
    )
