"""The paired verdicts of the promoter transfer benchmark's tables."""

from __future__ import annotations

import pytest


def test_paired_difference_is_mean_and_standard_error_of_the_pairs(load_benchmark):
    paired = load_benchmark("promoter_transfer")._paired
    # differences 0.5, 0.4, 0.3: mean 0.4, sample SD 0.1, SE 0.1 / sqrt(3) = 0.0577
    pairs = [(1.0, 0.5), (0.8, 0.4), (0.9, 0.6)]
    assert paired(pairs, 100.0, " pts") == "+40.0 ± 5.8 pts (3): ahead"
    assert paired([(b, a) for a, b in pairs], 1.0, "") == "-0.400 ± 0.058 (3): behind"
    # differences 0.1 and -0.1: mean 0, within twice the SE
    assert paired([(0.6, 0.5), (0.5, 0.6)], 1.0, "") == "+0.000 ± 0.100 (2): tied"
    assert paired([(0.6, 0.5)], 1.0, "") == "—"


def test_naturalness_table_pairs_each_refit_with_its_other_prediction(load_benchmark):
    pt = load_benchmark("promoter_transfer")
    prov = {"command": "x", "commit": "0" * 40, "date": "2026-12-03", "cpu": {"model": "cpu", "cores": 2}}

    def unit(model, seed, mcc, chosen=None):
        return {
            "experiment": "transfer",
            "variant": "dinucleotide-shuffle",
            "seed": seed,
            "fold": 0,
            "model": model,
            "test": {"sigma24": {"auroc": 0.7, "mcc": mcc}},
            "chosen": chosen or {},
            "cpu_s": 3600.0,
        }

    # seed 0: the inner split chose unfused (0.10), the fusion was kept (0.30 fused);
    # seed 1: chose fused (0.31), kept, unfused 0.12; seed 2: the likelihood-ratio test left the
    # fusion out, so fused and unfused candidates tie and the first (unfused, 0.14) is chosen; the
    # task default is then unfused too, and fused regardless it would have scored 0.20
    chosen = [False, True, False]
    test = [0.10, 0.31, 0.14]
    other = [0.30, 0.12, 0.14]
    kept = [True, True, False]
    runs = []
    for s in range(3):
        u = unit("pre-trained", s, test[s], {"naturalness": chosen[s]})
        u["test_other_naturalness"] = {"sigma24": {"auroc": 0.7, "mcc": other[s]}}
        u["refit_fusion"] = {"fusion": {"likelihood_ratio": 9.0 if kept[s] else 1.0}, "fusion_kept": kept[s]}
        if not kept[s]:
            u["test_always_fused"] = {"sigma24": {"auroc": 0.7, "mcc": 0.20}}
        scores = lambda auroc: {"auroc": auroc, "mcc": 0.5, "accuracy": 0.8}  # noqa: E731
        u["candidates"] = [  # inner validation: fused minus unfused AUROC 0.02, 0.03, 0 (left out)
            {"setting": {"lr": 1e-3, "naturalness": False}, "inner_val": scores(0.8)},
            {"setting": {"lr": 1e-3, "naturalness": True}, "inner_val": scores((0.82, 0.83, 0.8)[s])},
        ]
        if not kept[s]:  # fused regardless, the inner-validation AUROC would have been 0.79
            u["candidates"][1]["inner_val_always_fused"] = scores(0.79)
        runs.append(u)
    base = [unit(m, s, 0.5) for s in range(3) for m in ("scratch", "pre-trained", "k-mer LR")]
    protocol = {"naturalness_min_ratio": 3.841}
    results = {
        "promoter_transfer_naturalness": {
            "provenance": prov,
            "protocol": protocol,
            "pretraining": {},
            "units": runs,
        },
        "promoter_transfer": {"provenance": prov, "pretraining": {}, "units": base},
    }
    text = pt.render_naturalness(results)
    row = next(line for line in text.splitlines() if line.startswith("| dinucleotide-shuffle | sigma24"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # against the same refit unfused: 0, 0.19, 0 (mean 0.0633, sample SD 0.1097, SE 0.0633)
    assert cells[5] == "+0.063 ± 0.063 (3): tied"
    # against the task default (fused where kept): -0.20, 0, 0 (mean -0.0667, SE 0.0667)
    assert cells[6] == "-0.067 ± 0.067 (3): tied"
    # against the same refit always fused: -0.20, 0, -0.06 (mean -0.0867, SD 0.1026, SE 0.0593)
    assert cells[7] == "-0.087 ± 0.059 (3): tied"
    # against the k-mer LR (0.5 each time): -0.40, -0.19, -0.36 (mean -0.3167, SD 0.1115, SE 0.0644)
    assert cells[8] == "-0.317 ± 0.064 (3): behind" and cells[-1] == "k-mer LR: -0.317 ± 0.064 (3): behind"
    assert "The likelihood fusion, chosen on the inner split: dinucleotide-shuffle: 1 of 3 units." in text
    assert (
        "The task's likelihood-ratio test (kept at a ratio of 3.84 or more on the refit's early-stopping "
        "split) kept the refit's fusion in: dinucleotide-shuffle: 2 of 3 units."
    ) in text
    # differences 0.02, 0.03, 0: mean 0.0167, SD 0.0153, SE 0.0088
    assert "| dinucleotide-shuffle | +0.017 ± 0.009 (3): tied | +0.000 ± 0.000 (3): tied |" in text
    # the test against fusing regardless: 0, 0 (kept), 0.80 - 0.79 = 0.01: mean 0.0033, SE 0.0033
    tested = text[text.index("The likelihood-ratio test against fusing regardless") :]
    assert "| dinucleotide-shuffle | +0.003 ± 0.003 (3): tied | +0.000 ± 0.000 (3): tied |" in tested
    assert "CPU time of the fine-tunes: 3.00 CPU-hours" in text


def test_zero_shot_table_is_the_mean_and_standard_error_over_draws(load_benchmark):
    render = load_benchmark("promoter_naturalness").render
    prov = {"command": "x", "commit": "0" * 40, "date": "2026-12-03", "cpu": {"model": "cpu"}}
    rows = [{"negatives": "ipromoter", "seed": None, "auroc": {"sigma24": 0.25}}]
    rows += [
        {"negatives": "dinucleotide-shuffle", "seed": s, "auroc": {"sigma24": a}}
        for s, a in enumerate([0.7, 0.8, 0.9])
    ]
    text = render({"promoter_naturalness": {"provenance": prov, "pretrained_run": "r", "rows": rows}})
    assert "| ipromoter | 0.250 |" in text
    assert "| dinucleotide-shuffle | 0.800 ± 0.058 |" in text  # SD 0.1 / sqrt(3)


def test_head_warmup_joint_choice_goes_by_the_inner_split_ties_to_no_warmup(load_benchmark):
    pt = load_benchmark("promoter_transfer")

    def unit(seed, warm: bool, inner: float, test: float):
        setting = {"lr": 1e-3, **({"head_warmup": 0.333} if warm else {})}
        return {
            "experiment": "transfer",
            "variant": "gc-matched",
            "seed": seed,
            "fold": 0,
            "model": "pre-trained",
            "chosen": setting,
            "candidates": [
                {"setting": setting, "inner_val": {"auroc": inner, "mcc": inner - 0.2, "accuracy": 0.8}}
            ],
            "test": {"sigma24": {"mcc": test}},
            "cpu_s": 100.0 if warm else 10.0,
        }

    # seed 0: warm-up ahead on the inner split (0.91 > 0.90); seed 1: behind; seed 2: tied
    warm = {"units": [unit(0, True, 0.91, 0.4), unit(1, True, 0.88, 0.5), unit(2, True, 0.90, 0.6)]}
    plain = {"units": [unit(0, False, 0.90, 0.1), unit(1, False, 0.90, 0.2), unit(2, False, 0.90, 0.3)]}
    joint = pt._joint_units(warm, plain, "auroc")
    assert [u["test"]["sigma24"]["mcc"] for u in joint] == [0.4, 0.2, 0.3]
    assert ["head_warmup" in u["chosen"] for u in joint] == [True, False, False]
    assert [u["cpu_s"] for u in joint] == [110.0] * 3  # a grid holding both costs both
    # each joint unit holds both runs' candidates, so a warm-up candidate finds its plain twin
    assert pt._without_warmup(joint[0], joint[0]["candidates"][1]) == {
        "auroc": 0.90,
        "mcc": 0.90 - 0.2,
        "accuracy": 0.8,
    }
    pairs = pt._candidate_pairs(joint, pt._without_warmup, lambda s: "head_warmup" in s)
    assert [round(a - b, 3) for a, b in pairs["gc-matched"]["auroc"]] == [0.01, -0.02, 0.0]


def test_transfer_figure_points_are_the_mean_and_se_of_each_test_set(load_benchmark):
    pt = load_benchmark("promoter_transfer")

    def unit(model, seed, mcc24, variant="gc-matched", experiment="transfer"):
        return {
            "experiment": experiment,
            "variant": variant,
            "seed": seed,
            "fold": 0,
            "model": model,
            "test": {"sigma24": {"mcc": mcc24}, "sigma70": {"mcc": 0.5}},
        }

    units = [
        unit("scratch", 0, 0.1),
        unit("scratch", 1, 0.3),
        unit("scratch", 2, 0.2),
        unit("k-mer LR", 0, 0.9),  # another model
        unit("scratch", 0, 0.9, variant="ipromoter"),  # another kind of negatives
        unit("scratch", 0, 0.9, experiment="uci"),  # another experiment
    ]
    points = pt.transfer_points({"run": {"units": units}}, "run", "scratch", "gc-matched")
    # 0.1, 0.3, 0.2: mean 0.2, sample SD 0.1, SE 0.1 / sqrt(3)
    assert points["sigma24"][0] == pytest.approx(0.2)
    assert points["sigma24"][1] == pytest.approx(0.1 / 3**0.5)
    assert points["sigma70"][0] == pytest.approx(0.5)
    assert pt.transfer_points({}, "missing", "scratch", "gc-matched") == {}
    png = pt.transfer_figure_png({"promoter_transfer": {"units": units}})
    assert png.startswith(b"\x89PNG")


def test_the_shift_table_pairs_each_seed_with_its_control_and_names_the_per_seed_encoders(load_benchmark):
    pt = load_benchmark("promoter_transfer")
    prov = {"command": "x", "commit": "0" * 40, "date": "2026-12-05", "cpu": {"model": "cpu", "cores": 2}}

    def unit(model, seed, mcc):
        return {
            "experiment": "transfer",
            "variant": "ipromoter",
            "seed": seed,
            "fold": 0,
            "model": model,
            "test": {"sigma32": {"auroc": 0.7, "mcc": mcc}},
            "chosen": {},
            "cpu_s": 60.0,
        }

    def encoder(seed):
        return {
            "steps": 3000,
            "cpu_s": 240.0,
            "val_loss": 1.5 + seed / 100,
            "decontamination": {"eval_sequences": 10},
        }

    def record(mccs):
        return {
            "provenance": prov,
            "pretraining": {str(s): encoder(s) for s in range(3)},
            "units": [unit("pre-trained", s, m) for s, m in enumerate(mccs)],
        }

    base = {"provenance": prov, "units": [unit(m, s, 0.3) for s in range(3) for m in ("scratch", "k-mer LR")]}
    # shifted minus control: 0.1, 0.2, 0.3 -> mean 0.2, SE 0.0577: ahead
    text = pt.render_shift(
        {
            "promoter_transfer": base,
            "promoter_transfer_shift4": record([0.4, 0.5, 0.6]),
            "promoter_transfer_shift0": record([0.3, 0.3, 0.3]),
        }
    )
    assert text.startswith("Control, run beside it: Measured by `x` at commit `0000000000`")
    assert (
        "Encoders: one per seed (0, 1, 2), pre-trained by this script for 3,000, 3,000, 3,000 steps, "
        "12.0 CPU-min in all, validation loss 1.500, 1.510, 1.520 nats; each corpus decontaminated "
        "against its seed's 10, 10, 10 evaluation sequences."
    ) in text
    row = next(line for line in text.splitlines() if line.startswith("| ipromoter | sigma32 |"))
    assert "+0.200 ± 0.058 (3): ahead" in row.split(" | ")[5]  # vs the same fine-tunes without the shift
