"""sciPT -> ``EsmForMaskedLM``: ``scipt export RUN --format hf --out DIR``.

:func:`export_esm` writes a sciPT DNA or protein pre-training run as an ``EsmForMaskedLM`` folder
that ``transformers`` (and ``--init hf:DIR``) loads, where the two architectures compute the same
function; :func:`esm_equivalent` states that equivalence setting by setting and refuses, in one
line, a configuration without it. Reading such folders is :mod:`sciPT.hf_load` (what they are:
:mod:`sciPT.hf`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from torch import Tensor

from . import io
from .errors import ConfigError, UserError
from .hf import ADD_SPECIAL_KEY, _quiet, transformers_module
from .hf_load import LM_HEAD_NAMES
from .hf_tokenizer import VOCAB_NAME

ESM_SPECIALS = ("<pad>", "<unk>", "<cls>", "<eos>", "<mask>")  # sciPT's ids 0..4, ESM's names
ROTARY_BASE = 10_000.0  # sciPT's RotaryEmbedding base (it has no setting)


def esm_equivalent(model: dict, tokenizer: dict, objective: str = "masked", head_eps: float = 1e-5) -> None:
    """Refuse, in one line, a sciPT configuration that no ``EsmForMaskedLM`` computes exactly.

    The equivalence, setting by setting: both are pre-norm encoders (LayerNorm, attention, residual,
    LayerNorm, FFN, residual, then a final LayerNorm: ESM's ``emb_layer_norm_after``), with one
    projection each for queries, keys and values (sciPT's fused ``qkv`` split in three), queries
    scaled by ``1/sqrt(d_h)``, and the exact (erf) GELU. Rotary embeddings match: both rotate
    "half" pairs ``(i, i + d_h/2)`` by ``m * base^(-2i/d_h)`` at positions ``0..L-1`` with base
    10000 (ESM scales the queries before rotating, a linear map that commutes with it). The MLM
    heads are both ``decoder(LN(GELU(dense(h))))``, sciPT's untied (``tie_word_embeddings=False``).
    ESM's options that sciPT lacks are switched off: ``token_dropout`` (which would rescale every
    embedding by 0.88), ``emb_layer_norm_before``, learned positions. What has no ESM equivalent:
    ALiBi, SwiGLU, reverse-complement parameter sharing, overlapping k-mer tokens (``EsmTokenizer`` cuts a sequence into
    non-overlapping words), a causal objective, and a LayerNorm epsilon other than the head's
    1e-5 (ESM has one ``layer_norm_eps`` for both). Dropout differs only in training (sciPT also
    drops out the embeddings), not in the function computed.
    """
    if model.get("rc_equivariant", False):
        raise ConfigError(
            "model.rc_equivariant: a reverse-complement equivariant encoder (two strands sharing "
            "weights) has no ESM equivalent; only plain encoders export to the hf format"
        )
    if model.get("position", "rotary") != "rotary":
        raise ConfigError(
            f"model.position: {model['position']!r} has no ESM equivalent (ESM has rotary or learned "
            "positions); only rotary models export to the hf format"
        )
    if model.get("activation", "gelu") != "gelu":
        raise ConfigError(
            f"model.activation: {model['activation']!r} has no ESM equivalent (ESM's feed-forward is "
            "GELU); only GELU models export to the hf format"
        )
    if int(tokenizer.get("k", 1)) != 1:
        raise ConfigError(
            f"tokenizer.k: overlapping {tokenizer['k']}-mers have no EsmTokenizer equivalent (it cuts "
            "a sequence into non-overlapping words); only residue tokenizers (k = 1) export to the hf format"
        )
    if objective != "masked":
        raise ConfigError(
            f"objective.kind: {objective!r} has no EsmForMaskedLM equivalent (a masked-LM head); "
            "only masked pre-training runs export to the hf format"
        )
    if float(model.get("norm_eps", 1e-5)) != head_eps:
        raise ConfigError(
            f"model.norm_eps: {model['norm_eps']} differs from the masked-LM head's {head_eps} and ESM "
            "has one layer_norm_eps for both; only norm_eps = 1e-05 exports to the hf format"
        )


def esm_config(model: dict, tokenizer: dict) -> dict:
    """``transformers``' ``EsmConfig`` fields of the ESM twin of a sciPT encoder."""
    vocab = len(ESM_SPECIALS) + len(tokenizer["symbols"])
    if int(model["vocab_size"]) != vocab:
        raise ConfigError(
            f"model.vocab_size: {model['vocab_size']}, expected {vocab} for a residue tokenizer"
        )
    return {
        "architectures": ["EsmForMaskedLM"],
        "vocab_size": vocab,
        "pad_token_id": 0,
        "mask_token_id": 4,
        "eos_token_id": 3,
        "hidden_size": int(model["d_model"]),
        "num_hidden_layers": int(model["n_layers"]),
        "num_attention_heads": int(model["n_heads"]),
        "intermediate_size": int(model["d_ff"]),
        "hidden_dropout_prob": float(model.get("dropout", 0.0)),
        "attention_probs_dropout_prob": float(model.get("dropout", 0.0)),
        "max_position_embeddings": int(model["max_len"]),
        "position_embedding_type": "rotary",
        "rope_theta": ROTARY_BASE,
        "layer_norm_eps": float(model.get("norm_eps", 1e-5)),
        "emb_layer_norm_before": False,
        "token_dropout": False,
        "tie_word_embeddings": False,
        "is_decoder": False,
        ADD_SPECIAL_KEY: False,
    }


def esm_state(backbone: dict[str, Tensor], head: dict[str, Tensor], n_layers: int) -> dict[str, Tensor]:
    """sciPT's encoder weights (``backbone``) and masked-LM head (``head``: ``dense``, ``norm``,
    ``decoder``) under ``EsmForMaskedLM``'s module names."""
    out = {"esm.embeddings.word_embeddings.weight": backbone["embedding.weight"]}
    for i in range(n_layers):
        b, e = f"blocks.{i}.", f"esm.encoder.layer.{i}."
        for kind in ("weight", "bias"):
            q, k, v = backbone[f"{b}attn.qkv.{kind}"].chunk(3, dim=0)
            out[f"{e}attention.self.query.{kind}"] = q
            out[f"{e}attention.self.key.{kind}"] = k
            out[f"{e}attention.self.value.{kind}"] = v
            out[f"{e}attention.LayerNorm.{kind}"] = backbone[f"{b}norm1.{kind}"]
            out[f"{e}attention.output.dense.{kind}"] = backbone[f"{b}attn.out.{kind}"]
            out[f"{e}LayerNorm.{kind}"] = backbone[f"{b}norm2.{kind}"]
            out[f"{e}intermediate.dense.{kind}"] = backbone[f"{b}ffn.up.{kind}"]
            out[f"{e}output.dense.{kind}"] = backbone[f"{b}ffn.down.{kind}"]
    for kind in ("weight", "bias"):
        out[f"esm.encoder.emb_layer_norm_after.{kind}"] = backbone[f"norm.{kind}"]
    out.update({theirs: head[ours] for ours, theirs in LM_HEAD_NAMES.items()})
    return {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in out.items()}


def export_esm(run_path: str | Path, out: str | Path, checkpoint: str | Path | None = None) -> Path:
    """Write a sciPT DNA or protein pre-training run as an ``EsmForMaskedLM`` folder ``out``
    (``config.json``, ``model.safetensors``, ``vocab.txt``, ``tokenizer_config.json``).

    Everything comes from the run's checkpoint (the backbone, the masked-LM head and the export
    configuration) and ``config.yaml`` (the objective).
    A configuration without an exact ESM equivalent is refused (:func:`esm_equivalent`). The
    vocabulary keeps sciPT's ids: ``<pad> <unk> <cls> <eos> <mask>`` then the residues in the
    alphabet's order. sciPT's models are trained without ``<cls>``/``<eos>``: the config says so
    (``sciPT_add_special_tokens: false``, which ``--init hf:`` honours), and ``transformers`` users
    must tokenize with ``add_special_tokens=False`` to feed the model what it was trained on. The
    folder is built under a temporary name and renamed into place; an existing ``out`` is refused.
    Its files get the permissions of a normally created file (``0o666`` less the umask), as every
    file sciPT writes (:mod:`sciPT.io`).
    """
    from .checkpoint import load_lightning_checkpoint
    from .export import CHECKPOINT_KEY, backbone_state
    from .run import open_run

    run, _ = open_run(run_path)
    task = run.read_config().get("task")
    if task is not None:
        # a task's run keeps no masked-LM checkpoint: it was refused as "checkpoint not found"
        raise UserError(
            f"{run.path}: a {task} run; --format hf exports DNA and protein pre-training runs "
            "(export the pre-training run it started from)"
        )
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: a file, not a directory")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out}: exists and is not empty (the hf export writes a new folder)")
    path = Path(checkpoint) if checkpoint else run.resume_checkpoint() or run.last_checkpoint
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found (the hf export needs the masked-LM head it keeps)")
    state = load_lightning_checkpoint(path)
    stored = state.get(CHECKPOINT_KEY)
    if not isinstance(stored, dict) or "config" not in stored:
        raise UserError(f"{path}: holds no export configuration (a pre-training checkpoint is expected)")
    config = stored["config"]
    model, tokenizer = config.get("model"), config.get("tokenizer")
    if not isinstance(model, dict) or not isinstance(tokenizer, dict) or "symbols" not in tokenizer:
        raise UserError(
            f"{run.path}: a {config.get('domain')} model; --format hf exports DNA and protein "
            "pre-training runs (transformer encoders over residues)"
        )
    objective = ((run.read_config().get("objective") or {}).get("kind")) or "masked"
    esm_equivalent(model, tokenizer, objective)
    fields = esm_config(model, tokenizer)
    n = len("objective.head.")
    head = {k[n:]: v for k, v in state["state_dict"].items() if k.startswith("objective.head.")}
    weights = esm_state(backbone_state(state), head, fields["num_hidden_layers"])

    transformers = transformers_module()
    with _quiet():
        esm = transformers.EsmForMaskedLM(transformers.EsmConfig(**fields))
    with torch.no_grad():
        esm.esm.contact_head.regression.weight.zero_()
        esm.esm.contact_head.regression.bias.zero_()
    result = esm.load_state_dict(weights, strict=False)
    left = [k for k in result.missing_keys if "contact_head" not in k and "rotary" not in k]
    if left or result.unexpected_keys:
        raise AssertionError(f"ESM mapping incomplete: missing {left}, unexpected {result.unexpected_keys}")
    tmp = out.parent / f".{out.name}.tmp-hf"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        (tmp / VOCAB_NAME).write_text("\n".join([*ESM_SPECIALS, *tokenizer["symbols"]]), encoding="utf-8")
        with _quiet():
            esm.save_pretrained(str(tmp))
            transformers.EsmTokenizer(
                str(tmp / VOCAB_NAME),
                unk_token="<unk>",
                cls_token="<cls>",
                pad_token="<pad>",
                mask_token="<mask>",
                eos_token="<eos>",
            ).save_pretrained(str(tmp))
        # transformers writes model.safetensors owner-only (0600); the folder is shared like any
        # file sciPT writes (sciPT.io): the permissions of a normally created file
        mode = 0o666 & ~io._umask()
        for path in tmp.rglob("*"):
            if path.is_file():
                path.chmod(mode)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out
