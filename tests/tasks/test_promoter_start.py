"""Where a promoter classifier starts (``load_start``): the encoder's weights, tokenizer, masked-model
head, provenance and the longest input it reads, for ``--init none``, a sciPT export and ``hf:DIR``."""

from dataclasses import replace

import pytest
import torch

from sciPT.checkpoint import export_model
from sciPT.config import to_dict
from sciPT.domains.dna.tokenizer import dna_tokenizer
from sciPT.errors import UserError
from sciPT.nn import TransformerConfig, TransformerEncoder
from sciPT.objectives.masked import LMHead
from sciPT.sequence_config import TokenizerConfig
from sciPT.tasks.promoter import PromoterConfig
from sciPT.tasks.promoter_start import load_start

CORPUS = [{"path": "/data/genome.fa", "sha256": "ab" * 32, "records": 1}]


def _pretrained_export(folder, **config):
    """A dna pre-training export written by hand: 4-mers (the task's default is 3-mers), 16-token
    windows, random encoder and masked-model head weights; returns (encoder, head)."""
    tok = dna_tokenizer(TokenizerConfig(kind="kmer", k=4))
    cfg = TransformerConfig(
        vocab_size=tok.vocab_size, pad_id=tok.pad_id, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=16
    )
    torch.manual_seed(3)
    encoder, head = TransformerEncoder(cfg), LMHead(8, tok.vocab_size)
    export = {"domain": "dna", "model": to_dict(cfg), "tokenizer": tok.to_dict(), "window": 19, **config}
    extras = {f"mlm_head.{k}": v for k, v in head.state_dict().items()}
    export_model(folder / "model", encoder, export, extra_tensors=extras)
    return encoder, head


def _same_weights(module, state):
    own = module.state_dict()
    return sorted(own) == sorted(state) and all(torch.equal(own[k], state[k]) for k in own)


def test_a_pretrained_export_starts_from_its_weights_tokenizer_head_and_corpus(tmp_path):
    """Fine-tuning from a pre-training run must begin at its weights, with its tokenizer and its
    masked head (the likelihood fusion), and carry its corpus into the export and the report's
    contamination check: a fresh encoder here would make every pre-trained result a scratch one."""
    encoder, head = _pretrained_export(tmp_path / "pre", pretrained_on=CORPUS)
    start = load_start(str(tmp_path / "pre"), PromoterConfig())
    assert start.name == "pre-trained" and start.finetune is None
    assert start.tokenizer.k == 4  # the export's, not the task's default 3-mers
    assert start.model_cfg.d_model == 8 and start.model_cfg.max_len == 16
    assert start.pretrained_on == CORPUS
    for seed in (0, 1):  # the seed draws the head, never the pre-trained encoder
        assert _same_weights(start.backbone(seed), encoder.state_dict())
    assert start.has_masked_head
    scorer = start.naturalness_scorer()
    assert scorer is start.naturalness_scorer()  # built once, shared by every fold
    assert scorer.span == 4  # overlapping 4-mers: four masked tokens hide one residue
    assert scorer.mask_id == start.tokenizer.mask_id
    assert scorer.skip_ids == sorted(start.tokenizer.special_ids)
    assert _same_weights(scorer.backbone, encoder.state_dict())
    assert _same_weights(scorer.head, head.state_dict())
    # 4 x 16 tokens of overlapping 4-mers: 64 + 4 - 1 residues
    assert start.residue_cap == 67
    # RUN/model reads the same as RUN
    assert load_start(str(tmp_path / "pre" / "model"), PromoterConfig()).pretrained_on == CORPUS


def test_an_export_that_records_no_corpus_counts_as_pretrained_on_nothing(tmp_path):
    """An export written before the corpus was recorded reads as ``[]`` (nothing to check), not
    ``None``, which the report reserves for an ``hf:`` model whose corpus nobody recorded."""
    _pretrained_export(tmp_path / "pre")
    assert load_start(str(tmp_path / "pre"), PromoterConfig()).pretrained_on == []


def test_a_fine_tuned_promoter_model_is_refused_as_a_start(tmp_path):
    """``--init`` given a fine-tuned classifier by mistake says so in one line instead of fine-tuning
    a classifier's encoder as if it were pre-trained."""
    _pretrained_export(tmp_path / "clf", task="promoter")
    with pytest.raises(UserError) as refused:
        load_start(str(tmp_path / "clf"), PromoterConfig())
    assert str(refused.value) == (
        f"{tmp_path / 'clf'}: a fine-tuned promoter model; --init expects a pre-trained dna model "
        "(a pre-training run or its model/ folder)"
    )


def test_a_scratch_start_is_fresh_seeded_records_no_corpus_and_leaves_the_config_alone():
    """``--init none``: a fresh encoder per seed (ensemble members differ, a rerun repeats), the
    task's tokenizer, no corpus ([]: the report says not pre-trained), no masked head, and the
    run's model settings as given (the vocabulary is filled in on a copy)."""
    cfg = PromoterConfig()
    cfg.model = TransformerConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=64)
    asked = replace(cfg.model)
    start = load_start("none", cfg)
    assert (start.name, start.backbone_state, start.pretrained_on, start.extras) == ("scratch", None, [], {})
    assert start.pretrained_on is not None
    assert start.tokenizer.k == 3 and start.model_cfg.vocab_size == start.tokenizer.vocab_size
    assert start.model_cfg.pad_id == start.tokenizer.pad_id and start.model_cfg.d_model == 16
    assert cfg.model == asked
    assert not start.has_masked_head and start.naturalness_scorer() is None
    first, again, other = (start.backbone(s).state_dict() for s in (0, 0, 1))
    assert _same_weights(start.backbone(0), first) and _same_weights(start.backbone(0), again)
    assert not torch.equal(first["embedding.weight"], other["embedding.weight"])
    # 4 x 64 tokens of overlapping 3-mers
    assert start.residue_cap == 4 * 64 + 2


def test_an_hf_folder_starts_from_its_weights_with_an_unrecorded_corpus(tmp_path):
    """``--init hf:DIR``: the folder's encoder and masked head, a corpus nobody recorded (None, so
    contamination is 'unknown', not 'not pre-trained'), and inputs no longer than its learned
    position table: no stretch for absolute positions."""
    pytest.importorskip("transformers")
    from sciPT.domains.dna.data import DNA_SPEC
    from sciPT.hf_load import load_hf
    from sciPT.testing import tiny_esm_folder

    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    start = load_start(f"hf:{folder}", PromoterConfig())
    assert start.name == "pre-trained" and start.pretrained_on is None
    assert _same_weights(start.backbone(1), load_hf(folder, DNA_SPEC).model.state_dict())
    assert start.has_masked_head and start.naturalness_scorer().span == 1
    # 130 learned positions numbered from pad_token_id + 1 = 2: 128 tokens, one of them <cls>
    assert start.residue_cap == 130 - 2 - 1


def test_a_pretrained_export_without_a_masked_head_has_no_likelihood_to_fuse(tmp_path):
    """A pre-trained encoder exported without its masked-model head (a causal model, or an export
    older than the head) still starts from its weights but offers no likelihood: claiming a head
    would build a scorer from nothing and fuse noise into every prediction."""
    tok = dna_tokenizer(TokenizerConfig(kind="kmer", k=4))
    cfg = TransformerConfig(
        vocab_size=tok.vocab_size, pad_id=tok.pad_id, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=16
    )
    torch.manual_seed(5)
    encoder = TransformerEncoder(cfg)
    export = {"domain": "dna", "model": to_dict(cfg), "tokenizer": tok.to_dict(), "window": 19}
    export_model(tmp_path / "pre" / "model", encoder, export)
    start = load_start(str(tmp_path / "pre"), PromoterConfig())
    assert start.name == "pre-trained" and _same_weights(start.backbone(0), encoder.state_dict())
    assert not start.has_masked_head and start.naturalness_scorer() is None


def test_a_model_of_another_domain_is_refused_as_a_start(tmp_path):
    """A protein encoder given to the DNA task by mistake is refused naming its domain, instead of
    fine-tuning a protein model on DNA letters it reads as amino acids."""
    _pretrained_export(tmp_path / "prot", domain="protein")
    with pytest.raises(UserError) as refused:
        load_start(str(tmp_path / "prot"), PromoterConfig())
    assert (
        str(refused.value)
        == f"{tmp_path / 'prot' / 'model'}: model of domain 'protein', expected a 'dna' model"
    )


def test_an_hf_folders_likelihood_uses_its_own_layer_norm_epsilon(tmp_path):
    """The masked-model head of an ``hf:`` start normalises with the folder's ``layer_norm_eps``
    (1e-12 for the Nucleotide-Transformer-like folder), not sciPT's 1e-5: another epsilon scores
    every sequence's likelihood with a head the model was not trained with."""
    pytest.importorskip("transformers")
    from sciPT.testing import tiny_esm_folder

    start = load_start(f"hf:{tiny_esm_folder(tmp_path / 'nt', 'dna')}", PromoterConfig())
    assert start.model_cfg["layer_norm_eps"] == 1e-12
    assert start.naturalness_scorer().head.norm.eps == 1e-12


def test_a_fine_tuned_model_is_refused_naming_its_own_task(tmp_path):
    """The refusal names the task the export was fine-tuned for, so a user who passed a surrogate
    run as ``--init`` is not told it was a promoter model."""
    _pretrained_export(tmp_path / "sur", task="surrogate")
    with pytest.raises(
        UserError, match="a fine-tuned surrogate model; --init expects a pre-trained dna model"
    ):
        load_start(str(tmp_path / "sur"), PromoterConfig())


def test_an_hf_folders_likelihood_scores_no_special_token(tmp_path):
    """The likelihood of an ``hf:`` start scores the sequence's own words: its tokenizer's special
    tokens (``<cls>``, padding, ``<mask>``, ...) are never masked nor scored, or every sequence's
    likelihood would count how well the model predicts its ``<cls>``."""
    pytest.importorskip("transformers")
    from sciPT.testing import tiny_esm_folder

    start = load_start(f"hf:{tiny_esm_folder(tmp_path / 'nt', 'dna')}", PromoterConfig())
    hf = start.tokenizer.hf
    scorer = start.naturalness_scorer()
    assert scorer.skip_ids == sorted(set(hf.all_special_ids))
    assert {hf.cls_token_id, hf.pad_token_id, hf.mask_token_id} <= set(scorer.skip_ids)
    assert scorer.mask_id == hf.mask_token_id == 2  # the folder's <mask> (tiny_esm_folder)


def test_a_start_without_pretrained_weights_has_no_masked_head_even_with_head_weights(tmp_path):
    """A start stripped of its encoder's weights (``backbone_state=None``, as the probe's
    random-encoder control makes one) is not pre-trained: its masked head's weights, kept in
    ``extras``, belong to an encoder it no longer has, so it offers no likelihood."""
    _pretrained_export(tmp_path / "pre")
    pre = load_start(str(tmp_path / "pre"), PromoterConfig())
    assert pre.has_masked_head
    random = replace(pre, backbone_state=None)
    assert not random.has_masked_head and random.naturalness_scorer() is None
