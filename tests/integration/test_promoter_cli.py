"""`scipt finetune promoter`, `evaluate`, `predict`, `scan` on small files, and their bad inputs."""

import json

import numpy as np
import pytest

from sciPT.checkpoint import export_model
from sciPT.cli import main
from sciPT.registry import domains

SMALL = [
    "--model.d-model",
    "16",
    "--model.n-layers",
    "1",
    "--model.n-heads",
    "2",
    "--model.d-ff",
    "32",
    "--max-epochs",
    "3",
    "--batch-size",
    "16",
]


@pytest.fixture
def trained(tmp_path_factory, planted):
    path, rows = planted
    out = tmp_path_factory.mktemp("promoter") / "run"
    assert (
        main(
            [
                "finetune",
                "promoter",
                "--init",
                "none",
                "--train",
                str(path),
                "--out",
                str(out),
                "--strand-symmetric",
                *SMALL,
            ]
        )
        == 0
    )
    return out, path, rows


def test_finetune_evaluate_predict(trained, tmp_path, capsys):
    out, path, rows = trained
    exported = json.loads((out / "model/config.json").read_text())
    assert exported["task"] == "promoter" and exported["length"] == 30 and exported["strand_symmetric"]
    before = (out / "metrics.json").read_bytes()
    assert main(["evaluate", str(out), "--data", str(path)]) == 0
    folder = out / "evaluations" / "planted"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0 <= metrics["eval_accuracy"] <= 1 and (folder / "plots/roc.png").is_file()
    assert (folder / "plots/pr.png").is_file() and (out / "metrics.json").read_bytes() == before
    assert main(["predict", str(out), "--input", str(path), "--output", str(tmp_path / "p.csv")]) == 0
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "name,probability" and len(lines) == 1 + len(rows)
    assert all(0 < float(line.split(",")[1]) < 1 for line in lines[1:])


def test_scan_writes_both_strands_in_genome_coordinates(trained, tmp_path, capsys):
    out, _, _ = trained
    genome = tmp_path / "g.fa"
    rng = np.random.default_rng(3)
    genome.write_text(">chrA\n" + "".join(rng.choice(list("ACGT"), 100)) + "\n>chrB\nACGTACGTAC\n")
    bed = tmp_path / "scan.bedgraph"
    assert (
        main(
            [
                "scan",
                str(out),
                "--genome",
                str(genome),
                "--window",
                "30",
                "--stride",
                "10",
                "--output",
                str(bed),
            ]
        )
        == 0
    )
    lines = bed.read_text().splitlines()
    tracks = [i for i, line in enumerate(lines) if line.startswith("track")]
    assert (
        len(tracks) == 2
        and 'name="promoter plus"' in lines[0]
        and 'name="promoter minus"' in lines[tracks[1]]
    )
    plus = [line.split("\t") for line in lines[1 : tracks[1]]]
    # chrA (100 bp): windows start 0..70 step 10 -> 8 windows, central 10 bp at +10; chrB is too short
    assert [(c, int(a), int(b)) for c, a, b, _ in plus] == [
        ("chrA", s + 10, s + 20) for s in range(0, 71, 10)
    ]
    assert len(lines) - tracks[1] - 1 == 8


def test_scan_window_longer_than_genome(trained, tmp_path, capsys):
    out, _, _ = trained
    genome = tmp_path / "g.fa"
    genome.write_text(">tiny\nACGTACGTAC\n")
    assert (
        main(
            [
                "scan",
                str(out),
                "--genome",
                str(genome),
                "--window",
                "30",
                "--output",
                str(tmp_path / "x.bedgraph"),
            ]
        )
        == 2
    )
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(f"{genome}: window of 30 bp is longer than the genome's longest record (10 bp)")
    )
    assert not (tmp_path / "x.bedgraph").exists()


def test_init_from_another_domain_is_refused(tmp_path, planted, capsys):
    protein = domains.get("protein")
    export = protein.export_config_from(protein.presets()["tiny"]())
    export_model(tmp_path / "prot" / "model", protein.load_backbone(export), export)
    out = tmp_path / "run"
    code = main(
        [
            "finetune",
            "promoter",
            "--init",
            str(tmp_path / "prot"),
            "--train",
            str(planted[0]),
            "--out",
            str(out),
            *SMALL,
        ]
    )
    assert code == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(f"{tmp_path / 'prot' / 'model'}: model of domain 'protein', expected a 'dna' model")
    )
    assert not out.exists()


def test_single_class_is_refused_before_writing(tmp_path, capsys):
    data = tmp_path / "one.csv"
    data.write_text("sequence,label\nACGT,1\nACGA,1\n")
    out = tmp_path / "run"
    assert main(["finetune", "promoter", "--train", str(data), "--out", str(out), *SMALL]) == 2
    assert "only one class (label 1, 2 records)" in capsys.readouterr().err
    assert not out.exists()
