"""A fine-tuned promoter classifier written to disk and read back whole: the ensemble's weights, and
what sits on their output (the fused likelihood scorer, the stacked k-mer regression and CNNs), in
one safetensors file with a JSON config (:func:`sciPT.checkpoint.export_model`); nothing pickled.

Beside them, :data:`TRAINING_RECORD` holds a 64-bit hash of each distinct sequence the final model
was trained on (:func:`sequence_hashes`), so that ``scipt evaluate`` can say which evaluation
sequences are not held out (:func:`read_training_record`)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from sciPT import io
from sciPT.checkpoint import export_model, read_export_config, read_weights, resolve_model_dir
from sciPT.config import from_dict, to_dict
from sciPT.diagnostics.overlap import strand_keys
from sciPT.domains.dna import DNA_SPEC
from sciPT.domains.dna.cnn import CNNConfig, CNNScore, PromoterCNN
from sciPT.domains.dna.kmer import KmerScore
from sciPT.errors import UserError
from sciPT.hf import is_hf_config
from sciPT.naturalness import Fusion, NaturalnessScorer
from sciPT.nn import TransformerConfig
from sciPT.nn.classifier import HeadConfig, ProbabilityEnsemble, SequenceClassifier
from sciPT.run import RunDir
from sciPT.stacking import Stack
from sciPT.tokenizers import SequenceTokenizer

from .promoter_classifier import COMPLEMENT, Classifier, build_head
from .promoter_start import Start, build_backbone

if TYPE_CHECKING:
    from .promoter_config import PromoterConfig

NATURALNESS_PREFIX = "naturalness."  # the fused scorer's tensors in a classifier's export
KMER_PREFIX = "kmer_stack."  # the stacked k-mer model's weights in a classifier's export
CNN_PREFIX = "cnn_stack."  # the stacked CNNs' weights, then "<member>." and the CNN's own names
TRAINING_RECORD = "training_sequences.safetensors"  # beside model.safetensors; see sequence_hashes
TRAINING_HASHES = "sha256_64"  # its one tensor: uint64 [distinct training sequences], sorted
HASH_SCHEME = (
    "first 8 bytes, big-endian, of the SHA-256 of the sequence's canonical form in upper-case "
    "ACGTN letters: the smaller of it and its reverse complement, compared as codes A<C<G<T<N"
)
_LETTERS = np.frombuffer(DNA_SPEC.alphabet.symbols.encode("ascii"), dtype=np.uint8)


def sequence_hashes(codes: list[np.ndarray]) -> np.ndarray:
    """uint64 ``[len(codes)]``: one hash per sequence, equal for a sequence and its reverse
    complement (the canonical key of :func:`sciPT.diagnostics.overlap.strand_keys`, as the
    ``--test`` overlap check compares them; :data:`HASH_SCHEME`)."""
    out = np.empty(len(codes), dtype=np.uint64)
    for i, key in enumerate(strand_keys(codes, COMPLEMENT)):
        letters = _LETTERS[np.frombuffer(key, dtype=np.uint8)].tobytes()
        out[i] = int.from_bytes(hashlib.sha256(letters).digest()[:8], "big")
    return out


def training_record(codes: list[np.ndarray]) -> tuple[bytes, dict]:
    """The bytes of :data:`TRAINING_RECORD` for the sequences ``codes``, and what ``config.json``
    says of it: its SHA-256 ties the file to that export (a record left from another is not read)."""
    from safetensors.numpy import save

    hashes = np.unique(sequence_hashes(codes))  # sorted, one per distinct sequence (either strand)
    data = save({TRAINING_HASHES: hashes}, metadata={"hash": HASH_SCHEME})
    digest = hashlib.sha256(data).hexdigest()
    return data, {"file": TRAINING_RECORD, "distinct": int(len(hashes)), "sha256": digest}


def read_training_record(path, exported: dict) -> tuple[np.ndarray | None, str]:
    """The sorted hashes of the exported model's training sequences (:func:`sequence_hashes`), or
    None and why they cannot be read (an export from before the record, or a file that is missing,
    damaged or not the one its export wrote)."""
    recorded = exported.get("training_sequences")
    if not recorded:
        return (
            None,
            "this model's export records no training sequences (it was exported before sciPT kept them)",
        )
    file = resolve_model_dir(path) / recorded["file"]
    if not file.is_file():
        return None, f"the record of its training sequences, {file}, is missing"
    if hashlib.sha256(file.read_bytes()).hexdigest() != recorded["sha256"]:
        return None, f"the record of its training sequences, {file}, is not the one its export wrote"
    from safetensors.numpy import load_file

    try:
        hashes = load_file(str(file))[TRAINING_HASHES]
    except Exception:  # noqa: BLE001 - whatever the damage, the check is not made, in one line
        return None, f"the record of its training sequences, {file}, cannot be read"
    return hashes, ""


def load_classifier(path) -> tuple[Classifier, dict]:
    """A finished ``finetune promoter`` run's exported classifier, as ``scipt predict`` uses it.

    Args:
        path: ``RUN`` or ``RUN/model``.

    Returns:
        ``(classifier, config)``: :meth:`Classifier.predict` takes one uint8 array of nucleotide
        codes per sequence (``sciPT.domains.dna.tokenizer.encode``) and returns promoter
        probabilities ``[N]``; ``config`` is the export's ``config.json``.
    """
    run = RunDir(path)
    if not run.model.exists() and run.read_config().get("task") == "promoter":
        # finetune promoter exports last (promoter_train.run_finetune): a run without one was stopped
        raise UserError(
            f"{path}: no exported model: this finetune promoter run did not finish (the model is "
            "written last); continue it with the same command and --resume"
        )
    exported = read_export_config(path)
    if exported.get("task") != "promoter":
        raise UserError(f"{path}: not a promoter classifier (run 'scipt finetune promoter' first)")
    model_dir = Path(path) / "model" if (Path(path) / "model").is_dir() else Path(path)
    if is_hf_config(exported["model"]):
        # fine-tuned from --init hf:DIR: transformers' config dict, the vocabulary beside it
        from sciPT.hf_tokenizer import HFTokenizer

        model_cfg = exported["model"]
        tokenizer = HFTokenizer.from_dict(exported["tokenizer"], model_dir)
    else:
        model_cfg = from_dict(TransformerConfig, exported["model"], f"{path}: model")
        tokenizer = SequenceTokenizer.from_dict(exported["tokenizer"])
    head_cfg = from_dict(HeadConfig, exported["head"], f"{path}: head")

    def member() -> SequenceClassifier:
        backbone = build_backbone(model_cfg)
        return SequenceClassifier(
            backbone, build_head(head_cfg, backbone, tokenizer, tokenizer.n_tokens(exported["length"]))
        )

    n = int(exported.get("ensemble", 1))  # exports that predate ensembles hold one model
    model = member() if n == 1 else ProbabilityEnsemble([member() for _ in range(n)])
    tensors = read_weights(model_dir / "model.safetensors")
    prefix = NATURALNESS_PREFIX
    model.load_state_dict(
        {k: v for k, v in tensors.items() if not k.startswith((prefix, KMER_PREFIX, CNN_PREFIX))}
    )
    classifier = Classifier(model.eval(), tokenizer, exported["length"], exported["strand_symmetric"])
    fused = exported.get("naturalness")
    if fused:
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        classifier.naturalness = NaturalnessScorer.from_scorer_state(
            build_backbone(model_cfg), state, fused["scorer"]
        )
        classifier.fusion = classifier.fitted_fusion = Fusion(**fused["fusion"])
    stacked = exported.get("kmer_stack")
    if stacked:
        weight = tensors[KMER_PREFIX + "weight"].double().numpy()
        classifier.kmer = KmerScore(weight, float(stacked["bias"]), tuple(stacked["ks"]))
        classifier.stack = classifier.fitted_stack = Stack(**stacked["stack"])
    stacked = exported.get("cnn_stack")
    if stacked:
        cnn_cfg = from_dict(CNNConfig, stacked["cnn"], f"{path}: cnn_stack.cnn")
        cnns = []
        for m in range(int(stacked["members"])):
            cnn = PromoterCNN(cnn_cfg, int(stacked["length"]))
            member = f"{CNN_PREFIX}{m}."
            cnn.load_state_dict({k[len(member) :]: v for k, v in tensors.items() if k.startswith(member)})
            cnns.append(cnn)
        classifier.cnn = CNNScore(cnns)
        classifier.cnn_stack = classifier.fitted_cnn_stack = Stack(**stacked["stack"])
    return classifier, exported


def export_classifier(
    run: RunDir,
    classifier: Classifier,
    start: Start,
    cfg: PromoterConfig,
    length: int,
    trained_on: list[np.ndarray] | None = None,
) -> None:
    """Export ``classifier`` into ``run.model``, with the record of ``trained_on`` (the final model's
    training sequences' codes; None: no record) beside it, written after the weights and config
    that name it, so that ``model/`` still appears only with a whole model (a run stopped in between
    keeps a model whose training overlap ``evaluate`` says it cannot check)."""
    record, recorded = training_record(trained_on) if trained_on is not None else (None, None)
    hf = not isinstance(start.model_cfg, TransformerConfig)
    if hf:
        start.tokenizer.save(run.model)  # vocab.txt, before the config that names it
    fused, extra = {}, {}
    if classifier.fusion is not None:
        scorer = classifier.naturalness
        fused = {"naturalness": {"fusion": classifier.fusion.to_dict(), "scorer": scorer.settings()}}
        extra = {NATURALNESS_PREFIX + k: v for k, v in scorer.state_dict().items()}
    if classifier.stack is not None:
        kmer = classifier.kmer
        stack = {"stack": classifier.stack.to_dict(), "ks": list(kmer.ks), "bias": kmer.bias}
        fused["kmer_stack"] = stack
        extra[KMER_PREFIX + "weight"] = torch.from_numpy(np.asarray(kmer.weight, dtype=np.float64))
    if classifier.cnn_stack is not None:
        cnns = classifier.cnn.models
        fused["cnn_stack"] = {
            "stack": classifier.cnn_stack.to_dict(),
            "cnn": to_dict(cnns[0].cfg),
            "length": classifier.cnn.length,
            "members": len(cnns),
        }
        for m, cnn in enumerate(cnns):
            extra.update({f"{CNN_PREFIX}{m}.{k}": v for k, v in cnn.state_dict().items()})
    export_model(
        run.model,
        classifier.model,
        {
            "domain": "dna",
            "task": "promoter",
            "model": dict(start.model_cfg) if hf else to_dict(start.model_cfg),
            "tokenizer": start.tokenizer.to_dict(),
            "head": to_dict(cfg.head),
            "length": length,
            "strand_symmetric": cfg.strand_symmetric,
            "pretrained_on": start.pretrained_on,
            "init": cfg.init,
            "ensemble": cfg.ensemble,
            **({"training_sequences": recorded} if recorded else {}),
            **fused,
        },
        extra_tensors=extra or None,
    )
    if record is not None:
        with io.atomic_path(run.model / TRAINING_RECORD) as tmp:
            tmp.write_bytes(record)
