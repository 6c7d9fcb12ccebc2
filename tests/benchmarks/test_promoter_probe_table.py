"""The probe benchmark's table: means over folds x seeds and the paired difference, by hand."""

from __future__ import annotations


def test_the_probe_table_pairs_each_encoder_with_the_random_one(load_benchmark, stub_provenance):
    """Two seeds of two folds: the random encoder at 0.70, 0.72, 0.74, 0.76 (mean 0.73, SE
    sqrt(var 0.000667 / 4) = 0.0129); the pre-trained one 0.02 above it on every fold (mean 0.75,
    a difference of +0.020 with SE 0: ahead); a second one 0.01 above and below in turn (0.71,
    0.71, 0.75, 0.75: SE sqrt(0.00053 / 4) = 0.012; differences +-0.01: SE 0.006, tied). The
    position-aware probe (8 stretches) of each, its row under the mean-pooled one: the random
    encoder 0.10 above its mean-pooled AUROC (0.830 ± 0.013), the first 0.03 above the random one on
    every fold (+0.030, ahead), the second level with it (+0.000, tied)."""
    probe = load_benchmark("promoter_probe")
    random = [[0.70, 0.72], [0.74, 0.76]]
    names = ("encoder", "seed", "auroc", "accuracy", "vs_random", "cpu_s")
    units = []
    for seed, aurocs in enumerate(random):
        rows = (
            ("random init", seed, aurocs, [0.6, 0.6], [0.0, 0.0], 10.0),
            ("1500 steps", seed, [a + 0.02 for a in aurocs], [0.7, 0.8], [0.02, 0.02], 20.0),
            ("6500 steps", seed, [aurocs[0] + 0.01, aurocs[1] - 0.01], [0.6, 0.6], [0.01, -0.01], 30.0),
        )
        for row, lift in zip(rows, (0.10, 0.13, 0.10), strict=True):
            unit = dict(zip(names, row))
            unit["binned"] = {
                "auroc": [a + lift for a in aurocs],
                "accuracy": [0.8, 0.8],
                "vs_random": [lift - 0.10] * 2,
                "cpu_s": 15.0,
            }
            units.append(unit)
    record = {
        "provenance": stub_provenance("python benchmarks/promoter_probe.py"),
        "protocol": {"seeds": [0, 1], "bins": 8, "inner_folds_grouped": True},
        "pretraining": {"1500": {"cpu_s": 90.0, "val_loss": 1.4}, "6500": {"cpu_s": 300.0, "val_loss": 1.35}},
        "units": units,
    }
    text = probe.render({"p": record}, "p").splitlines()
    assert text[2] == (
        "Pre-training runs: 1500 steps: 1.5 CPU-min, validation loss 1.400 nats; 6500 steps: 5.0 CPU-min, "
        "validation loss 1.350 nats. Seeds 0, 1, 5 folds each."
    )
    assert (
        text[4]
        == "| encoder | probe | AUROC | vs random init (paired, per fold) | accuracy | CPU s per probe |"
    )
    assert text[6:12] == [
        "| random init | mean-pooled | 0.730 ± 0.013 | — | 0.600 | 10 |",
        "| random init | 8 stretches | 0.830 ± 0.013 | — | 0.800 | 15 |",
        "| 1500 steps | mean-pooled | 0.750 ± 0.013 | +0.020 ± 0.000: ahead | 0.750 | 20 |",
        "| 1500 steps | 8 stretches | 0.860 ± 0.013 | +0.030 ± 0.000: ahead | 0.800 | 15 |",
        "| 6500 steps | mean-pooled | 0.730 ± 0.012 | +0.000 ± 0.006: tied | 0.600 | 30 |",
        "| 6500 steps | 8 stretches | 0.830 ± 0.013 | +0.000 ± 0.000: tied | 0.800 | 15 |",
    ]
    assert (
        text[13] == "Each probe's inner folds (its choice of C) keep near copies together, as the folds do."
    )
    # a record from before the position-aware probe: its rows only, and no inner-folds line
    for unit in units:
        del unit["binned"]
    del record["protocol"]["inner_folds_grouped"]
    older = probe.render({"p": record}, "p").splitlines()
    assert older[6:] == [
        "| random init | mean-pooled | 0.730 ± 0.013 | — | 0.600 | 10 |",
        "| 1500 steps | mean-pooled | 0.750 ± 0.013 | +0.020 ± 0.000: ahead | 0.750 | 20 |",
        "| 6500 steps | mean-pooled | 0.730 ± 0.012 | +0.000 ± 0.006: tied | 0.600 | 30 |",
    ]
    assert probe.render({}, "p").startswith("No results yet")
