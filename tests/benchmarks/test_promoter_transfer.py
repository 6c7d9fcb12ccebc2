"""The paired verdicts of the promoter transfer benchmark's tables."""

from __future__ import annotations


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

    # seed s: fused MCC 0.30 + 0.01 s, unfused 0.10 + 0.02 s; the inner split chose the fusion
    # for seeds 1 and 2, so the reported MCCs are 0.10, 0.31, 0.32
    runs = []
    for s in range(3):
        fused, plain = 0.30 + 0.01 * s, 0.10 + 0.02 * s
        u = unit("pre-trained", s, fused if s else plain, {"naturalness": s > 0})
        u["test_other_naturalness"] = {"sigma24": {"auroc": 0.7, "mcc": plain if s else fused}}
        scores = lambda auroc: {"auroc": auroc, "mcc": 0.5, "accuracy": 0.8}  # noqa: E731
        u["candidates"] = [  # inner validation: fused minus unfused AUROC 0.02, 0.03, 0.04
            {"setting": {"lr": 1e-3, "naturalness": False}, "inner_val": scores(0.8)},
            {"setting": {"lr": 1e-3, "naturalness": True}, "inner_val": scores(0.82 + 0.01 * s)},
        ]
        runs.append(u)
    base = [unit(m, s, 0.5) for s in range(3) for m in ("scratch", "pre-trained", "k-mer LR")]
    results = {
        "promoter_transfer_naturalness": {"provenance": prov, "pretraining": {}, "units": runs},
        "promoter_transfer": {"provenance": prov, "pretraining": {}, "units": base},
    }
    text = pt.render_naturalness(results)
    row = next(line for line in text.splitlines() if line.startswith("| dinucleotide-shuffle | sigma24"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # against the same refit unfused: 0, 0.19, 0.18 (mean 0.1233, sample SD 0.1069, SE 0.0617)
    assert cells[5] == "+0.123 ± 0.062 (3): tied"
    # against the same refit always fused: -0.20, 0, 0 (mean -0.0667, SE 0.0667)
    assert cells[6] == "-0.067 ± 0.067 (3): tied"
    # against the k-mer LR (0.5 each time): -0.40, -0.19, -0.18 (mean -0.2567, SE 0.0717)
    assert cells[7] == "-0.257 ± 0.072 (3): behind" and cells[-1] == "k-mer LR: -0.257 ± 0.072 (3): behind"
    assert "dinucleotide-shuffle: 2 of 3 units" in text
    # differences 0.02, 0.03, 0.04: mean 0.03, SE 0.01 / sqrt(3)
    assert "| dinucleotide-shuffle | +0.030 ± 0.006 (3): ahead | +0.000 ± 0.000 (3): tied |" in text
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
