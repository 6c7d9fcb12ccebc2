"""A fine-tuned promoter classifier on disk (``export_classifier``, ``load_classifier``) and the record
of its training sequences (``sequence_hashes``, ``training_record``, ``read_training_record``)."""

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from sciPT.checkpoint import export_model
from sciPT.domains.dna.tokenizer import encode
from sciPT.errors import UserError
from sciPT.nn.classifier import HeadConfig, SequenceClassifier
from sciPT.run import RunDir
from sciPT.tasks.promoter_classifier import Classifier, build_head
from sciPT.tasks.promoter_export import (
    export_classifier,
    load_classifier,
    read_training_record,
    sequence_hashes,
    training_record,
)
from sciPT.tasks.promoter_start import Start, load_start

CORPUS = [{"path": "/data/genome.fa", "sha256": "cd" * 32, "records": 2}]


def _hash(text: str) -> int:
    """HASH_SCHEME by hand: the first 8 bytes of the SHA-256, read big-endian."""
    return int.from_bytes(hashlib.sha256(text.encode("ascii")).digest()[:8], "big")


# --- the record of the training sequences -------------------------------------------------------
def test_a_sequence_hash_is_the_documented_sha256_prefix_of_its_canonical_strand():
    """The record is a published format (anyone may hash their own sequences to compare): the
    SHA-256 of the upper-case letters of the smaller strand (A<C<G<T<N), first 8 bytes big-endian.
    TTGG's reverse complement CCAA is the smaller; AACC is smaller than its GGTT; NACG's reverse
    complement CGTN is smaller (C < N); ACGN is smaller than its NCGT."""
    codes = [encode(s) for s in ("AACC", "GGTT", "TTGG", "NACG", "ACGN")]
    expected = [_hash(s) for s in ("AACC", "AACC", "CCAA", "CGTN", "ACGN")]
    hashes = sequence_hashes(codes)
    assert hashes.dtype == np.uint64 and hashes.tolist() == expected


def test_the_training_record_is_sorted_distinct_hashes_tied_to_its_bytes():
    """Three sequences, one given on both strands: two distinct, stored sorted, and the config's
    SHA-256 that of the very bytes written (evaluate reads no record but the one its export wrote)."""
    from safetensors.numpy import load

    codes = [encode(s) for s in ("TTGG", "CCAA", "AACC")]
    data, recorded = training_record(codes)
    assert recorded == {
        "file": "training_sequences.safetensors",
        "distinct": 2,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert load(data)["sha256_64"].tolist() == sorted([_hash("CCAA"), _hash("AACC")])


def _exported_with_record(tmp_path, codes):
    """A folder RUN/model holding an export and its record of ``codes``; returns (RUN, config)."""
    data, recorded = training_record(codes)
    model = tmp_path / "run" / "model"
    config = {"domain": "dna", "task": "promoter", "training_sequences": recorded}
    export_model(model, torch.nn.Linear(1, 1), config)
    (model / recorded["file"]).write_bytes(data)
    return tmp_path / "run", config


def test_the_training_record_is_read_back_or_why_not_is_said(tmp_path):
    """evaluate's training-overlap line: the hashes from RUN or RUN/model, and otherwise one reason a
    user can act on (an old export, a record missing, replaced or damaged), never a traceback."""
    codes = [encode(s) for s in ("TTGG", "AACC", "ACGT")]
    run, config = _exported_with_record(tmp_path, codes)
    expected = np.unique(sequence_hashes(codes)).tolist()
    for path in (run, run / "model"):
        hashes, why = read_training_record(path, config)
        assert hashes.tolist() == expected and why == ""
    file = run / "model" / "training_sequences.safetensors"

    assert read_training_record(run, {"domain": "dna"}) == (
        None,
        "this model's export records no training sequences (it was exported before sciPT kept them)",
    )
    record = file.read_bytes()
    file.write_bytes(record[:-1])  # damaged: no longer the bytes its export wrote
    assert read_training_record(run, config) == (
        None,
        f"the record of its training sequences, {file}, is not the one its export wrote",
    )
    # bytes that match the config's digest but are no safetensors file
    config["training_sequences"]["sha256"] = hashlib.sha256(record[:-1]).hexdigest()
    assert read_training_record(run, config) == (
        None,
        f"the record of its training sequences, {file}, cannot be read",
    )
    file.unlink()
    assert read_training_record(run, config) == (
        None,
        f"the record of its training sequences, {file}, is missing",
    )


# --- the classifier on disk -----------------------------------------------------------------------
def _untrained(start: Start, length: int, strand_symmetric: bool, head: HeadConfig) -> Classifier:
    """A classifier with random weights, as a fine-tuning would leave it (no stacks)."""
    backbone = start.backbone(0)
    torch.manual_seed(1)
    n_tokens = start.tokenizer.n_tokens(length)
    model = SequenceClassifier(backbone, build_head(head, backbone, start.tokenizer, n_tokens))
    return Classifier(model.eval(), start.tokenizer, length, strand_symmetric)


def _sequences(n: int = 8, length: int = 30) -> list[np.ndarray]:
    rng = np.random.default_rng(4)
    return [rng.integers(0, 4, length).astype(np.uint8) for _ in range(n)]


def test_the_export_holds_what_predict_and_evaluate_read_and_loads_whole(tmp_path, fast_cfg):
    """What the export writes (length, strand option, head, corpus, start, the training record) is
    what predict, scan and evaluate read back: the loaded classifier predicts as the one exported,
    on both strands, and the provenance stays as the start recorded it."""
    cfg = fast_cfg(ensemble=1, strand_symmetric=True)
    cfg.init = "pre"  # a name only: what the report and config show as the start
    cfg.head = HeadConfig(pooling="flatten", hidden=8, dropout=0.5)
    scratch = load_start("none", cfg)
    start = Start(
        "pre-trained", scratch.backbone(0).state_dict(), scratch.model_cfg, scratch.tokenizer, CORPUS, {}
    )
    classifier = _untrained(start, 24, True, cfg.head)
    codes = _sequences()
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    export_classifier(run, classifier, start, cfg, 24, trained_on=codes + codes[:2])
    exported = json.loads((run.model / "config.json").read_text())
    assert {k: exported[k] for k in ("domain", "task", "length", "strand_symmetric", "init", "ensemble")} == {
        "domain": "dna",
        "task": "promoter",
        "length": 24,
        "strand_symmetric": True,
        "init": "pre",
        "ensemble": 1,
    }
    assert exported["pretrained_on"] == CORPUS
    head = exported["head"]
    assert (head["pooling"], head["hidden"], head["dropout"]) == ("flatten", 8, 0.5)
    assert exported["tokenizer"] == start.tokenizer.to_dict()
    assert (
        exported["model"]["d_model"] == 16 and exported["model"]["vocab_size"] == start.tokenizer.vocab_size
    )
    recorded = exported["training_sequences"]
    file = run.model / "training_sequences.safetensors"
    assert recorded["distinct"] == 8 and recorded["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
    assert sorted(p.name for p in run.model.iterdir()) == [
        "config.json",
        "model.safetensors",
        "training_sequences.safetensors",
    ]

    loaded, config = load_classifier(run.path)
    assert config == exported
    assert (loaded.length, loaded.strand_symmetric) == (24, True)
    assert not loaded.model.training  # dropout off: the same sequence, the same probability
    longer = _sequences(4, 31)  # cropped to 24, odd surplus: the strands' crops differ
    for seqs in (codes, longer):
        np.testing.assert_allclose(loaded.predict(seqs), classifier.predict(seqs), atol=1e-6)
    assert read_training_record(run.path, config)[0].tolist() == np.unique(sequence_hashes(codes)).tolist()


def test_the_export_keeps_a_start_without_a_corpus_as_it_is(tmp_path, fast_cfg):
    """``pretrained_on`` is [] for scratch (not pre-trained) and None for a corpus nobody recorded;
    evaluate's contamination line tells the two apart, so the export must not merge them. No
    ``trained_on``: no record, and no config entry naming one."""
    cfg = fast_cfg(ensemble=1)
    scratch = load_start("none", cfg)
    for pretrained_on in ([], None):
        start = replace(scratch, pretrained_on=pretrained_on)
        run = RunDir(tmp_path / f"run{pretrained_on}")
        run.path.mkdir()
        export_classifier(run, _untrained(start, 30, False, cfg.head), start, cfg, 30)
        exported = json.loads((run.model / "config.json").read_text())
        assert exported["pretrained_on"] == pretrained_on and exported["strand_symmetric"] is False
        assert "training_sequences" not in exported
        assert sorted(p.name for p in run.model.iterdir()) == ["config.json", "model.safetensors"]


def test_an_export_that_predates_ensembles_loads_as_one_model(tmp_path, fast_cfg):
    """Exports written before ensembles name no ``ensemble``: they hold one model, and load as one."""
    cfg = fast_cfg(ensemble=1)
    start = load_start("none", cfg)
    classifier = _untrained(start, 30, False, cfg.head)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    export_classifier(run, classifier, start, cfg, 30)
    config = json.loads((run.model / "config.json").read_text())
    del config["ensemble"]
    (run.model / "config.json").write_text(json.dumps(config))
    loaded, _ = load_classifier(run.path / "model")
    assert isinstance(loaded.model, SequenceClassifier)
    codes = _sequences()
    np.testing.assert_allclose(loaded.predict(codes), classifier.predict(codes), atol=1e-6)


def test_load_classifier_refuses_what_is_not_a_finished_promoter_classifier(tmp_path, fast_cfg):
    """predict or evaluate given a pre-trained model, or a run stopped before its export, says what
    it is and what to do, in one line."""
    cfg = fast_cfg(ensemble=1)
    start = load_start("none", cfg)
    pre = tmp_path / "pre"
    export_model(pre / "model", start.backbone(0), {"domain": "dna", "model": {}, "pretrained_on": []})
    with pytest.raises(UserError) as refused:
        load_classifier(pre)
    assert str(refused.value) == f"{pre}: not a promoter classifier (run 'scipt finetune promoter' first)"

    stopped = tmp_path / "stopped"
    stopped.mkdir()
    (stopped / "config.yaml").write_text("task: promoter\n")
    with pytest.raises(UserError) as refused:
        load_classifier(stopped)
    assert str(refused.value) == (
        f"{stopped}: no exported model: this finetune promoter run did not finish (the model is "
        "written last); continue it with the same command and --resume"
    )


def test_a_cnn_stack_of_several_members_is_exported_and_loaded_with_each_member(tmp_path, fast_cfg):
    """An ensemble's members each bring their own CNN, and the stacked score is their mean: loaded
    with the first member alone, the model would predict other probabilities than the ones it was
    evaluated with, silently."""
    from sciPT.domains.dna.cnn import CNNConfig, CNNScore, PromoterCNN
    from sciPT.stacking import Stack

    cfg = fast_cfg(ensemble=1)
    start = load_start("none", cfg)
    classifier = _untrained(start, 30, False, cfg.head)
    cnn_cfg = CNNConfig(filters=4, kernel=5, pool=2, hidden=4, dropout=0.0)
    torch.manual_seed(2)
    cnns = [PromoterCNN(cnn_cfg, 30) for _ in range(2)]
    classifier.cnn = CNNScore(cnns)
    classifier.cnn_stack = classifier.fitted_cnn_stack = Stack(1.0, 2.0, 0.0, 0.0, 0.01)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    export_classifier(run, classifier, start, cfg, 30)
    loaded, exported = load_classifier(run.path)
    assert (exported["cnn_stack"]["members"], len(loaded.cnn.models)) == (2, 2)
    codes = _sequences()
    # the two members differ, so their mean is neither one's score
    assert not np.allclose(CNNScore(cnns[:1])(codes), classifier.cnn(codes), atol=1e-3)
    np.testing.assert_allclose(loaded.cnn(codes), classifier.cnn(codes), atol=1e-6)
    np.testing.assert_allclose(loaded.predict(codes), classifier.predict(codes), atol=1e-6)


def test_the_training_record_names_its_hash_scheme_in_its_own_metadata():
    """The record file says how its hashes were made, so that it can be read without sciPT's source
    (a published format, :data:`HASH_SCHEME`): its safetensors metadata carries the scheme, word for
    word."""
    from safetensors.numpy import load

    data, _ = training_record([encode("ACGT")])
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])  # safetensors: u64 LE size
    assert header["__metadata__"] == {
        "hash": "first 8 bytes, big-endian, of the SHA-256 of the sequence's canonical form in "
        "upper-case ACGTN letters: the smaller of it and its reverse complement, compared as codes "
        "A<C<G<T<N"
    }
    assert load(data)["sha256_64"].tolist() == [_hash("ACGT")]  # ACGT is its own reverse complement


def test_a_record_path_that_is_a_folder_reads_as_missing(tmp_path):
    """A folder where the record should be is no record: evaluate says it is missing, in one line,
    rather than failing on reading a folder's bytes."""
    run, config = _exported_with_record(tmp_path, [encode("ACGT")])
    file = run / "model" / "training_sequences.safetensors"
    file.unlink()
    file.mkdir()
    assert read_training_record(run, config) == (
        None,
        f"the record of its training sequences, {file}, is missing",
    )


def test_an_ensemble_is_exported_and_loaded_with_every_member(tmp_path, fast_cfg):
    """An ensemble's prediction is the mean probability of its members: the export says how many
    there are and the loaded model holds each with its own weights, so it predicts as the one
    evaluated (one member alone would predict other probabilities)."""
    from sciPT.nn.classifier import ProbabilityEnsemble

    cfg = fast_cfg(ensemble=2)
    start = load_start("none", cfg)
    members = []
    for seed in (0, 1):  # members of other weights, as other seeds leave them
        backbone = start.backbone(seed)
        head = build_head(cfg.head, backbone, start.tokenizer, start.tokenizer.n_tokens(30))
        members.append(SequenceClassifier(backbone, head))
    classifier = Classifier(ProbabilityEnsemble(members).eval(), start.tokenizer, 30, False)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    export_classifier(run, classifier, start, cfg, 30)
    loaded, exported = load_classifier(run.path)
    assert exported["ensemble"] == 2
    assert isinstance(loaded.model, ProbabilityEnsemble) and len(loaded.model.members) == 2
    codes = _sequences()
    first = Classifier(members[0], start.tokenizer, 30, False)
    assert not np.allclose(first.predict(codes), classifier.predict(codes), atol=1e-4)
    np.testing.assert_allclose(loaded.predict(codes), classifier.predict(codes), atol=1e-6)


def test_the_fused_likelihood_and_the_kmer_stack_are_exported_and_loaded(tmp_path, fast_cfg):
    """What sits on the classifier's output goes with it: the fused pre-trained likelihood (scorer
    weights, its settings and the fusion) and the stacked k-mer regression (weights, bias, k's and
    the stack). Loaded, the classifier predicts as exported through each, and what was fitted is
    what is kept (nothing fitted and dropped is exported)."""
    from sciPT.domains.dna.kmer import KmerScore
    from sciPT.naturalness import Fusion
    from sciPT.objectives.masked import LMHead
    from sciPT.stacking import Stack

    cfg = fast_cfg(ensemble=1)
    scratch = load_start("none", cfg)
    torch.manual_seed(6)
    head = LMHead(16, scratch.tokenizer.vocab_size)
    extras = {f"mlm_head.{k}": v for k, v in head.state_dict().items()}
    start = Start(
        "pre-trained", scratch.backbone(0).state_dict(), scratch.model_cfg, scratch.tokenizer, [], extras
    )
    classifier = _untrained(start, 30, False, cfg.head)
    classifier.naturalness = start.naturalness_scorer()
    classifier.fusion = classifier.fitted_fusion = Fusion(1.0, 2.0, 0.3, -4.0, 0.5, 8.0)
    weight = np.random.default_rng(7).normal(0.0, 0.1, 4 + 16)  # 1-mers and 2-mers
    classifier.kmer = KmerScore(weight, 0.7, (1, 2))
    classifier.stack = classifier.fitted_stack = Stack(0.8, 1.5, -0.2, 0.1, 2.0, 6.0)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    export_classifier(run, classifier, start, cfg, 30)
    loaded, exported = load_classifier(run.path)

    assert exported["kmer_stack"]["ks"] == [1, 2] and exported["kmer_stack"]["bias"] == 0.7
    assert loaded.fusion == loaded.fitted_fusion == classifier.fusion
    assert loaded.stack == loaded.fitted_stack == classifier.stack
    assert loaded.naturalness.settings() == classifier.naturalness.settings()
    codes = _sequences()
    # each layer moves the prediction, so a layer lost or changed on the way shows
    alone = classifier.predict(codes, fusion=None, stack=None)
    fused = classifier.predict(codes, stack=None)
    assert not np.allclose(alone, fused, atol=1e-3)
    assert not np.allclose(fused, classifier.predict(codes), atol=1e-3)
    np.testing.assert_allclose(
        loaded.naturalness_scores(codes), classifier.naturalness_scores(codes), atol=1e-6
    )
    np.testing.assert_allclose(
        loaded.stacked_score(loaded.kmer, codes), classifier.stacked_score(classifier.kmer, codes)
    )
    np.testing.assert_allclose(loaded.predict(codes), classifier.predict(codes), atol=1e-6)


def test_load_classifier_refuses_a_model_fine_tuned_for_another_task(tmp_path, fast_cfg):
    """predict given a surrogate (or any other task's) export refuses it as not a promoter
    classifier, rather than reading another task's head and tokenizer as a promoter model's."""
    start = load_start("none", fast_cfg(ensemble=1))
    other = tmp_path / "surrogate"
    export_model(other / "model", start.backbone(0), {"domain": "dna", "task": "surrogate", "model": {}})
    with pytest.raises(UserError) as refused:
        load_classifier(other)
    assert str(refused.value) == f"{other}: not a promoter classifier (run 'scipt finetune promoter' first)"


def test_a_cnn_stack_reads_inputs_of_its_own_length(tmp_path, fast_cfg):
    """The CNN reads at least its kernel's width (a classifier of 12 bases stacks a CNN of 15, the
    rest zero-padded): it is rebuilt at its own length, not the classifier's, which it could not
    even be built at."""
    from sciPT.domains.dna.cnn import CNNConfig, CNNScore, PromoterCNN
    from sciPT.stacking import Stack

    cfg = fast_cfg(ensemble=1)
    cfg.head = HeadConfig(pooling="mean", dropout=0.0)  # reads 12 bases (the default conv head: 15 tokens)
    start = load_start("none", cfg)
    classifier = _untrained(start, 12, False, cfg.head)
    torch.manual_seed(2)
    classifier.cnn = CNNScore(
        [PromoterCNN(CNNConfig(filters=4, kernel=15, pool=1, hidden=4, dropout=0.0), 15)]
    )
    classifier.cnn_stack = classifier.fitted_cnn_stack = Stack(1.0, 2.0, 0.0, 0.0, 0.01, 12.5)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    export_classifier(run, classifier, start, cfg, 12)
    loaded, exported = load_classifier(run.path)
    assert (exported["length"], exported["cnn_stack"]["length"], loaded.cnn.length) == (12, 15, 15)
    assert loaded.cnn_stack == loaded.fitted_cnn_stack == classifier.cnn_stack
    codes = _sequences()
    np.testing.assert_allclose(loaded.predict(codes), classifier.predict(codes), atol=1e-6)


def test_a_classifier_fine_tuned_from_an_hf_folder_loads_with_its_vocabulary(tmp_path, fast_cfg):
    """A start from ``hf:DIR`` exports the folder's ``transformers`` config and its vocabulary beside
    the weights (the folder itself may be gone when predict runs): loaded from RUN, the classifier
    reads sequences with that vocabulary and predicts as exported."""
    pytest.importorskip("transformers")
    from sciPT.testing import tiny_esm_folder

    cfg = fast_cfg(ensemble=1)
    cfg.head = HeadConfig(pooling="mean", dropout=0.0)
    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    start = load_start(f"hf:{folder}", cfg)
    classifier = _untrained(start, 30, False, cfg.head)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    export_classifier(run, classifier, start, cfg, 30)
    vocab = (folder / "vocab.txt").read_text()
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()
    assert (run.model / "vocab.txt").read_text() == vocab
    loaded, exported = load_classifier(run.path)
    assert exported["pretrained_on"] is None
    assert (exported["model"]["model_type"], exported["model"]["hidden_size"]) == ("esm", 32)
    codes = _sequences()
    np.testing.assert_allclose(loaded.predict(codes), classifier.predict(codes), atol=1e-6)
