import numpy as np
import pytest

from sciPT.domains.dna.data import read_labelled, read_pair
from sciPT.errors import ConfigError, DataError
from sciPT.run import RunDir
from sciPT.tasks.promoter import PromoterConfig
from sciPT.tasks.promoter_checks import validate
from sciPT.tasks.promoter_evaluation import cross_validate
from sciPT.tasks.promoter_report import on_top_lines
from sciPT.tasks.promoter_start import load_start


# --- input formats --------------------------------------------------------------------------
def test_csv_tsv_fasta_and_pair_agree(tmp_path):
    (tmp_path / "a.csv").write_text("id,seq,is_promoter\nx,ACGT,1\ny,ggcc,0\n")
    (tmp_path / "a.tsv").write_text("id\tseq\tis_promoter\nx\tACGT\t+\ny\tggcc\t-\n")
    (tmp_path / "a.fa").write_text(">x label=1\nAC\nGT\n>y some text label=0\nGGCC\n")
    (tmp_path / "pos.fa").write_text(">x\nACGT\n")
    (tmp_path / "neg.fa").write_text(">y\nggcc\n")
    kw = dict(labelled=True, sequence_column="seq", label_column="is_promoter")
    sets = [
        read_labelled(tmp_path / "a.csv", **kw),
        read_labelled(tmp_path / "a.tsv", **kw),
        read_labelled(tmp_path / "a.fa", labelled=True),
        read_pair(tmp_path / "pos.fa", tmp_path / "neg.fa"),
    ]
    for s in sets:
        assert s.names == ["x", "y"] and s.labels.tolist() == [1, 0]
        assert [c.tolist() for c in s.codes] == [[0, 1, 2, 3], [2, 2, 1, 1]]


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "name,sequence,label\na,ACGT,1\nb,ACGT,1\n",
            "{p}: only one class (label 1, 2 records); expected both promoters (1) and non-promoters (0)",
        ),
        (
            "name,sequence,label\na,ACGT,1\nb,ACGT,2\n",
            "{p}: record 'b' (line 3) has label '2'; expected 0/1 (or +/-, promoter/non-promoter, "
            "positive/negative, true/false, yes/no)",
        ),
        (
            "name,sequence,label\na,ACGT,1\nb,ACRT,0\n",
            "{p}: record 'b' (line 3) has 'R' at position 3; expected A, C, G, T or N (either case)",
        ),
        (
            "name,seq,label\na,ACGT,1\n",
            "{p}: no column 'sequence' (columns: name, seq, label); name it with --sequence-column / --label-column",
        ),
    ],
)
def test_bad_labelled_input(tmp_path, content, message):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(DataError) as err:
        read_labelled(p, labelled=True)
    assert str(err.value) == message.format(p=p)


def test_fasta_without_label(tmp_path):
    p = tmp_path / "x.fa"
    p.write_text(">a\nACGT\n")
    with pytest.raises(DataError, match=r"record 'a' \(#1\) has no 'label=0' or 'label=1' in its header$"):
        read_labelled(p, labelled=True)


def test_cross_validation_learns_a_planted_motif(planted, fast_cfg):
    path, rows = planted
    data = read_labelled(path, labelled=True)
    cfg = fast_cfg(folds=3)
    starts = {"scratch": load_start("none", cfg)}
    out = cross_validate(starts, cfg, data, 30, classical=True)
    for p, per_fold in out.values():
        assert len(per_fold) == 3
        assert not np.isnan(p).any()  # every sequence received an out-of-fold prediction
        assert np.all((p >= 0) & (p <= 1))
    acc = np.mean([m["accuracy"] for m in out["scratch"][1]])
    assert acc > 0.85, acc
    # 20 training sequences a fold: each member's early-stopping split is too small for a stack
    assert out["scratch"][1][0]["on_top"] == {
        "likelihood fusion": (False, False),
        "k-mer stack": (False, False),
        "CNN stack": (False, False),
    }
    assert on_top_lines({"scratch": out["scratch"]}) == [
        "",
        "On top of the fine-tuned classifiers in the folds: scratch: likelihood fusion fitted in 0 of 3 "
        "folds, kept in 0, k-mer stack fitted in 0 of 3 folds, kept in 0, CNN stack fitted in 0 of 3 "
        "folds, kept in 0.",
    ]


def test_ensemble_size_is_checked():
    with pytest.raises(ConfigError) as err:
        validate(PromoterConfig(ensemble=0))
    assert str(err.value) == "ensemble: expected a positive number of fine-tunes, got 0"


@pytest.mark.parametrize(
    "k, threshold, message",
    [
        (0, 0.5, "contamination_k: expected an integer from 1 to 31 for an alphabet of 4 residues, got 0"),
        (16, 2.0, "contamination_threshold: expected a fraction in (0, 1], got 2"),
    ],
)
def test_the_contamination_check_parameters_are_checked_before_any_fit(k, threshold, message):
    # they were checked by the check itself, after the cross-validation had trained
    with pytest.raises(ConfigError) as err:
        validate(PromoterConfig(contamination_k=k, contamination_threshold=threshold))
    assert str(err.value) == message


@pytest.mark.parametrize(
    "key, value, flag", [("devices", 2, "--devices"), ("strategy", "ddp", "--ddp-strategy")]
)
def test_a_training_key_the_fine_tunes_ignore_is_refused_by_the_flag_a_user_types(key, value, flag):
    cfg = PromoterConfig()
    setattr(cfg.train, key, value)
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert str(err.value) == (
        f"{flag}: not used by finetune promoter (each model is fitted on one device and validated "
        "once an epoch)"
    )


# --- sample efficiency --------------------------------------------------------------------------
class _Oracle:
    """Stands in for a fine-tuned classifier: right on every sequence, or always 'promoter'."""

    def __init__(self, truth: dict, perfect: bool):
        self.truth, self.perfect = truth, perfect

    def predict(self, codes):
        return np.array([self.truth[c.tobytes()] if self.perfect else 1.0 for c in codes], dtype=float)


def test_sample_efficiency_trains_on_stratified_subsets_of_a_fixed_pool(tmp_path, monkeypatch):
    import sciPT.tasks.promoter_evaluation as evaluation
    from sciPT.domains.dna.data import LabelledSequences

    rng = np.random.default_rng(0)
    # 100 distinct sequences, 40 promoters: a pool of 80 (32 + 48) and a held-out 20 (8 + 12)
    codes = [rng.integers(0, 4, 12).astype(np.uint8) for _ in range(100)]
    labels = np.array([1] * 40 + [0] * 60)
    data = LabelledSequences([f"s{i}" for i in range(100)], codes, labels, "planted")
    truth = {c.tobytes(): float(y) for c, y in zip(codes, labels)}
    seen = []

    def fake_train(start, cfg, subset, length, seed):
        seen.append((start, seed, len(subset), int(subset.labels.sum()), tuple(subset.names)))
        return _Oracle(truth, perfect=start == "good")

    monkeypatch.setattr(evaluation, "train_classifier", fake_train)
    cfg = PromoterConfig(label_fractions=[1.0, 0.25], fraction_seeds=2)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    metrics = {}
    lines = evaluation.sample_efficiency({"good": "good", "naive": "naive"}, cfg, data, 12, run, metrics)
    # fractions in increasing order; per seed, both starts see the same subset
    sizes = [(start, seed, n, pos) for start, seed, n, pos, _ in seen]
    assert sizes == [
        ("good", 0, 20, 8),
        ("naive", 0, 20, 8),
        ("good", 1, 20, 8),
        ("naive", 1, 20, 8),
        ("good", 0, 80, 32),
        ("naive", 0, 80, 32),
        ("good", 1, 80, 32),
        ("naive", 1, 80, 32),
    ]
    assert seen[0][4] == seen[1][4] and seen[0][4] != seen[2][4]
    assert seen[4][4] == seen[6][4]  # all of the pool, whatever the seed
    assert len(set().union(*(names for *_, names in seen))) == 80
    # the held-out 20 never trains: 8 promoters, so always answering 'promoter' scores 8/20
    assert metrics == {
        "fraction_0.25_good_accuracy_mean": 1.0,
        "fraction_0.25_naive_accuracy_mean": 0.4,
        "fraction_1_good_accuracy_mean": 1.0,
        "fraction_1_naive_accuracy_mean": 0.4,
    }
    assert "| 0.25 | 1.000 ± 0.000 | 0.400 ± 0.000 |" in lines
    assert (run.path / "plots" / "sample_efficiency.png").stat().st_size > 0
    # another --seed draws other subsets and other fine-tune seeds (only the pool moved before)
    seen.clear()
    cfg.train.seed = 7
    evaluation.sample_efficiency({"good": "good"}, cfg, data, 12, run, {})
    assert [seed for _, seed, *_ in seen] == [7, 8, 7, 8]


# --- verdicts: near chance, behind the k-mer baseline, negative transfer ------------------------
def test_negative_transfer_leads_the_report(planted, tmp_path, monkeypatch, fast_cfg):
    """A stand-in 'pre-trained' classifier, wrong on a quarter of the sequences, against a perfect
    stand-in scratch: the report's first lines say negative transfer, and metrics.json has -1."""
    import json

    import sciPT.tasks.promoter_evaluation as evaluation
    import sciPT.tasks.promoter_train as promoter

    path, rows = planted
    truth = {tuple("ACGT".index(ch) for ch in seq): (y, i) for i, (_, seq, y) in enumerate(rows)}

    class StandIn:
        fusion = fitted_fusion = stack = fitted_stack = cnn_stack = fitted_cnn_stack = None
        validation = (np.array([1, 0]), np.array([0.9, 0.1]))  # its early-stopping split

        def __init__(self, good: bool):
            self.good = good

        def predict(self, codes):
            out = []
            for c in codes:
                y, i = truth[tuple(c.tolist())]
                out.append(float(y if self.good or i % 4 else 1 - y))
            return np.array(out)

    real_load_start = promoter.load_start

    def pretrained_start(init, cfg):
        start = real_load_start("none", cfg)
        start.name = "pre-trained"
        return start

    monkeypatch.setattr(promoter, "load_start", pretrained_start)

    def stand_in(start, *args, **kwargs):
        return StandIn(start.name == "scratch")

    monkeypatch.setattr(promoter, "train_classifier", stand_in)  # the final model
    monkeypatch.setattr(evaluation, "train_classifier", stand_in)  # the folds' models
    monkeypatch.setattr(promoter, "export_classifier", lambda *a: None)
    cfg = fast_cfg(folds=3)
    cfg.inputs.train = str(path)
    assert promoter.run_finetune(cfg, tmp_path / "run") == 0
    report = (tmp_path / "run" / "report.md").read_text().splitlines()
    top = report[: report.index("") + 1 + report[report.index("") + 1 :].index("")]
    assert report[0] == "# Promoter prediction" and top[-1].startswith("- Rules: *near chance*")
    assert (
        "- **Negative transfer**: the pre-trained start is behind scratch: MCC 0.576 ± 0.078 vs "
        "1.000 ± 0.000, per-fold difference -0.424 ± 0.078, beyond 2 SE."
    ) in top
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["pre_trained_vs_scratch_mcc_verdict"] == -1 and metrics["scratch_mcc_se"] == 0
    assert metrics["pre_trained_near_chance"] == 0 and "kmer_lr_mcc_fold3" in metrics
    # the CNN finds the planted motif nearly as well as the perfect stand-in (tied with it over 3
    # folds), so the simpler of the two is recommended
    assert 0.8 < metrics["cnn_mcc_mean"] < 1 and metrics["pre_trained_vs_cnn_mcc_verdict"] == -1
    assert metrics["recommended_cnn"] == 1 and metrics["recommended_pre_trained"] == 0


def test_the_run_counts_near_copies_with_its_own_k_and_threshold(planted, tmp_path, monkeypatch, fast_cfg):
    """A --test set of the training sequences cut again 2 bases along (each with 2 new bases at
    its end): no test sequence occurs in the training data, but of a 30-bp sequence's 15 16-mers
    the shifted copy shares 13 (0.87), and of its 7 24-mers 5 (0.71). The run's own
    contamination_k and contamination_threshold decide: 16-mers at 0.5 and 24-mers at 0.7 count all
    ten, 24-mers at 0.75 none. The planted training set has no near copies (random 30-mers)."""
    import json

    import sciPT.tasks.promoter_train as promoter

    path, rows = planted
    rng = np.random.default_rng(5)
    shifted = [seq[2:] + "".join(rng.choice(list("ACGT"), 2)) for _, seq, _ in rows[:10]]
    test = tmp_path / "shifted.csv"
    test.write_text("sequence,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(shifted)))

    class Constant:
        fusion = fitted_fusion = stack = fitted_stack = cnn_stack = fitted_cnn_stack = None
        validation = (np.array([1, 0]), np.array([0.9, 0.1]))

        def predict(self, codes):
            return np.full(len(codes), 0.5)

    monkeypatch.setattr(promoter, "train_classifier", lambda *a, **k: Constant())
    monkeypatch.setattr(promoter, "export_classifier", lambda *a: None)
    counts = {}
    for k, threshold in ((16, 0.5), (24, 0.7), (24, 0.75)):
        cfg = fast_cfg(contamination_k=k, contamination_threshold=threshold, baselines=False)
        cfg.inputs.train, cfg.inputs.test = str(path), str(test)
        out = tmp_path / f"run_{k}_{threshold}"
        assert promoter.run_finetune(cfg, out) == 0
        metrics = json.loads((out / "metrics.json").read_text())
        counts[k, threshold] = (
            metrics["near_copies"],
            metrics["test_in_training"],
            metrics["test_near_training"],
        )
    assert counts == {(16, 0.5): (0, 0, 10), (24, 0.7): (0, 0, 10), (24, 0.75): (0, 0, 0)}


def test_the_kmer_baseline_chooses_its_regularisation_on_each_training_part(planted, monkeypatch, fast_cfg):
    from sciPT.domains.dna import kmer

    path, _ = planted
    data = read_labelled(path, labelled=True)
    sizes = []

    def chosen(x, y, **kwargs):
        sizes.append(len(y))
        return 0.5

    monkeypatch.setattr(kmer, "cross_validated_c", chosen)
    out = cross_validate({}, fast_cfg(folds=3), data, 30, classical=True)
    # three folds, each baseline's C chosen on that fold's training part only: every sequence is in
    # two of the three training parts
    assert len(sizes) == 3 and sum(sizes) == 2 * len(data)
    assert len(out["k-mer LR"][1]) == 3


def test_the_input_length_is_the_longest_training_sequence_within_what_the_encoder_reads():
    """inputs.max_length 0 reads the longest training sequence (50 of 20, 30 and 50 bp: none
    cropped, the shorter padded), a given length as given, and never beyond the encoder's cap."""
    from sciPT.tasks.promoter_train import input_length

    codes = [np.zeros(n, np.uint8) for n in (20, 30, 50)]
    assert input_length(0, codes, 66) == 50
    assert input_length(40, codes, 66) == 40
    assert input_length(0, codes, 45) == 45 and input_length(80, codes, 66) == 66


# --- the task plugin: lazy exports, flags, and the order of checks and fitting ------------------
def test_the_fitting_code_is_exported_lazily_and_an_unknown_name_is_refused():
    """``run_finetune`` and ``read_training_data`` (in ``__all__``) load from the fitting module on
    first use; any other missing name is an ``AttributeError`` naming the module, as Python's own
    is, so ``hasattr`` and ``getattr(..., default)`` keep working on the module."""
    import sciPT.tasks.promoter as promoter
    import sciPT.tasks.promoter_train as promoter_train

    assert {"run_finetune", "read_training_data"} <= set(promoter.__all__)
    assert promoter.run_finetune is promoter_train.run_finetune
    assert promoter.read_training_data is promoter_train.read_training_data
    with pytest.raises(AttributeError) as err:
        promoter.train_classifier  # noqa: B018
    assert str(err.value) == "module 'sciPT.tasks.promoter' has no attribute 'train_classifier'"
    assert not hasattr(promoter, "train_classifier")


def finetune_parser():
    import argparse

    from sciPT.tasks.promoter import task

    parser = argparse.ArgumentParser()
    task.add_finetune_arguments(parser)
    return parser


def test_each_promoter_flag_sets_the_key_it_names(tmp_path):
    """The short flags the docstring and README use (--train, --val, --test, --positives,
    --negatives, the column flags, --strategy, --ddp-strategy) and the --no-* switches each set
    their own config key; a flag landing on a neighbour's key would train on the wrong file."""
    from sciPT.runconfig import resolve_config
    from sciPT.tasks.promoter import task
    from sciPT.tasks.promoter_fits import kept_fits

    parser = finetune_parser()
    assert parser.parse_args([]).out == "runs/promoter"
    args = parser.parse_args(
        ["--train", "t.csv", "--val", "v.csv", "--test", "x.csv", "--positives", "p.fa"]
        + ["--negatives", "n.fa", "--sequence-column", "seq", "--label-column", "y"]
        + ["--strategy", "freeze", "--ddp-strategy", "ddp", "--no-baselines", "--no-naturalness"]
        + ["--no-kmer-stack", "--no-cnn-stack", "--out", str(tmp_path / "run")]
    )
    # a run stopped mid-way says what it keeps: its completed fits (none here)
    assert args.kept_after_stop is kept_fits
    cfg = resolve_config(task, args, args.table)
    i = cfg.inputs
    assert (i.train, i.val, i.test, i.positives, i.negatives) == ("t.csv", "v.csv", "x.csv", "p.fa", "n.fa")
    assert (i.sequence_column, i.label_column) == ("seq", "y")
    assert (cfg.finetune.strategy, cfg.train.strategy) == ("freeze", "ddp")
    assert (cfg.baselines, cfg.naturalness, cfg.kmer_stack, cfg.cnn_stack) == (False, False, False, False)
    # without the switches all four are on (the defaults the README states)
    cfg = resolve_config(task, parser.parse_args(["--out", str(tmp_path / "other")]), args.table)
    assert (cfg.baselines, cfg.naturalness, cfg.kmer_stack, cfg.cnn_stack) == (True, True, True, True)


def test_finetune_checks_the_settings_before_the_fitting_code_runs(tmp_path, monkeypatch):
    """A wrong value is refused by the task itself (the fitting code never called), and a right
    one is handed to the fitting code with the run folder and --resume."""
    import sciPT.tasks.promoter_train as promoter_train
    from sciPT.tasks.promoter import task

    calls = []
    monkeypatch.setattr(
        promoter_train, "run_finetune", lambda cfg, out, resume: calls.append((cfg, out, resume)) or 0
    )
    out = str(tmp_path / "run")
    args = finetune_parser().parse_args(["--train", "t.csv", "--lr", "-1", "--out", out])
    with pytest.raises(ConfigError) as err:
        task.finetune(args)
    assert str(err.value) == "train.lr: expected a positive learning rate, got -1.0"
    assert calls == []
    args = finetune_parser().parse_args(["--train", "t.csv", "--lr", "0.01", "--resume", "--out", out])
    assert task.finetune(args) == 0
    [(cfg, where, resume)] = calls
    assert (cfg.inputs.train, cfg.train.lr, where, resume) == ("t.csv", 0.01, out, True)


def test_evaluate_checks_contamination_with_the_runs_own_k_and_threshold(tmp_path, monkeypatch):
    """``scipt evaluate`` repeats the run's contamination check as the run made it: a run fine-tuned
    with contamination_k 12 and threshold 0.8 is checked with those, not the defaults (16, 0.5),
    or evaluate and the run's report would count different sequences as nearly in the corpus."""
    import argparse

    import sciPT.tasks.promoter_evaluation as evaluation
    import sciPT.tasks.promoter_export as export
    from sciPT.tasks.promoter import task

    class StandIn:
        min_residues, length = 1, 4

        def predict(self, codes):
            return np.full(len(codes), 0.5)

    class Checked(Exception):
        pass

    def contamination_lines(corpus, data, k, threshold, *rest):
        raise Checked(corpus, k, threshold)

    monkeypatch.setattr(export, "load_classifier", lambda path: (StandIn(), {"pretrained_on": ["c.fa"]}))
    monkeypatch.setattr(evaluation, "contamination_lines", contamination_lines)
    data = tmp_path / "eval.csv"
    data.write_text("sequence,label\nACGT,1\nGGCC,0\n")
    args = argparse.Namespace(data=str(data), sequence_column="sequence", label_column="label")
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.config.write_text("task: promoter\ncontamination_k: 12\ncontamination_threshold: 0.8\n")
    with pytest.raises(Checked) as checked:
        task.evaluate(run, args)
    assert checked.value.args == (["c.fa"], 12, 0.8)
    run.config.write_text("task: promoter\n")  # a run that recorded neither: the defaults
    with pytest.raises(Checked) as checked:
        task.evaluate(run, args)
    assert checked.value.args == (["c.fa"], 16, 0.5)


def test_predict_embed_writes_the_pretrained_models_columns_and_warns_of_repeated_names(
    tmp_path, monkeypatch, capsys
):
    """``predict --embed`` of a promoter run writes ``name, e0, e1, ...``, the columns a pre-training
    run's ``predict --embed`` writes (``sciPT.sequence_domain``), so tables from the two line up, at
    6 significant figures, in the input's order; names that repeat are warned of on stderr, as a
    join by name would put rows on the wrong sequence."""
    import argparse

    import sciPT.tasks.promoter_export as export
    from sciPT.tasks.promoter import task

    class StandIn:
        min_residues, length = 1, 4

        def embed(self, codes):
            return np.array([[len(c) + 0.1234567, -2.0, 1e-7] for c in codes])

    monkeypatch.setattr(export, "load_classifier", lambda path: (StandIn(), {}))
    queries = tmp_path / "q.fa"
    queries.write_text(">a\nACGT\n>b\nACG\n>a\nGGCC\n")
    out = tmp_path / "emb.csv"
    args = argparse.Namespace(input=str(queries), sequence_column="sequence", output=str(out), embed=True)
    assert task.predict(RunDir(tmp_path / "run"), args) == 0
    assert out.read_text().splitlines() == [
        "name,e0,e1,e2",
        "a,4.12346,-2,1e-07",
        "b,3.12346,-2,1e-07",
        "a,4.12346,-2,1e-07",
    ]
    err = capsys.readouterr().err
    assert (
        f"warning: {queries}: 1 name(s) occur more than once ('a'; 2 rows): "
        "the output keeps the input's order, so join it by row, not by name"
    ) in err
    assert f"wrote 3 embeddings of dimension 3 to {out}" in err
