"""A fine-tuned promoter classifier written to disk and read back whole: the ensemble's weights, and
what sits on their output (the fused likelihood scorer, the stacked k-mer regression and CNNs), in
one safetensors file with a JSON config (:func:`sciPT.checkpoint.export_model`); nothing pickled."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from sciPT.checkpoint import export_model, read_export_config, read_weights
from sciPT.config import from_dict, to_dict
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

from .promoter_classifier import Classifier, build_head
from .promoter_start import Start, build_backbone

if TYPE_CHECKING:
    from .promoter_config import PromoterConfig

NATURALNESS_PREFIX = "naturalness."  # the fused scorer's tensors in a classifier's export
KMER_PREFIX = "kmer_stack."  # the stacked k-mer model's weights in a classifier's export
CNN_PREFIX = "cnn_stack."  # the stacked CNNs' weights, then "<member>." and the CNN's own names


def load_classifier(path) -> tuple[Classifier, dict]:
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
    run: RunDir, classifier: Classifier, start: Start, cfg: PromoterConfig, length: int
) -> None:
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
            **fused,
        },
        extra_tensors=extra or None,
    )
