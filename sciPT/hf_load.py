"""Loading an ``hf:`` folder: its checks, its weights, and the EWC Fisher stored beside them.

:func:`check_folder` says in one line what is wrong with a folder ``--init hf:DIR`` cannot use;
:func:`load_hf` loads it as an :class:`HFModel` (the backbone :class:`sciPT.hf.HFEncoder`, the
tokenizer :class:`sciPT.hf_tokenizer.HFTokenizer`, and the masked-LM head and Fisher as extras);
:func:`save_fisher` stores the Fisher :func:`load_hf` reads back. What such a folder is and why:
the :mod:`sciPT.hf` docstring; writing one from a sciPT run: :mod:`sciPT.hf_export`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .errors import UserError
from .hf import ADD_SPECIAL_KEY, HFEncoder, _quiet, transformers_module
from .hf_tokenizer import VOCAB_NAME, HFTokenizer
from .sequences import SequenceSpec

HF_CONFIG_NAME = "config.json"
HF_WEIGHTS_NAME = "model.safetensors"
FISHER_PREFIX = "fisher."
FISHER_NAME = "sciPT_fisher.safetensors"


@dataclass
class HFModel:
    """A loaded ``hf:`` folder: the backbone, its tokenizer, ``transformers``' config dict and
    the extra tensors stored beside the weights (an EWC Fisher, ``fisher.<name>``)."""

    path: Path
    config: dict[str, Any]
    model: HFEncoder
    tokenizer: HFTokenizer
    extras: dict[str, Tensor]


def check_folder(path: str | Path) -> dict[str, Any]:
    """``config.json`` of the ESM folder ``path``, or one line saying what is wrong with it."""
    path = Path(path)
    where = f"hf:{path}"
    if not path.is_dir():
        raise UserError(
            f"{where}: folder not found (hf: takes a local folder written by save_pretrained; "
            "nothing is downloaded)"
        )
    config_path = path / HF_CONFIG_NAME
    try:
        config = json.loads(config_path.read_text())
    except FileNotFoundError:
        config = None
    except (OSError, ValueError) as error:
        raise UserError(f"{where}: config.json cannot be read ({error})") from None
    if not isinstance(config, dict) or config.get("model_type") != "esm":
        found = (
            "no config.json"
            if config is None
            else f"config.json has model_type {config.get('model_type')!r}"
            if isinstance(config, dict)
            else "config.json is not a JSON object"
        )
        raise UserError(
            f"{where}: not an ESM model folder ({found}; expected an EsmForMaskedLM saved with save_pretrained)"
        )
    if config.get("is_folding_model"):
        raise UserError(f"{where}: an ESMFold model; expected an ESM language model (EsmForMaskedLM)")
    if not (path / VOCAB_NAME).is_file():
        raise UserError(f"{where}: no {VOCAB_NAME} (the EsmTokenizer vocabulary saved with the model)")
    # settings under which ESM computes something else than the encoder sciPT wraps: refused, not
    # passed through (transformers drops a relative position type's table without a word)
    position = config.get("position_embedding_type", "absolute")
    if position not in ("absolute", "rotary"):
        raise UserError(
            f"{where}: config.json has position_embedding_type {position!r}; expected 'absolute' or "
            "'rotary' (ESM-2, Nucleotide Transformer)"
        )
    if config.get("is_decoder"):
        raise UserError(
            f"{where}: config.json has is_decoder true (causal attention); expected a masked language "
            "model's encoder"
        )
    if not isinstance(config.get("pad_token_id"), int):
        raise UserError(
            f"{where}: config.json has pad_token_id {json.dumps(config.get('pad_token_id'))}; expected the "
            "padding token's id (an integer)"
        )
    if not (path / HF_WEIGHTS_NAME).is_file() and not (path / f"{HF_WEIGHTS_NAME}.index.json").is_file():
        raise UserError(
            f"{where}: no {HF_WEIGHTS_NAME} (weights are read from safetensors only, never from a "
            "pickled pytorch_model.bin; convert it first)"
        )
    return config


def _float32(transformers) -> dict:
    """Load in float32 whatever the checkpoint's dtype (``dtype``, ``torch_dtype`` before 4.56)."""
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype": torch.float32} if (major, minor) >= (4, 56) else {"torch_dtype": torch.float32}


def load_hf(path: str | Path, spec: SequenceSpec) -> HFModel:
    """Load the ESM folder ``path`` (``--init hf:PATH``) for the sequences ``spec`` reads.

    Every backbone weight must be in the folder (a missing one is an error, not a random
    initialisation), and its vocabulary must spell those sequences (:func:`check_vocabulary`).
    The masked-LM head, if present, goes to ``extras`` (``mlm_head.*``, for
    :mod:`sciPT.naturalness`); the contact head is not used.
    """
    check_folder(path)
    path = Path(path)
    transformers = transformers_module()
    from safetensors import SafetensorError

    try:
        with _quiet():
            esm, info = transformers.EsmModel.from_pretrained(
                str(path),
                add_pooling_layer=False,
                local_files_only=True,
                trust_remote_code=False,
                use_safetensors=True,
                output_loading_info=True,
                **_float32(transformers),
            )
    except SafetensorError as error:  # cut short or damaged: an interrupted copy
        raise UserError(f"hf:{path}: {HF_WEIGHTS_NAME} cannot be read ({error})") from None
    except (TypeError, ValueError, *_config_errors()) as error:  # transformers' own validation
        raise UserError(
            f"hf:{path}: {HF_CONFIG_NAME} is not a valid ESM configuration ({_first_line(error)})"
        ) from None
    missing = [k for k in info.get("missing_keys", []) if not k.startswith(("contact_head.", "pooler."))]
    if missing:
        raise UserError(
            f"hf:{path}: {HF_WEIGHTS_NAME} lacks the weight '{missing[0]}'"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
        )
    config = esm.config.to_dict()
    tokenizer = HFTokenizer.from_folder(path, spec.alphabet.symbols, bool(config.get(ADD_SPECIAL_KEY, True)))
    check_vocabulary(path, tokenizer, spec)
    if tokenizer.vocab_size > int(config["vocab_size"]):
        raise UserError(
            f"hf:{path}: {VOCAB_NAME} has {tokenizer.vocab_size} tokens, more than the model's "
            f"vocab_size {config['vocab_size']}"
        )
    model = HFEncoder(config, esm).eval()
    return HFModel(path, config, model, tokenizer, {**_extras(path), **_mlm_head(path, esm, config)})


def check_vocabulary(path: Path, tokenizer: HFTokenizer, spec: SequenceSpec) -> None:
    """Refuse a vocabulary that cannot spell ``spec``'s sequences, in one line.

    Both failures are silent otherwise. A vocabulary without a core symbol reads it as the unknown
    token: a DNA model whose vocabulary is lower case saw ``<unk>`` for every base and scored every
    sequence alike. A vocabulary of other letters reads shared ones as something else: an ESM-2
    protein model takes A, C, G, T for alanine, cysteine, glycine and threonine.
    """
    known = set(spec.alphabet.symbols) | {a.upper() for a in spec.aliases}
    letters = {c for token in tokenizer.hf.get_vocab() if token.isalpha() for c in token.upper()}
    foreign = sorted(letters - known)
    if foreign:
        shown = ", ".join(foreign[:6]) + (", ..." if len(foreign) > 6 else "")
        raise UserError(
            f"hf:{path}: {VOCAB_NAME} holds letters these sequences do not have ({shown}): a model of "
            f"other sequences; expected tokens over {spec.description}"
        )
    unread = tokenizer.reads_as_unknown
    missing = [s for s in spec.alphabet.symbols[: spec.alphabet.n_core] if unread(s)]
    if missing:
        case = (
            " (its tokens are lower case; sequences are spelled in upper case)"
            if not any(unread(s.lower()) for s in missing)
            else ""
        )
        raise UserError(
            f"hf:{path}: {VOCAB_NAME} has no token for {', '.join(missing)}, each read as the unknown "
            f"token{case}; expected tokens over {spec.description}"
        )


def _config_errors() -> tuple[type[Exception], ...]:
    """huggingface_hub's validation error of a config field (transformers >= 5), if it has one."""
    try:
        from huggingface_hub.errors import StrictDataclassError
    except ImportError:
        return ()
    return (StrictDataclassError,)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# EsmForMaskedLM's head (dense, GELU, LayerNorm, decoder + bias) in sciPT's LMHead names
LM_HEAD_NAMES = {
    "dense.weight": "lm_head.dense.weight",
    "dense.bias": "lm_head.dense.bias",
    "norm.weight": "lm_head.layer_norm.weight",
    "norm.bias": "lm_head.layer_norm.bias",
    "decoder.weight": "lm_head.decoder.weight",
    "decoder.bias": "lm_head.bias",
}


def _mlm_head(path: Path, esm: nn.Module, config: dict) -> dict[str, Tensor]:
    """The folder's masked-LM head as ``mlm_head.<LMHead parameter>`` tensors, ``{}`` if it has
    none. A decoder tied to the word embeddings (ESM's default) is not stored: it is read from them."""
    from safetensors import safe_open

    from .naturalness import HEAD_PREFIX

    index = path / f"{HF_WEIGHTS_NAME}.index.json"
    files = (
        sorted(set(json.loads(index.read_text())["weight_map"].values()))
        if not (path / HF_WEIGHTS_NAME).is_file()
        else [HF_WEIGHTS_NAME]
    )
    wanted, found = set(LM_HEAD_NAMES.values()), {}
    for name in files:
        with safe_open(str(path / name), "pt") as f:
            found.update({k: f.get_tensor(k) for k in f.keys() if k in wanted})
    if "lm_head.decoder.weight" not in found and config.get("tie_word_embeddings", True):
        found["lm_head.decoder.weight"] = esm.embeddings.word_embeddings.weight.detach().clone()
    if not wanted <= set(found):
        return {}
    return {HEAD_PREFIX + ours: found[theirs].float() for ours, theirs in LM_HEAD_NAMES.items()}


def _extras(path: Path) -> dict[str, Tensor]:
    """The EWC Fisher stored beside the folder's weights by :func:`save_fisher` (``{}`` if none)."""
    from safetensors.torch import load_file

    fisher = path / FISHER_NAME
    if not fisher.is_file():
        return {}
    return {k: v for k, v in load_file(str(fisher)).items() if k.startswith(FISHER_PREFIX)}


def save_fisher(folder: str | Path, fisher: dict[str, Tensor]) -> Path:
    """Store an EWC Fisher diagonal for the ESM folder ``folder``: ``{parameter name: F}``, the
    names of :class:`HFEncoder`'s parameters (``esm.encoder.layer.0...``), as computed by
    :func:`sciPT.finetune.fisher_diagonal` on it. It goes to its own file, ``sciPT_fisher.safetensors``
    (``transformers``' ``model.safetensors`` is left as it is); :func:`load_hf` reads it back into
    ``extras`` (``fisher.<name>``), where the ``ewc`` strategy finds it."""
    from safetensors.torch import save_file

    from . import io

    check_folder(folder)
    path = Path(folder) / FISHER_NAME
    tensors = {FISHER_PREFIX + k: v.detach().to("cpu").contiguous() for k, v in fisher.items()}
    with io.atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    return path
