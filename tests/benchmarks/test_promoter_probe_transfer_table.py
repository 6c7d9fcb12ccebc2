"""The probe-transfer benchmark's table: means over seeds and the paired differences, by hand."""

from __future__ import annotations


def test_the_probe_transfer_table_pairs_the_position_aware_probe_with_the_k_mer_regression(
    load_benchmark, stub_provenance
):
    """Two seeds, one test set. k-mer LR 0.80, 0.82 (mean 0.810, SE 0.0141 / sqrt 2 = 0.010); the
    pre-trained position-aware probe 0.85 twice (0.850 ± 0.000): ahead of the k-mer regression by
    0.05 and 0.03 (+0.040 ± 0.010, over 2 SE) and of the random encoder's position-aware probe
    (0.75, 0.77) by 0.10 and 0.08 (+0.090 ± 0.010)."""
    module = load_benchmark("promoter_probe_transfer")
    aurocs = {
        "k-mer LR": (0.80, 0.82),
        "random, mean-pooled": (0.70, 0.70),
        "random, by position": (0.75, 0.77),
        "pre-trained, mean-pooled": (0.78, 0.80),
        "pre-trained, by position": (0.85, 0.85),
    }
    units = [
        {
            "seed": s,
            "kind": "ipromoter",
            "auroc": {m: {"sigma32": v[s]} for m, v in aurocs.items()},
            "cpu_s": 30.0,
        }
        for s in (0, 1)
    ]
    record = {
        "provenance": stub_provenance("python benchmarks/promoter_probe_transfer.py"),
        "protocol": {
            "seeds": [0, 1],
            "kinds": ["ipromoter", "dinucleotide-shuffle"],
            "steps": 19500,
            "bins": 8,
        },
        "pretraining": {"steps": 19500, "cpu_s": 1278.0},
        "units": units,
    }
    text = module.render({"p": record}, "p").splitlines()
    assert text[2].startswith(
        "Encoder: 19,500 steps (21.3 CPU-min of pre-training); probes by position read 8"
    )
    assert text[6] == (
        "| ipromoter | sigma32 | 0.810 ± 0.010 | 0.700 ± 0.000 | 0.760 ± 0.010 | 0.790 ± 0.010 | "
        "0.850 ± 0.000 | +0.040 ± 0.010: ahead | +0.090 ± 0.010: ahead |"
    )
    assert len(text) == 9  # a kind without units adds no row
    assert text[8] == "2 (seed, negatives) units, 1.0 CPU-minutes of embeddings and fits."
    assert module.render({}, "p").startswith("No results yet")
