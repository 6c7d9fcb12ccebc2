"""The probe benchmark's table: means over folds x seeds and the paired difference, by hand."""

from __future__ import annotations


def test_the_probe_table_pairs_each_encoder_with_the_random_one(load_benchmark):
    """Two seeds of two folds: the random encoder at 0.70, 0.72, 0.74, 0.76 (mean 0.73, SE
    sqrt(var 0.000667 / 4) = 0.0129); the pre-trained one 0.02 above it on every fold (mean 0.75,
    a difference of +0.020 with SE 0: ahead); a second one 0.01 above and below in turn (0.71,
    0.71, 0.75, 0.75: SE sqrt(0.00053 / 4) = 0.012; differences +-0.01: SE 0.006, tied)."""
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
        units += [dict(zip(names, row)) for row in rows]
    record = {
        "provenance": {
            "command": "python benchmarks/promoter_probe.py",
            "commit": "0" * 40,
            "date": "2026-12-07",
            "cpu": {"model": "CPU", "cores": 2, "vector_extensions": ["avx2"]},
            "load_before": [0.5],
            "load_after": [0.7],
            "python": "3.11.7",
            "versions": {"torch": "2.13.0"},
        },
        "protocol": {"seeds": [0, 1]},
        "pretraining": {"1500": {"cpu_s": 90.0, "val_loss": 1.4}, "6500": {"cpu_s": 300.0, "val_loss": 1.35}},
        "units": units,
    }
    text = probe.render({"p": record}, "p").splitlines()
    assert text[2] == (
        "Pre-training runs: 1500 steps: 1.5 CPU-min, validation loss 1.400 nats; 6500 steps: 5.0 CPU-min, "
        "validation loss 1.350 nats. Seeds 0, 1, 5 folds each."
    )
    assert text[6] == "| random init | 0.730 ± 0.013 | — | 0.600 | 10 |"
    assert text[7] == "| 1500 steps | 0.750 ± 0.013 | +0.020 ± 0.000: ahead | 0.750 | 20 |"
    assert text[8] == "| 6500 steps | 0.730 ± 0.012 | +0.000 ± 0.006: tied | 0.600 | 30 |"
    assert probe.render({}, "p").startswith("No results yet")
