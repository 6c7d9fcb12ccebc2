"""Bring your own foundation model: ESM encoders saved in the Hugging Face format.

``--init hf:DIR`` starts a sequence pipeline from a *local* folder written by ``save_pretrained`` of
an ESM model of ``transformers`` (``EsmForMaskedLM``: ESM-2 for proteins, Lin et al. 2023; the
first Nucleotide Transformer models for DNA, Dalla-Torre et al. 2024), with the tokenizer of the
same folder (``EsmTokenizer``, ``vocab.txt``). Nothing is downloaded (``local_files_only=True``,
no hub names), no code from the folder runs (``trust_remote_code=False``) and weights are read from
``model.safetensors`` only, never unpickled. ``transformers`` is the optional extra ``scipt[hf]``,
imported only by these modules and only when an ``hf:`` model is used.

Two adapters give the folder sciPT's interfaces:

- :class:`HFEncoder` (here), the backbone: ``EsmModel`` (no pooler, no contact head) behind the
  interface of :class:`sciPT.nn.TransformerEncoder`: ``forward(input_ids, attention_mask) -> (B, L,
  D)`` is ``EsmModel``'s ``last_hidden_state``, ``embed`` its mean over real tokens (every token of
  the attention mask, ``<cls>``/``<eos>`` included), ``layer_groups()`` is ``[embeddings, layer_0,
  ..., layer_{n-1}, final norm]`` (what the freeze and gradual strategies use), ``supports_select``
  is false. An EWC Fisher of its parameters (``esm.encoder.layer.0...``) stored beside the folder's
  weights by :func:`sciPT.hf_load.save_fisher` is found and used like a sciPT export's.
- :class:`sciPT.hf_tokenizer.HFTokenizer`, the tokenizer: sciPT's residue codes are spelled out
  (the alphabet's symbols) and tokenized by the folder's ``EsmTokenizer`` itself, the reference:
  special tokens where it adds them (``<cls>``, and ``<eos>`` when the tokenizer has one), the
  vocabulary's longest match from the left otherwise, so Nucleotide Transformer's non-overlapping
  6-mers fall back to single nucleotides (around an ``N``, at the end of a sequence) exactly as in
  ``transformers``. A sequence of ``n`` residues gives at most ``n`` plus the special tokens.

Loading and checking a folder, and storing a Fisher beside it: :mod:`sciPT.hf_load`
(:func:`~sciPT.hf_load.load_hf`).

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

from contextlib import contextmanager

import torch
from torch import Tensor, nn

from .errors import ConfigError

PREFIX = "hf:"
# an ESM folder written by export_esm: sciPT's models never saw <cls>/<eos>
ADD_SPECIAL_KEY = "sciPT_add_special_tokens"


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
