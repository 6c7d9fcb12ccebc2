"""The promoter recipe benchmark: its on/off tables (the rule's verdict, the paired difference), the
protocol its options make, and the data set names it accepts."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
# the provenance a rendered record carries (what the tables read of it)
PROV = {"command": "x", "commit": "0" * 40, "date": "2026-12-05", "cpu": {"model": "cpu"}}


def test_the_shift_table_pairs_on_with_off_and_applies_the_rule(load_benchmark):
    recipe = load_benchmark("promoter_recipe")
    protocol = {
        "datasets": ["ipromoter"],
        "fractions": [0.05],
        "seeds": [0, 1, 2],
        "values": [50],
        "pretrained_run": "/runs/pretrain_seed0",
        "rule": "shift 4 becomes the task's default if ...",
    }

    def unit(seed, shift, mcc):
        u = {"start": "pre-trained", "dataset": "ipromoter", "fraction": 0.05, "seed": seed}
        u.update(validation={"mcc": mcc, "accuracy": 0.8}, cpu_s=30.0, **({"shift": shift} if shift else {}))
        return u

    # on minus off: -0.1, -0.2, -0.3 -> mean -0.2, SE 0.0577: behind, and the rule keeps it off
    units = [unit(s, 0, 0.6) for s in range(3)] + [unit(s, 4, 0.5 - s / 10) for s in range(3)]
    text = recipe.render_shift({"only": {"provenance": PROV, "protocol": protocol, "units": units}}, "only")
    rows = [line for line in text.splitlines() if line.startswith("| pre-trained |")]
    assert rows[0].startswith("| pre-trained | off | 0.600 ± 0.000 | 0.600 | — |")
    assert rows[1].startswith("| pre-trained | on | 0.400 ± 0.058 | 0.400 | -0.200 ± 0.058, behind |")
    assert text.rstrip().endswith("shift **off**.")


def test_an_unknown_dataset_name_is_refused_not_run_as_sigma70_shuffle(load_benchmark):
    recipe = load_benchmark("promoter_recipe")
    with pytest.raises(SystemExit) as stop:
        recipe.parse_args(["--datasets", "iPromoter"])
    assert stop.value.code == 2
    assert recipe.parse_args(["--datasets", "sigma70-shuffle", "ipromoter"]).datasets == [
        "sigma70-shuffle",
        "ipromoter",
    ]


def test_load_dataset_refuses_an_unknown_name(load_benchmark, tmp_path):
    design = load_benchmark("promoter_design")
    with pytest.raises(ValueError, match="iPromoter"):
        design.load_dataset("iPromoter", tmp_path)
    assert not list(tmp_path.iterdir())  # refused before a shuffle was written


def test_starts_alone_keep_the_recipe_rule_and_table(load_benchmark):
    recipe = load_benchmark("promoter_recipe")
    plain = recipe.protocol_of(recipe.parse_args([]))
    protocol = recipe.protocol_of(recipe.parse_args(["--starts", "pre-trained"]))
    assert protocol["starts"] == ["pre-trained"]
    assert protocol["rule"] == plain["rule"]
    assert recipe.renderer_for(protocol) is recipe.render
    composition = recipe.protocol_of(
        recipe.parse_args(["--starts", "pre-trained", "--composition", "off", "on"])
    )
    assert composition["rule"].startswith("head.composition becomes")
    assert recipe.renderer_for(composition) is recipe.render_composition


@pytest.mark.parametrize("path", sorted(RESULTS.glob("promoter_recipe_*.json")), ids=lambda p: p.stem)
def test_the_committed_runs_record_the_protocol_their_command_makes(load_benchmark, path):
    """A --resume of a committed run with its own command finds the same protocol (start_record)."""
    recipe = load_benchmark("promoter_recipe")
    record = json.loads(path.read_text())
    argv = shlex.split(record["provenance"]["command"])[2:]  # python benchmarks/promoter_recipe.py ...
    if "--adapt-steps" in argv:
        pytest.skip("--adapt-steps was not kept (run at commit cc35780)")
    protocol = recipe.protocol_of(recipe.parse_args(argv))
    protocol.pop("pretrained_run"), record["protocol"].pop("pretrained_run")
    assert protocol == record["protocol"]
    assert recipe.renderer_for(protocol) is getattr(
        recipe, "render_" + path.stem.split("_", 2)[2].rsplit("_", 1)[0]
    )


def test_the_on_off_table_keeps_units_of_other_min_steps_apart(load_benchmark):
    recipe = load_benchmark("promoter_recipe")
    protocol = {
        "datasets": ["ipromoter"],
        "fractions": [0.05],
        "seeds": [0, 1],
        "values": [0, 50],
        "pretrained_run": "/runs/pretrain",
        "rule": "head.composition becomes the task's default if ...",
    }

    def unit(seed, value, on, mcc):
        u = {"start": "pre-trained", "value": value, "dataset": "ipromoter", "fraction": 0.05, "seed": seed}
        u.update(
            validation={"mcc": mcc, "accuracy": 0.8}, cpu_s=30.0, **({"composition": True} if on else {})
        )
        return u

    # at 0 composition helps (0.2 -> 0.3), at 50 it hurts (0.6 -> 0.5): one row each, never merged
    units = [
        unit(s, v, on, m)
        for s in (0, 1)
        for v, on, m in ((0, 0, 0.2), (0, 1, 0.3), (50, 0, 0.6), (50, 1, 0.5))
    ]
    text = recipe.render_composition(
        {"only": {"provenance": PROV, "protocol": protocol, "units": units}}, "only"
    )
    rows = [line for line in text.splitlines() if line.startswith("| pre-trained |")]
    assert [row.split(" | ")[1:4] for row in rows] == [
        ["0", "off", "0.200 ± 0.000"],
        ["0", "on", "0.300 ± 0.000"],
        ["50", "off", "0.600 ± 0.000"],
        ["50", "on", "0.500 ± 0.000"],
    ]
    header = next(line for line in text.splitlines() if line.startswith("| start |"))
    separator = text.splitlines()[text.splitlines().index(header) + 1]
    assert header.count("|") == separator.count("|")
    assert (
        "composition **on** at `min_steps_per_epoch` 0; composition **off** at `min_steps_per_epoch` 50."
        in text
    )
