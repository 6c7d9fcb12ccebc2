"""`scipt evaluate`: every evaluation in its own folder, pre-training runs (DNA, molecules) scored,
and bad input refused before anything is written."""

import gzip
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from sciPT.checkpoint import from_pretrained, load_lightning_checkpoint
from sciPT.cli import main
from sciPT.domains.molecules.calculator import SciPTCalculator
from sciPT.objectives.masked import IGNORE
from sciPT.registry import domains
from sciPT.sequence_config import ObjectiveConfig
from sciPT.sequence_evaluation import window_seed
from sciPT.testing import FAST_SEQUENCE_FLAGS
from sciPT.tokenizers import SequenceTokenizer

SHIPPED = Path(__file__).resolve().parents[2] / "data_recipes" / "molecules" / "ethanol"
FAST = list(FAST_SEQUENCE_FLAGS)


def fasta(path: Path, lengths, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    text = "".join(f">r{i}\n{''.join(rng.choice(list('ACGT'), n))}\n" for i, n in enumerate(lengths))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.fixture(scope="module")
def dna(tmp_path_factory):
    d = tmp_path_factory.mktemp("evaluate-dna")
    run = d / "run"
    assert (
        main(["pretrain", "dna", "--data", str(fasta(d / "corpus.fa", [3000], 0)), "--out", str(run), *FAST])
        == 0
    )
    return d, run


def fresh_copy(run: Path, tmp_path: Path) -> Path:
    """The run without its evaluations (tests of bad input start from none)."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("evaluations"))
    return copy


def test_help_of_a_run_lists_its_plugin_options_and_only_points_to_them_without_one(dna, capsys):
    _, run = dna
    for argv, pointer in ((["evaluate", "--help"], True), (["evaluate", str(run), "--help"], False)):
        with pytest.raises(SystemExit):
            main(argv)
        out = capsys.readouterr().out
        assert ("The options of the plugin that wrote RUN are listed by" in out) is pointer
        assert ("options for dna runs" in out) is not pointer


def test_two_files_two_folders_and_the_training_metrics_untouched(dna, capsys):
    d, run = dna
    before = (run / "metrics.json").read_bytes()
    a = fasta(d / "test_300K.fa", [100, 45], 1)
    b = fasta(d / "held.fa.gz", [70], 2)
    assert main(["evaluate", str(run), "--data", str(a)]) == 0
    assert main(["evaluate", str(run), "--data", str(b)]) == 0
    assert (run / "metrics.json").read_bytes() == before
    for name, path in (("test_300K", a), ("held", b)):
        saved = json.loads((run / "evaluations" / name / "metrics.json").read_text())
        assert saved["data"] == str(path) and len(saved["data_sha256"]) == 64
        assert 0 < saved["loss_nats"] < 10 and 0 <= saved["accuracy"] <= 1
        assert saved["data_sha256"] in (run / "evaluations" / name / "report.md").read_text()
    assert json.loads((run / "evaluations/test_300K/metrics.json").read_text())["windows"] == 6
    report = (run / "report.md").read_text()
    assert "## Evaluations" in report
    assert "](evaluations/test_300K/report.md)" in report and "](evaluations/held/report.md)" in report


def test_a_data_name_with_spaces_and_a_hash_is_linked_whole(dna, capsys):
    """``- [ratios (1)](evaluations/ratios (1)/report.md)`` is no Markdown link: a space ends it,
    and '#' cuts the path into a fragment."""
    d, run = dna
    data = fasta(d / "held #2 (1).fa", [70], 3)
    assert main(["evaluate", str(run), "--data", str(data)]) == 0
    report = (run / "report.md").read_text()
    assert "- [held #2 (1)](evaluations/held%20%232%20%281%29/report.md): " in report
    # and it stays listed when another evaluation is linked after it
    assert main(["evaluate", str(run), "--data", str(fasta(d / "other.fa", [70], 4))]) == 0
    assert "](evaluations/held%20%232%20%281%29/report.md)" in (run / "report.md").read_text()
    # an entry written unquoted (before) is replaced by the evaluation run again, not kept beside it
    spaced = fasta(d / "held #3.fa", [70], 5)
    assert main(["evaluate", str(run), "--data", str(spaced)]) == 0
    text = (run / "report.md").read_text()
    (run / "report.md").write_text(text.replace("evaluations/held%20%233/", "evaluations/held #3/"))
    assert main(["evaluate", str(run), "--data", str(spaced)]) == 0
    assert sum(line.startswith("- [held #3]") for line in (run / "report.md").read_text().splitlines()) == 1


def test_windows_cut_from_the_corpus_are_flagged_though_the_file_differs(dna, capsys):
    d, run = dna
    corpus = (d / "corpus.fa").read_text().split()[1]
    window = json.loads((run / "model/config.json").read_text())["window"]
    # three windows of the corpus (the last two on the other strand), then two of new sequence
    cut = corpus[500 : 500 + 3 * window]
    cut = cut[:window] + cut[window:][::-1].translate(str.maketrans("ACGT", "TGCA"))
    new = "".join(np.random.default_rng(9).choice(list("ACGT"), 2 * window))
    (d / "slice.fa").write_text(f">slice\n{cut}{new}\n")
    assert main(["evaluate", str(run), "--data", str(d / "slice.fa")]) == 0
    saved = json.loads((run / "evaluations/slice/metrics.json").read_text())
    assert saved["is_pretraining_file"] == 0 and saved["windows"] == 5
    assert (saved["contamination_verbatim"], saved["contamination_near"], saved["contamination_clean"]) == (
        3,
        3,
        2,
    )
    assert (
        "**60.0% of this file's windows occur in the pre-training corpus**, verbatim or nearly (of 5 windows, "
        "3 verbatim, 3 verbatim or with k-mer similarity at least 0.5)"
    ) in (run / "evaluations/slice/report.md").read_text()
    assert "None of this file's windows occurs" in (run / "evaluations/held/report.md").read_text()


def test_out_puts_the_evaluation_elsewhere(dna, tmp_path, capsys):
    d, run = dna
    data = fasta(d / "elsewhere.fa", [64], 3)
    out = tmp_path / "mine"
    assert main(["evaluate", str(run), "--data", str(data), "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["data"] == str(data)
    assert (out / "report.md").is_file() and not (run / "evaluations" / "elsewhere").exists()
    assert f"]({os.path.relpath(out / 'report.md', run)})" in (run / "report.md").read_text()
    # an --out folder holding another file's evaluation is refused, not overwritten
    other = fasta(d / "other.fa", [64], 4)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(other), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"scipt: error: --out {out}: already holds the evaluation of {data} (sha256 "
        f"{json.loads((out / 'metrics.json').read_text())['data_sha256'][:16]}…); an evaluation never "
        "overwrites another (choose another --out)"
    )


def test_same_name_other_file_does_not_erase_and_same_file_replaces(dna, capsys):
    d, run = dna
    first = fasta(d / "a" / "same.fa", [50], 5)
    second = fasta(d / "b" / "same.fa", [50], 6)
    assert main(["evaluate", str(run), "--data", str(first)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(second)]) == 0
    assert f"note: {run / 'evaluations' / 'same'} holds the evaluation of {first}" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--data", str(first)]) == 0  # the same file again: replaced
    assert "replaced the earlier evaluation" in capsys.readouterr().err
    folders = sorted(p.name for p in (run / "evaluations").iterdir() if p.name.startswith("same"))
    assert folders == ["same", "same-2"]
    assert json.loads((run / "evaluations/same/metrics.json").read_text())["data"] == str(first)
    assert json.loads((run / "evaluations/same-2/metrics.json").read_text())["data"] == str(second)
    assert not [p for p in (run / "evaluations").iterdir() if p.name.startswith(".")]  # no leftovers


def test_dna_loss_is_the_objective_computed_directly(dna, tmp_path, capsys):
    d, run = dna
    data = fasta(d / "direct.fa", [100, 45], 7)
    assert main(["evaluate", str(run), "--data", str(data), "--batch-size", "2"]) == 0
    metrics = json.loads((run / "evaluations/direct/metrics.json").read_text())
    # the objective as pre-training built it, with the head from the checkpoint
    pre = from_pretrained(run)
    tokenizer = SequenceTokenizer.from_dict(pre.config["tokenizer"])
    objective = domains.get("dna").build_objective(ObjectiveConfig(), tokenizer, pre.model.hidden_size)
    state = load_lightning_checkpoint(run / "checkpoints/last.ckpt")["state_dict"]
    objective.load_state_dict(
        {k[len("objective.") :]: v for k, v in state.items() if k.startswith("objective.")}
    )
    objective.eval()
    text = data.read_text().split("\n")
    records = [text[1], text[3]]
    windows = [r[i : i + 32] for r in records for i in range(0, len(r), 32)]
    losses, counts, hits = [], [], []
    with torch.no_grad():
        for w in windows:
            codes = np.array([tokenizer.alphabet.symbols.index(c) for c in w], dtype=np.uint8)
            batch = tokenizer.batch([codes], 32)
            seed = window_seed(0, codes)
            loss, m = objective(pre.model, batch, generator=torch.Generator().manual_seed(seed))
            _, targets = objective.corrupt(
                batch["input_ids"], batch["attention_mask"], torch.Generator().manual_seed(seed)
            )
            n = int((targets != IGNORE).sum())
            losses.append(float(loss) * n), counts.append(n), hits.append(float(m["accuracy"]) * n)
    assert metrics["tokens_scored"] == sum(counts) and metrics["windows"] == len(windows) == 6
    assert metrics["loss_nats"] == pytest.approx(sum(losses) / sum(counts), rel=1e-5)
    assert metrics["accuracy"] == pytest.approx(sum(hits) / sum(counts), abs=1e-6)
    # order-0 entropy of the file's bases
    counts4 = np.array([sum(r.count(c) for r in records) for c in "ACGT"], float)
    p = counts4 / counts4.sum()
    assert metrics["order0_entropy_nats"] == pytest.approx(float(-(p * np.log(p)).sum()), rel=1e-9)
    # the masks are the window's, not the batch's: any batch size scores the same
    assert main(["evaluate", str(run), "--data", str(data), "--out", str(tmp_path / "b64")]) == 0
    again = json.loads((tmp_path / "b64/metrics.json").read_text())
    assert again["loss_nats"] == pytest.approx(metrics["loss_nats"], rel=1e-5)
    # nor the file's order: the same records the other way round (seeded by position, 3 points of
    # accuracy apart)
    reverse = d / "reverse.fa"
    reverse.write_text(f">b\n{records[1]}\n>a\n{records[0]}\n")
    assert main(["evaluate", str(run), "--data", str(reverse), "--out", str(tmp_path / "rev")]) == 0
    flipped = json.loads((tmp_path / "rev/metrics.json").read_text())
    assert flipped["loss_nats"] == pytest.approx(metrics["loss_nats"], rel=1e-5)
    assert flipped["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-9)


def test_unknown_residues_are_context_never_scored(dna, tmp_path):
    # an assembly gap after a record: its Ns were masked and scored (5.4 nats against 1.3 without
    # them, beside an order-0 entropy of the known bases alone); now the gap adds nothing to score
    d, run = dna
    alone = fasta(d / "known.fa", [96], 8)
    gapped = d / "gapped.fa"
    gapped.write_text(alone.read_text() + ">gap\n" + "N" * 96 + "\n")
    scores = []
    for data in (alone, gapped):
        assert main(["evaluate", str(run), "--data", str(data), "--out", str(tmp_path / data.stem)]) == 0
        scores.append(json.loads((tmp_path / data.stem / "metrics.json").read_text()))
    assert scores[1]["windows"] == scores[0]["windows"] + 3
    assert scores[1]["tokens_scored"] == scores[0]["tokens_scored"] > 0
    assert scores[1]["loss_nats"] == scores[0]["loss_nats"]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("nope.fa", None, "{d}/nope.fa: file not found"),
        ("empty.fa", "", "{d}/empty.fa: file is empty (expected FASTA records)"),
        ("text.fa", "hello\n", "{d}/text.fa: no FASTA records (expected lines starting with '>')"),
        (
            "gaps.fa",
            ">gap\n" + "N" * 200 + "\n>ambiguous\n" + "RYKM" * 30 + "\n",
            "{d}/gaps.fa: every residue is unknown (N, R, Y, S, W, K, M, B, D, H, V), and unknown residues "
            "are never scored: nothing to evaluate",
        ),
    ],
)
def test_bad_fasta_exits_2_with_one_line_and_no_evaluations_folder(
    dna, tmp_path, capsys, name, content, message
):
    run = fresh_copy(dna[1], tmp_path)
    report = (run / "report.md").read_bytes()
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert main(["evaluate", str(run), "--data", str(path)]) == 2
    assert capsys.readouterr().err.strip() == "scipt: error: " + message.format(d=tmp_path)
    assert not (run / "evaluations").exists() and (run / "report.md").read_bytes() == report


def test_molecules_pretraining_run_is_scored_on_energies_and_forces(tmp_path, capsys):
    run = tmp_path / "pre"
    assert (
        main(
            [
                "pretrain",
                "molecules",
                "--data",
                str(SHIPPED / "train.xyz"),
                "--data.max-frames",
                "16",
                "--max-steps",
                "2",
                "--batch-size",
                "4",
                "--val-every",
                "2",
                "--val-batches",
                "1",
                "--fisher.frames",
                "0",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    before = (run / "metrics.json").read_bytes()
    frames = read(SHIPPED / "test_MD.xyz", index=":4")
    data = tmp_path / "test_MD.xyz"
    write(data, frames)
    assert main(["evaluate", str(run), "--data", str(data)]) == 0
    metrics = json.loads((run / "evaluations/test_MD/metrics.json").read_text())
    assert (run / "metrics.json").read_bytes() == before
    # by hand, from the model's own predictions (the ASE calculator of the export)
    calc = SciPTCalculator(run)
    e_err, f_err, f_o = [], [], []
    for atoms in frames:
        true_e, true_f = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = calc
        e_err.append((atoms.get_potential_energy() - true_e) / len(atoms))
        err = atoms.get_forces() - true_f
        f_err.append(err.ravel())
        f_o.append(err[atoms.numbers == 8].ravel())
    e_err, f_err, f_o = np.array(e_err) * 1000, np.concatenate(f_err) * 1000, np.concatenate(f_o) * 1000
    assert metrics["frames"] == 4 and metrics["atoms"] == 36
    assert metrics["energy_mae_meV_per_atom"] == pytest.approx(np.abs(e_err).mean(), rel=1e-6)
    assert metrics["energy_rmse_meV_per_atom"] == pytest.approx(np.sqrt((e_err**2).mean()), rel=1e-6)
    assert metrics["forces_mae_meV_per_A"] == pytest.approx(np.abs(f_err).mean(), rel=1e-5)
    assert metrics["forces_rmse_meV_per_A"] == pytest.approx(np.sqrt((f_err**2).mean()), rel=1e-5)
    assert metrics["forces_rmse_meV_per_A_O"] == pytest.approx(np.sqrt((f_o**2).mean()), rel=1e-5)
    folder = run / "evaluations/test_MD"
    assert (folder / "plots/parity_energy.png").is_file() and (folder / "plots/parity_forces.png").is_file()
    assert "objective: energy_forces" in (folder / "report.md").read_text()
    assert "](evaluations/test_MD/report.md)" in (run / "report.md").read_text()


def test_molecules_stress_errors_where_the_frames_carry_a_stress(tmp_path, capsys):
    """A run trained on stresses (periodic frames) is scored on them: MAE and RMSE over the Voigt
    components of the frames with a cell volume and a stress, equal to a hand computation from the
    ASE calculator's stress; a molecule among them adds none."""
    rng = np.random.default_rng(0)
    frames = read(SHIPPED / "train.xyz", index=":12")
    for atoms in frames[:-1]:
        # ethanol in a box, with a made-up stress: the run fits whatever label it is given
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.set_cell(np.diag([9.0, 9.5, 10.0]))
        atoms.pbc = True
        atoms.calc = SinglePointCalculator(
            atoms, energy=energy, forces=forces, stress=rng.normal(0.0, 0.01, 6)
        )
    train, held = tmp_path / "boxed.xyz", tmp_path / "held.xyz"
    write(train, frames[:8])
    write(held, frames[8:])
    run = tmp_path / "pre"
    flags = ["--max-steps", "2", "--batch-size", "4", "--val-every", "2", "--val-batches", "1"]
    args = ["--data.stress-key", "stress", "--objective.stress-weight", "1", "--fisher.frames", "0"]
    assert main(["pretrain", "molecules", "--data", str(train), *flags, *args, "--out", str(run)]) == 0
    assert main(["evaluate", str(run), "--data", str(held)]) == 0
    metrics = json.loads((run / "evaluations/held/metrics.json").read_text())
    calc = SciPTCalculator(run)
    errors = []
    for atoms in read(held, index=":3"):
        label = atoms.get_stress()  # Voigt: xx, yy, zz, yz, xz, xy
        atoms.calc = calc
        errors.append(atoms.get_stress() - label)
    errors = np.concatenate(errors)
    assert metrics["frames"] == 4 and metrics["stress_frames"] == 3
    assert metrics["stress_mae_eV_per_A3"] == pytest.approx(np.abs(errors).mean(), rel=1e-5)
    assert metrics["stress_rmse_eV_per_A3"] == pytest.approx(np.sqrt((errors**2).mean()), rel=1e-5)
    report = (run / "evaluations/held/report.md").read_text()
    assert (
        "Stress, 3 frames with a stress label, over the Voigt components (xx, yy, zz, yz, xz, xy, "
        f"ASE's sign convention): MAE {metrics['stress_mae_eV_per_A3']:.3g} eV/Å³, "
        f"RMSE {metrics['stress_rmse_eV_per_A3']:.3g} eV/Å³"
    ) in report
    # a periodic frame without a stress label is scored on energy and forces alone
    unlabelled = read(held, index=0)
    unlabelled.calc = SinglePointCalculator(
        unlabelled, energy=unlabelled.get_potential_energy(), forces=unlabelled.get_forces()
    )
    write(tmp_path / "nostress.xyz", [unlabelled, *read(held, index="1:")])
    assert main(["evaluate", str(run), "--data", str(tmp_path / "nostress.xyz")]) == 0
    assert json.loads((run / "evaluations/nostress/metrics.json").read_text())["stress_frames"] == 2
    # and --stress-key none leaves stress out altogether
    out = tmp_path / "without"
    assert main(["evaluate", str(run), "--data", str(held), "--stress-key", "none", "--out", str(out)]) == 0
    without = json.loads((out / "metrics.json").read_text())
    assert "stress_frames" not in without and without["frames"] == 4


def test_surrogates_pretraining_run_scores_its_prior(tmp_path, capsys):
    run = tmp_path / "prior"
    assert main(["pretrain", "surrogates", "--out", str(run)]) == 0
    # the report gives what reproduces the prior from its table: each system's weight, and ranges
    # as the sources give them (1e+04 for Dipprey-Sabersky's 14,000 rounded outward)
    report = (run / "report.md").read_text()
    systems = [
        line.split(" | ") for line in report.splitlines() if line.startswith("| ") and line.count(" | ") == 9
    ]
    rows = [row for row in systems if row[0].startswith("| dipprey-sabersky@")]
    assert rows and all(row[3] == "14000-500000" for row in rows)
    weights = [float(row[-1].rstrip(" |")) for row in systems[1:]]  # below the header (and its rule)
    assert len(weights) == 58 and sum(weights) == pytest.approx(1, abs=58 * 5e-5)  # 4 decimals each
    assert "Weighted mean of the per-system fits, every correlation weighted alike" in report
    held = tmp_path / "held.csv"
    held.write_text("Re,Pr,Nu\n61733.3,0.7,416.6\n77183.5,0.7,483.66\n90068.8,0.7,519.67\n")
    before = (run / "metrics.json").read_bytes()
    assert main(["evaluate", str(run), "--data", str(held), "--interval-level", "0.5"]) == 0
    metrics = json.loads((run / "evaluations/held/metrics.json").read_text())
    assert metrics["eval_points"] == 3 and metrics["eval_interval_level"] == 0.5
    # ribbed-channel points lie well above the smooth-surface textbook laws the prior comes from
    assert 0 <= metrics["eval_coverage"] <= 1 and 10 < metrics["eval_mape"] < 100
    assert (run / "evaluations/held/plots/evaluate.png").is_file()
    assert (run / "metrics.json").read_bytes() == before


def test_windows_the_contamination_check_cannot_read_are_counted_and_explained(dna, capsys):
    d, run = dna
    seq = "".join(np.random.default_rng(4).choice(list("ACGT"), 64))
    (d / "gappy.fa").write_text(f">ok\n{seq}\n>gap\n{'N' * 20}\n")  # the gap: one window
    assert main(["evaluate", str(run), "--data", str(d / "gappy.fa")]) == 0
    saved = json.loads((run / "evaluations/gappy/metrics.json").read_text())
    assert saved["contamination_unchecked"] == 1
    assert (
        "1 window(s) could not be checked for contamination (`contamination_unchecked`: no run of k known "
        "residues, k the check's k-mer length) and count as clean."
    ) in (run / "evaluations/gappy/report.md").read_text()
