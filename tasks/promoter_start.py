"""Where a promoter classifier starts: an encoder, pre-trained or fresh, with its tokenizer and
provenance (:class:`Start`, read by :func:`load_start`), and the encoder a start builds
(:func:`build_backbone`); fine-tuned by :mod:`.promoter_classifier`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from sciPT.checkpoint import from_pretrained, read_export_config
from sciPT.config import from_dict
from sciPT.domains.dna import domain as dna_domain
from sciPT.domains.dna.data import DNA_SPEC
from sciPT.domains.dna.tokenizer import dna_tokenizer
from sciPT.errors import UserError
from sciPT.finetune import FinetuneConfig
from sciPT.hf import is_hf_init
from sciPT.naturalness import NaturalnessScorer, head_state
from sciPT.nn import TransformerConfig, TransformerEncoder
from sciPT.tokenizers import SequenceTokenizer

if TYPE_CHECKING:
    from .promoter_config import PromoterConfig

# how many times its pre-training window (in tokens) a sciPT encoder may be fine-tuned on
LENGTH_STRETCH = 4


@dataclass
class Start:
    """A starting point: an encoder (pre-trained or fresh), its tokenizer and provenance.

    ``model_cfg`` is sciPT's :class:`TransformerConfig`, or, for ``--init hf:DIR``, the folder's
    ``transformers`` config dict (an ESM encoder, :mod:`sciPT.hf`) with its ``tokenizer`` an
    :class:`sciPT.hf_tokenizer.HFTokenizer`. ``pretrained_on`` lists the pre-training corpus files; ``[]``
    means not pre-trained, ``None`` pre-trained on a corpus nobody recorded (an ``hf:`` model).
    ``finetune``: the strategy this start is fitted with where it is not the run's (``None``).
    """

    name: str
    backbone_state: dict | None
    model_cfg: TransformerConfig | dict
    tokenizer: SequenceTokenizer
    pretrained_on: list | None
    extras: dict
    finetune: FinetuneConfig | None = None

    def backbone(self, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        model = build_backbone(self.model_cfg)
        if self.backbone_state is not None:
            model.load_state_dict(self.backbone_state)
        return model

    @property
    def has_masked_head(self) -> bool:
        """Pre-trained, with a masked-model head: not scratch, a causal model, an export written
        before heads were exported, or an ``hf:`` folder without ``lm_head``."""
        return self.backbone_state is not None and bool(head_state(self.extras))

    def naturalness_scorer(self) -> NaturalnessScorer | None:
        """The pre-trained encoder with its masked-model head (:mod:`sciPT.naturalness`), frozen
        and built once per start (every fold's classifier shares it), or ``None``
        (:attr:`has_masked_head`)."""
        return self._naturalness_scorer

    @functools.cached_property
    def _naturalness_scorer(self) -> NaturalnessScorer | None:
        if not self.has_masked_head:
            return None
        weights = head_state(self.extras)
        model = build_backbone(self.model_cfg)
        model.load_state_dict(self.backbone_state)
        if isinstance(self.model_cfg, TransformerConfig):
            # overlapping k-mers: k masked tokens hide one residue
            settings = dict(span=self.tokenizer.k, skip_ids=self.tokenizer.special_ids)
        else:  # an ESM's words do not overlap; its LayerNorm epsilon is its own
            settings = dict(
                span=1, skip_ids=self.tokenizer.hf.all_special_ids, eps=self.model_cfg["layer_norm_eps"]
            )
        return NaturalnessScorer.from_state(model, weights, mask_id=self.tokenizer.mask_id, **settings)

    @property
    def residue_cap(self) -> int:
        """The longest input, in residues, the encoder takes.

        sciPT's encoders have no position table (rotary or ALiBi), so fine-tuning inputs may be
        longer than the windows they were pre-trained on: up to ``LENGTH_STRETCH`` times, so that a
        251-bp promoter is read whole by an encoder pre-trained on 128-bp windows rather than
        cropped to half of it (the report says when inputs exceed the pre-training windows).
        """
        if isinstance(self.model_cfg, TransformerConfig):
            return LENGTH_STRETCH * self.model_cfg.max_len + self.tokenizer.k - 1
        from sciPT.hf import max_tokens

        return self.tokenizer.max_residues(max_tokens(self.model_cfg))


def build_backbone(model_cfg: TransformerConfig | dict) -> torch.nn.Module:
    """A new encoder of ``model_cfg``: sciPT's own, or an ESM encoder (``transformers`` config)."""
    if isinstance(model_cfg, TransformerConfig):
        return TransformerEncoder(model_cfg)
    from sciPT.hf import HFEncoder

    return HFEncoder(model_cfg)


def load_start(init: str, cfg: PromoterConfig) -> Start:
    if init == "none":
        tokenizer = dna_tokenizer(cfg.tokenizer)
        model_cfg = replace(cfg.model)
        dna_domain.fill_model_config(model_cfg, tokenizer)
        return Start("scratch", None, model_cfg, tokenizer, [], {})
    if is_hf_init(init):
        # an ESM folder in the Hugging Face format; it records no pre-training corpus (None)
        from sciPT.hf_load import load_hf

        hf = load_hf(init[len("hf:") :], DNA_SPEC)
        state = {k: v.clone() for k, v in hf.model.state_dict().items()}
        return Start("pre-trained", state, hf.config, hf.tokenizer, None, hf.extras)
    exported = read_export_config(init)
    if exported.get("task"):
        raise UserError(
            f"{init}: a fine-tuned {exported['task']} model; --init expects a pre-trained "
            "dna model (a pre-training run or its model/ folder)"
        )
    pre = from_pretrained(init, domain="dna")
    model_cfg = from_dict(TransformerConfig, pre.config["model"], f"{init}: model")
    return Start(
        "pre-trained",
        {k: v.clone() for k, v in pre.model.state_dict().items()},
        model_cfg,
        SequenceTokenizer.from_dict(pre.config["tokenizer"]),
        pre.config.get("pretrained_on", []),
        pre.extras,
    )
