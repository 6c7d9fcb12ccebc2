"""The on/off tables of the promoter recipe benchmark (its rule's verdict, the paired difference)."""

from __future__ import annotations


def test_the_shift_table_pairs_on_with_off_and_applies_the_rule(load_benchmark):
    recipe = load_benchmark("promoter_recipe")
    prov = {"command": "x", "commit": "0" * 40, "date": "2026-12-05", "cpu": {"model": "cpu"}}
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
    text = recipe.render_shift({"only": {"provenance": prov, "protocol": protocol, "units": units}}, "only")
    rows = [line for line in text.splitlines() if line.startswith("| pre-trained |")]
    assert rows[0].startswith("| pre-trained | off | 0.600 ± 0.000 | 0.600 | — |")
    assert rows[1].startswith("| pre-trained | on | 0.400 ± 0.058 | 0.400 | -0.200 ± 0.058, behind |")
    assert text.rstrip().endswith("shift **off**.")
