"""Bring your own foundation model: ESM encoders saved in the Hugging Face format.

``--init hf:DIR`` starts a sequence pipeline from a *local* folder written by ``save_pretrained`` of
an ESM model of ``transformers`` (``EsmForMaskedLM``: ESM-2 for proteins, Lin et al. 2023; the
first Nucleotide Transformer models for DNA, Dalla-Torre et al. 2024), with the tokenizer of the
same folder (``EsmTokenizer``, ``vocab.txt``). Nothing is downloaded (``local_files_only=True``,
no hub names), no code from the folder runs (``trust_remote_code=False``) and weights are read from
``model.safetensors`` only, never unpickled. ``transformers`` is the optional extra ``scipt[hf]``,
imported only here and only when an ``hf:`` model is used.

Two adapters give the folder sciPT's interfaces:

- :class:`HFEncoder`, the backbone: ``EsmModel`` (no pooler, no contact head) behind the interface
  of :class:`sciPT.nn.TransformerEncoder`: ``forward(input_ids, attention_mask) -> (B, L, D)`` is
  ``EsmModel``'s ``last_hidden_state``, ``embed`` its mean over real tokens (every token of the
  attention mask, ``<cls>``/``<eos>`` included), ``layer_groups()`` is ``[embeddings, layer_0, ...,
  layer_{n-1}, final norm]`` (what the freeze and gradual strategies use), ``supports_select`` is
  false. An EWC Fisher of its parameters (``esm.encoder.layer.0...``) stored beside the folder's
  weights by :func:`save_fisher` is found and used like a sciPT export's.
- :class:`HFTokenizer`, the tokenizer: sciPT's residue codes are spelled out (the alphabet's
  symbols) and tokenized by the folder's ``EsmTokenizer`` itself, the reference: special tokens
  where it adds them (``<cls>``, and ``<eos>`` when the tokenizer has one), the vocabulary's
  longest match from the left otherwise, so Nucleotide Transformer's non-overlapping 6-mers fall
  back to single nucleotides (around an ``N``, at the end of a sequence) exactly as in
  ``transformers``. A sequence of ``n`` residues gives at most ``n`` plus the special tokens.

A task fine-tuned from such a model exports like any other (``RUN/model/config.json`` +
``model.safetensors``): the config holds ``transformers``' own config dict under ``model`` and
the tokenizer (symbols, special tokens) under ``tokenizer``, and the folder's ``vocab.txt`` is
copied beside them, so ``predict``, ``evaluate`` and ``scan`` rebuild it without the original
folder. An ``hf:`` model records no pre-training corpus: tasks report its contamination as unknown.

The other direction, :func:`sciPT.hf_export.export_esm` (``scipt export RUN --format hf --out
DIR``), writes a sciPT DNA or protein pre-training run as an ``EsmForMaskedLM`` folder where the
two architectures compute the same function (:func:`sciPT.hf_export.esm_equivalent`), and refuses
otherwise.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .errors import ConfigError, UserError

PREFIX = "hf:"
VOCAB_NAME = "vocab.txt"
HF_CONFIG_NAME = "config.json"
HF_WEIGHTS_NAME = "model.safetensors"
FISHER_PREFIX = "fisher."
FISHER_NAME = "sciPT_fisher.safetensors"
# an ESM folder written by export_esm: sciPT's models never saw <cls>/<eos>
ADD_SPECIAL_KEY = "sciPT_add_special_tokens"
SPECIAL_TOKENS = ("unk_token", "cls_token", "pad_token", "mask_token", "eos_token")


def is_hf_init(init: str) -> bool:
    """``--init hf:DIR``?"""
    return isinstance(init, str) and init.startswith(PREFIX)


def is_hf_config(model_config: dict) -> bool:
    """Is an export's ``model`` section ``transformers``' config of an ESM model (not sciPT's)?"""
    return isinstance(model_config, dict) and model_config.get("model_type") == "esm"


def transformers_module():
    """``import transformers``, or one line naming ``pip install 'scipt[hf]'`` (exit status 2)."""
    from .registry import missing_extra

    with missing_extra("a Hugging Face model (hf:)", ["hf"]):
        import transformers
    return transformers


@contextmanager
def _quiet():
    """``transformers``' loading reports (unused LM-head weights, progress bars) kept off stderr."""
    logging = transformers_module().utils.logging
    level = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


# --- the backbone ----------------------------------------------------------------------------------
class HFEncoder(nn.Module):
    """``transformers``' ``EsmModel`` with the backbone interface of sciPT's tasks.

    Args:
        config: ``transformers``' config dict of an ESM model (``EsmConfig.to_dict()``).
        esm: a loaded ``EsmModel`` to wrap; default: a new one, randomly initialised (under the
            current torch seed) by ``transformers``.

    Attributes:
        hidden_size: the width ``D`` of the hidden states.
        config: the config dict (what an export stores).
        fsdp_wrap: the module classes FSDP wraps one by one (``EsmLayer``).

    Shapes:
        ``input_ids``: ``(B, L)`` int64; ``attention_mask``: ``(B, L)``, true (1) for real tokens;
        :meth:`forward`: ``(B, L, D)``; :meth:`embed`: ``(B, D)``.
    """

    supports_select = False

    def __init__(self, config: dict, esm: nn.Module | None = None):
        super().__init__()
        transformers = transformers_module()
        if esm is None:
            with _quiet():
                esm = transformers.EsmModel(_esm_config(config), add_pooling_layer=False)
        # the contact head reads attention maps, never the hidden states: not part of the backbone
        esm.contact_head = None
        esm.pooler = None
        self.esm = esm
        self.config = dict(config)
        self.hidden_size = int(esm.config.hidden_size)
        self.pad_id = int(esm.config.pad_token_id)
        self.fsdp_wrap = {type(layer) for layer in esm.encoder.layer}

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        causal: bool = False,
        select: Tensor | None = None,
    ) -> Tensor:
        """``EsmModel``'s final hidden states ``(B, L, D)`` (after ``emb_layer_norm_after``)."""
        if causal:
            raise ConfigError("an ESM encoder (hf:) attends both ways: causal attention is not available")
        if select is not None:
            raise ValueError("HFEncoder does not support select= (supports_select is False)")
        mask = None if attention_mask is None else attention_mask.to(torch.long)
        return self.esm(input_ids=input_ids, attention_mask=mask).last_hidden_state

    def embed(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """One vector per sequence: the mean of the final hidden states over the real tokens."""
        real = attention_mask.bool() if attention_mask is not None else input_ids != self.pad_id
        hidden = self.forward(input_ids, real)
        weights = real.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)

    def layer_groups(self) -> list[nn.Module]:
        """``[embeddings, layer_0, ..., layer_{n-1}, emb_layer_norm_after]``, input to output; they
        partition the parameters (rotary tables are buffers)."""
        return [self.esm.embeddings, *self.esm.encoder.layer, self.esm.encoder.emb_layer_norm_after]

    @property
    def max_tokens(self) -> int:
        return max_tokens(self.config)


def _esm_config(config: dict):
    transformers = transformers_module()
    fields = {k: v for k, v in config.items() if k not in ("transformers_version",)}
    return transformers.EsmConfig.from_dict(fields)


def _float32(transformers) -> dict:
    """Load in float32 whatever the checkpoint's dtype (``dtype``, ``torch_dtype`` before 4.56)."""
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype": torch.float32} if (major, minor) >= (4, 56) else {"torch_dtype": torch.float32}


def max_tokens(config: dict) -> int:
    """The longest input, in tokens (special tokens included), an ESM model of ``config`` takes.

    Learned (absolute) positions are numbered from ``pad_token_id + 1`` (fairseq's convention), so
    ``max_position_embeddings - pad_token_id - 1`` tokens fit; rotary ones have no table, and the
    length the model was trained for, ``max_position_embeddings``, is the limit.
    """
    n = int(config.get("max_position_embeddings") or 1026)
    if config.get("position_embedding_type", "absolute") == "absolute":
        return n - int(config.get("pad_token_id") or 0) - 1
    return n


# --- the tokenizer ---------------------------------------------------------------------------------
class HFTokenizer:
    """Residue codes -> the ids of an ``EsmTokenizer``, through the sequence string.

    Args:
        tokenizer: the folder's ``EsmTokenizer``.
        symbols: the alphabet of the codes (code ``i`` is ``symbols[i]``).
        special_tokens: the names of its special tokens (what :meth:`to_dict` records).
    """

    kind = "hf"

    def __init__(
        self,
        tokenizer,
        symbols: str,
        special_tokens: dict[str, str | None],
        add_special_tokens: bool = True,
    ):
        self.hf = tokenizer
        self.symbols = symbols
        self.special_tokens = dict(special_tokens)
        self.add_special_tokens = bool(add_special_tokens)
        self._letters = np.frombuffer(symbols.encode("ascii"), dtype=np.uint8)
        self.n_special = int(tokenizer.num_special_tokens_to_add()) if add_special_tokens else 0

    @classmethod
    def from_folder(cls, folder: str | Path, symbols: str, add_special_tokens: bool = True) -> HFTokenizer:
        """The tokenizer saved in ``folder`` (its ``vocab.txt`` and ``tokenizer_config.json``)."""
        transformers = transformers_module()
        with _quiet():
            tok = transformers.EsmTokenizer.from_pretrained(
                str(folder), local_files_only=True, trust_remote_code=False
            )
        special = {name: getattr(tok, name, None) for name in SPECIAL_TOKENS}
        special = {k: None if v is None else str(v) for k, v in special.items()}
        return cls(tok, symbols, special, add_special_tokens)

    @classmethod
    def from_dict(cls, data: dict, folder: str | Path) -> HFTokenizer:
        """Rebuild from :meth:`to_dict` and the ``vocab.txt`` saved beside it in ``folder``."""
        transformers = transformers_module()
        vocab = Path(folder) / data.get("vocab", VOCAB_NAME)
        if not vocab.is_file():
            raise UserError(f"{vocab}: not found (the tokenizer vocabulary of an hf: model)")
        with _quiet():
            tok = transformers.EsmTokenizer(vocab_file=str(vocab), **data["special_tokens"])
        return cls(tok, data["symbols"], data["special_tokens"], data.get("add_special_tokens", True))

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "symbols": self.symbols,
            "vocab": VOCAB_NAME,
            "special_tokens": self.special_tokens,
            "add_special_tokens": self.add_special_tokens,
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``vocab.txt`` into ``folder`` (atomically), what :meth:`from_dict` reads."""
        from . import io

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with io.atomic_path(folder / VOCAB_NAME) as tmp:
            Path(tmp).write_text("\n".join(self.hf.all_tokens), encoding="utf-8")
        return folder / VOCAB_NAME

    # vocabulary ------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return int(self.hf.vocab_size)

    @property
    def pad_id(self) -> int:
        return int(self.hf.pad_token_id)

    @property
    def mask_id(self) -> int:
        return int(self.hf.mask_token_id)

    def n_tokens(self, n_residues: int) -> int:
        """The most tokens ``n_residues`` residues can give: one per residue, plus the specials."""
        return max(0, n_residues) + self.n_special

    def max_residues(self, n_tokens: int) -> int:
        """The longest input, in residues, that is sure to fit in ``n_tokens`` tokens."""
        return n_tokens - self.n_special

    # encoding --------------------------------------------------------------------------------
    def text(self, codes: np.ndarray) -> str:
        """Residue codes -> the sequence string (upper case alphabet symbols)."""
        return self._letters[np.asarray(codes, dtype=np.int64)].tobytes().decode("ascii")

    def _ids(self, texts):
        return self.hf(texts, add_special_tokens=self.add_special_tokens)["input_ids"]

    def encode_codes(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(self._ids(self.text(codes)), dtype=np.int64)

    def encode(self, sequence: str) -> np.ndarray:
        return np.asarray(self._ids(sequence.upper()), dtype=np.int64)

    def batch(self, code_arrays: list[np.ndarray], max_tokens: int | None = None) -> dict[str, Tensor]:
        """Tokenize and right-pad: ``input_ids`` LongTensor ``[B, L]``, ``attention_mask``
        BoolTensor ``[B, L]`` (cropped to ``max_tokens`` when given), as sciPT's tokenizer does."""
        encoded = self._ids([self.text(c) for c in code_arrays]) if code_arrays else []
        if max_tokens is not None:
            encoded = [e[:max_tokens] for e in encoded]
        length = max((len(e) for e in encoded), default=0)
        ids = np.full((len(encoded), length), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encoded), length), dtype=bool)
        for i, e in enumerate(encoded):
            ids[i, : len(e)] = e
            mask[i, : len(e)] = True
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}


# --- loading a folder ------------------------------------------------------------------------------
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


def load_hf(path: str | Path, symbols: str) -> HFModel:
    """Load the ESM folder ``path`` (``--init hf:PATH``) for sequences over ``symbols``.

    Every backbone weight must be in the folder (a missing one is an error, not a random
    initialisation). The masked-LM head, if present, goes to ``extras`` (``mlm_head.*``, for
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
    missing = [k for k in info.get("missing_keys", []) if not k.startswith(("contact_head.", "pooler."))]
    if missing:
        raise UserError(
            f"hf:{path}: {HF_WEIGHTS_NAME} lacks the weight '{missing[0]}'"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
        )
    config = esm.config.to_dict()
    tokenizer = HFTokenizer.from_folder(path, symbols, bool(config.get(ADD_SPECIAL_KEY, True)))
    if tokenizer.vocab_size > int(config["vocab_size"]):
        raise UserError(
            f"hf:{path}: {VOCAB_NAME} has {tokenizer.vocab_size} tokens, more than the model's "
            f"vocab_size {config['vocab_size']}"
        )
    model = HFEncoder(config, esm).eval()
    return HFModel(path, config, model, tokenizer, {**_extras(path), **_mlm_head(path, esm, config)})


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
