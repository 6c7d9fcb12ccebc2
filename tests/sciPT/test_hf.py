"""sciPT.hf, hf_load and hf_tokenizer: ESM folders in the Hugging Face format behind sciPT's backbone
and tokenizer interfaces.

The reference is ``transformers`` itself: the same folder loaded with ``EsmForMaskedLM`` and
tokenized with its ``EsmTokenizer`` must give the same ids, hidden states and embeddings.
"""

import json
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from sciPT.domains.dna.data import DNA_SPEC  # noqa: E402
from sciPT.domains.protein.data import PROTEIN_SPEC  # noqa: E402
from sciPT.errors import UserError  # noqa: E402
from sciPT.finetune import FinetuneConfig, build_strategy, layer_groups, load_fisher  # noqa: E402
from sciPT.hf import HFEncoder, max_tokens  # noqa: E402
from sciPT.hf_load import load_hf, save_fisher  # noqa: E402
from sciPT.hf_tokenizer import HFTokenizer  # noqa: E402
from sciPT.testing import tiny_esm_folder  # noqa: E402

DNA = DNA_SPEC.alphabet.symbols
PROTEIN = PROTEIN_SPEC.alphabet.symbols
DNA_SEQS = ["ACGTACGTACGTNACGTAC", "ACGTTT", "GGGGGGCCCCCCAAAAAATTTTTTN", "TTAGGCATNNACGATCGATCGGGAT"]
PROTEIN_SEQS = ["MKTAYIAKQRQISFVKSHFSRQ", "MUOXAC", "WWYYKLLLPQRSTVACDEFGHIKLMN"]


@pytest.fixture(scope="module")
def dna_folder(tmp_path_factory):
    return tiny_esm_folder(tmp_path_factory.mktemp("nt") / "nt", "dna")


@pytest.fixture(scope="module")
def protein_folder(tmp_path_factory):
    return tiny_esm_folder(tmp_path_factory.mktemp("esm2") / "esm2", "protein")


def codes_of(seqs, symbols):
    return [np.array([symbols.index(c) for c in s], dtype=np.uint8) for s in seqs]


def reference(folder, seqs):
    """What transformers computes on its own: ids, mask, last hidden states."""
    from transformers import EsmForMaskedLM, EsmTokenizer

    tok = EsmTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = EsmForMaskedLM.from_pretrained(str(folder), local_files_only=True).eval()
    batch = tok(seqs, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model.esm(**batch).last_hidden_state
    return batch, hidden


@pytest.mark.parametrize("kind", ["dna", "protein"])
def test_ids_hidden_states_and_embeddings_equal_transformers(kind, dna_folder, protein_folder):
    folder, symbols, seqs = (
        (dna_folder, DNA, DNA_SEQS) if kind == "dna" else (protein_folder, PROTEIN, PROTEIN_SEQS)
    )
    batch, hidden_ref = reference(folder, seqs)
    hf = load_hf(folder, DNA_SPEC if symbols == DNA else PROTEIN_SPEC)
    ours = hf.tokenizer.batch(codes_of(seqs, symbols))
    assert torch.equal(ours["input_ids"], batch["input_ids"])
    assert torch.equal(ours["attention_mask"], batch["attention_mask"].bool())
    with torch.no_grad():
        hidden = hf.model(ours["input_ids"], ours["attention_mask"])
        emb = hf.model.embed(ours["input_ids"], ours["attention_mask"])
    assert hidden.shape == (len(seqs), batch["input_ids"].shape[1], 32)
    torch.testing.assert_close(hidden, hidden_ref, atol=1e-5, rtol=0)
    m = batch["attention_mask"][..., None].float()
    torch.testing.assert_close(emb, (hidden_ref * m).sum(1) / m.sum(1), atol=1e-5, rtol=0)
    assert hf.model.hidden_size == 32 and not hf.model.supports_select


def test_nucleotide_transformer_tokens_are_6mers_with_single_nucleotide_fallback(dna_folder):
    tok = load_hf(dna_folder, DNA_SPEC).tokenizer
    ids = tok.encode_codes(codes_of(["ACGTACGTACGTNACGTAC"], DNA)[0])
    assert tok.hf.convert_ids_to_tokens(ids.tolist()) == ["<cls>", "ACGTAC", "GTACGT", "N", "ACGTAC"]
    assert tok.n_special == 1 and tok.n_tokens(19) == 20 and tok.max_residues(20) == 19


def test_protein_tokens_are_residues_between_cls_and_eos(protein_folder):
    tok = load_hf(protein_folder, PROTEIN_SPEC).tokenizer
    ids = tok.encode_codes(codes_of(["MUOX"], PROTEIN)[0])
    assert tok.hf.convert_ids_to_tokens(ids.tolist()) == ["<cls>", "M", "U", "O", "X", "<eos>"]
    assert tok.n_tokens(4) == 6


def test_tokenizer_round_trip_through_its_export(dna_folder, tmp_path):
    tok = load_hf(dna_folder, DNA_SPEC).tokenizer
    tok.save(tmp_path)
    again = HFTokenizer.from_dict(tok.to_dict(), tmp_path)
    codes = codes_of(DNA_SEQS, DNA)
    a, b = tok.batch(codes), again.batch(codes)
    assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(
        a["attention_mask"], b["attention_mask"]
    )


def test_layer_groups_partition_the_parameters_and_every_strategy_builds(dna_folder):
    model = load_hf(dna_folder, DNA_SPEC).model
    groups = layer_groups(model, "freeze")
    assert len(groups) == 2 + 2  # embeddings, 2 layers, final norm
    fisher = {n: torch.ones_like(p) for n, p in model.named_parameters()}
    for strategy in ("full", "linear-probe", "freeze", "gradual", "l2sp", "ewc", "replay"):
        build_strategy(FinetuneConfig(strategy=strategy), model, fisher=fisher)


def test_a_fisher_stored_in_the_folder_is_found(tmp_path):
    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    model = load_hf(folder, DNA_SPEC).model
    fisher = {n: torch.full_like(p, 0.5) for n, p in model.named_parameters()}
    save_fisher(folder, fisher)
    again = load_hf(folder, DNA_SPEC)
    loaded = load_fisher(again.extras)
    assert set(loaded) == set(fisher) and all(torch.equal(loaded[n], fisher[n]) for n in fisher)
    assert (folder / "sciPT_fisher.safetensors").is_file()
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.model.state_dict().values())
    )


def test_a_new_encoder_from_the_config_reloads_the_weights(protein_folder):
    hf = load_hf(protein_folder, PROTEIN_SPEC)
    fresh = HFEncoder(hf.config)
    fresh.load_state_dict(hf.model.state_dict())
    batch = hf.tokenizer.batch(codes_of(PROTEIN_SEQS, PROTEIN))
    with torch.no_grad():
        torch.testing.assert_close(fresh.eval()(**batch), hf.model(**batch), atol=0, rtol=0)
    assert max_tokens(hf.config) == 1026 and max_tokens(load_hf_config_dna()) == 130 - 1 - 1


def load_hf_config_dna():
    return {"position_embedding_type": "absolute", "max_position_embeddings": 130, "pad_token_id": 1}


def test_errors_are_one_line(tmp_path):
    with pytest.raises(UserError) as err:
        load_hf(tmp_path / "nope", DNA_SPEC)
    assert str(err.value) == (
        f"hf:{tmp_path / 'nope'}: folder not found (hf: takes a local folder written by "
        "save_pretrained; nothing is downloaded)"
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError) as err:
        load_hf(tmp_path / "empty", DNA_SPEC)
    assert str(err.value) == (
        f"hf:{tmp_path / 'empty'}: not an ESM model folder (no config.json; expected an "
        "EsmForMaskedLM saved with save_pretrained)"
    )
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert/config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(UserError, match=r"config.json has model_type 'bert'"):
        load_hf(tmp_path / "bert", DNA_SPEC)


@pytest.mark.parametrize(
    "change,found",
    [
        (
            {"position_embedding_type": "relative_key"},
            "position_embedding_type 'relative_key'; expected "
            "'absolute' or 'rotary' (ESM-2, Nucleotide Transformer)",
        ),
        (
            {"is_decoder": True},
            "is_decoder true (causal attention); expected a masked language model's encoder",
        ),
        ({"pad_token_id": None}, "pad_token_id null; expected the padding token's id (an integer)"),
        # a quoted id is no id: padding would be looked up by the string "1"
        ({"pad_token_id": "1"}, 'pad_token_id "1"; expected the padding token\'s id (an integer)'),
    ],
)
def test_esm_settings_sciPT_does_not_compute_are_refused(tmp_path, change, found):
    # transformers accepts each of them; a relative position type even drops the folder's table
    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(UserError) as err:
        load_hf(folder, DNA_SPEC)
    assert str(err.value) == f"hf:{folder}: config.json has {found}"


def test_damaged_folder_files_are_one_line(tmp_path):
    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # an interrupted copy
    with pytest.raises(UserError, match=rf"^hf:{folder}: model.safetensors cannot be read \(.+\)$"):
        load_hf(folder, DNA_SPEC)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(UserError, match=rf"^hf:{folder}: config.json cannot be read \(.+\)$"):
        load_hf(folder, DNA_SPEC)


def test_a_vocabulary_that_cannot_spell_dna_is_refused(tmp_path, protein_folder):
    # both were accepted: a lower-case vocabulary read every base as <unk> (every sequence scored
    # alike), a protein one read A, C, G, T as alanine, cysteine, glycine and threonine
    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    vocab = (folder / "vocab.txt").read_text().split("\n")
    (folder / "vocab.txt").write_text("\n".join(t if t.startswith("<") else t.lower() for t in vocab))
    with pytest.raises(UserError) as err:
        load_hf(folder, DNA_SPEC)
    assert str(err.value) == (
        f"hf:{folder}: vocab.txt has no token for A, C, G, T, each read as the unknown token (its "
        "tokens are lower case; sequences are spelled in upper case); expected tokens over "
        "A, C, G, T, N or an IUPAC ambiguity code (R Y S W K M B D H V), either case"
    )
    with pytest.raises(UserError) as err:
        load_hf(protein_folder, DNA_SPEC)
    assert str(err.value) == (
        f"hf:{protein_folder}: vocab.txt holds letters these sequences do not have (E, F, I, L, O, "
        "P, ...): a model of other sequences; expected tokens over A, C, G, T, N or an IUPAC "
        "ambiguity code (R Y S W K M B D H V), either case"
    )
    assert load_hf(protein_folder, PROTEIN_SPEC).tokenizer.vocab_size == 33  # B, Z read as X: its own


def test_a_configuration_transformers_refuses_is_one_line(tmp_path):
    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_attention_heads": "four"}))
    with pytest.raises(
        UserError, match=rf"^hf:{folder}: config.json is not a valid ESM configuration \(.+\)$"
    ):
        load_hf(folder, DNA_SPEC)


def test_pickled_weights_are_refused(tmp_path):
    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(UserError, match=r"no model.safetensors \(weights are read from safetensors only"):
        load_hf(folder, DNA_SPEC)


def test_missing_transformers_names_the_extra(dna_folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(UserError) as err:
        load_hf(dna_folder, DNA_SPEC)
    assert str(err.value) == (
        "a Hugging Face model (hf:) needs 'transformers', which is not installed: pip install 'scipt[hf]'"
    )


SCIPT_MODEL = {"position": "rotary", "activation": "gelu", "norm_eps": 1e-5, "vocab_size": 10}


@pytest.mark.parametrize(
    "change,message",
    [
        (
            {"position": "alibi"},
            "model.position: 'alibi' has no ESM equivalent (ESM has rotary or learned positions); only "
            "rotary models export to the hf format",
        ),
        (
            {"activation": "swiglu"},
            "model.activation: 'swiglu' has no ESM equivalent (ESM's feed-forward is GELU); only GELU "
            "models export to the hf format",
        ),
        (
            {"k": 6},
            "tokenizer.k: overlapping 6-mers have no EsmTokenizer equivalent (it cuts a sequence into "
            "non-overlapping words); only residue tokenizers (k = 1) export to the hf format",
        ),
        (
            {"objective": "causal"},
            "objective.kind: 'causal' has no EsmForMaskedLM equivalent (a masked-LM head); only masked "
            "pre-training runs export to the hf format",
        ),
        (
            {"norm_eps": 1e-6},
            "model.norm_eps: 1e-06 differs from the masked-LM head's 1e-05 and ESM has one "
            "layer_norm_eps for both; only norm_eps = 1e-05 exports to the hf format",
        ),
        (  # a larger epsilon differs as much as a smaller one
            {"norm_eps": 1e-4},
            "model.norm_eps: 0.0001 differs from the masked-LM head's 1e-05 and ESM has one "
            "layer_norm_eps for both; only norm_eps = 1e-05 exports to the hf format",
        ),
    ],
)
def test_settings_without_an_esm_equivalent_are_refused_in_one_line(change, message):
    from sciPT.errors import ConfigError
    from sciPT.hf_export import esm_equivalent

    model = {**SCIPT_MODEL, **{k: v for k, v in change.items() if k in SCIPT_MODEL}}
    tokenizer = {"symbols": DNA, "k": change.get("k", 1)}
    with pytest.raises(ConfigError) as err:
        esm_equivalent(model, tokenizer, change.get("objective", "masked"))
    assert str(err.value) == message
    esm_equivalent(SCIPT_MODEL, {"symbols": DNA, "k": 1})  # the default configuration maps exactly


@pytest.mark.parametrize("kind", ["dna", "protein"])
def test_the_likelihood_of_an_hf_model_is_transformers_own(kind, dna_folder, protein_folder):
    """One centre per pass: the scorer's PLL is the mean over real, non-special tokens of
    EsmForMaskedLM's log-probability of the token with that token masked."""
    from transformers import EsmForMaskedLM

    from sciPT.naturalness import NaturalnessScorer, head_state

    folder, symbols, seqs = (
        (dna_folder, DNA, DNA_SEQS) if kind == "dna" else (protein_folder, PROTEIN, PROTEIN_SEQS)
    )
    hf = load_hf(folder, DNA_SPEC if symbols == DNA else PROTEIN_SPEC)
    settings = dict(
        mask_id=hf.tokenizer.mask_id, span=1, stride=1000, skip_ids=hf.tokenizer.hf.all_special_ids
    )
    scorer = NaturalnessScorer.from_state(
        hf.model, head_state(hf.extras), eps=hf.config["layer_norm_eps"], **settings
    )
    batch = hf.tokenizer.batch(codes_of(seqs, symbols))
    ours = scorer(batch["input_ids"], batch["attention_mask"])
    model = EsmForMaskedLM.from_pretrained(str(folder), local_files_only=True).eval()
    special = set(hf.tokenizer.hf.all_special_ids)
    for i, (ids, mask) in enumerate(zip(batch["input_ids"], batch["attention_mask"])):
        logps = []
        for c in range(int(mask.sum())):
            if int(ids[c]) in special:
                continue
            x = ids.clone()
            x[c] = hf.tokenizer.mask_id
            with torch.no_grad():
                logits = model(input_ids=x[None], attention_mask=mask[None].long()).logits[0, c]
            logps.append(torch.log_softmax(logits, -1)[ids[c]].item())
        assert ours[i].item() == pytest.approx(np.mean(logps), abs=1e-4)


def test_an_esmfold_folder_and_a_folder_without_vocabulary_are_refused_in_one_line(tmp_path):
    # both load as an EsmModel without a word: an ESMFold config computes a folding trunk sciPT
    # does not wrap, and a missing vocab.txt would surface as a transformers traceback
    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "is_folding_model": True}))
    with pytest.raises(UserError) as err:
        load_hf(folder, DNA_SPEC)
    assert str(err.value) == f"hf:{folder}: an ESMFold model; expected an ESM language model (EsmForMaskedLM)"
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "vocab.txt").unlink()
    with pytest.raises(UserError) as err:
        load_hf(folder, DNA_SPEC)
    assert str(err.value) == (f"hf:{folder}: no vocab.txt (the EsmTokenizer vocabulary saved with the model)")


def test_a_config_that_is_not_a_json_object_is_one_line(tmp_path):
    # a list is valid JSON: it was read as a config and failed on .get with an AttributeError
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd/config.json").write_text('["esm"]')
    with pytest.raises(UserError) as err:
        load_hf(tmp_path / "odd", DNA_SPEC)
    assert str(err.value) == (
        f"hf:{tmp_path / 'odd'}: not an ESM model folder (config.json is not a JSON object; expected an "
        "EsmForMaskedLM saved with save_pretrained)"
    )


def test_a_weight_missing_from_the_folder_is_an_error_not_a_random_initialisation(tmp_path):
    # transformers fills a missing weight with random numbers and goes on: the user would fine-tune
    # (and report on) a partly random model believing it pre-trained
    from safetensors.torch import load_file, save_file

    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    weights = load_file(str(folder / "model.safetensors"))
    dropped = ["esm.encoder.layer.1.output.dense.weight"]
    save_file({k: v for k, v in weights.items() if k not in dropped}, str(folder / "model.safetensors"))
    with pytest.raises(UserError) as err:
        load_hf(folder, DNA_SPEC)
    assert (
        str(err.value)
        == f"hf:{folder}: model.safetensors lacks the weight 'encoder.layer.1.output.dense.weight'"
    )
    # the count of the weights not named tells a user how damaged the folder is: one more, then two
    for more, extra in (
        (1, "esm.encoder.layer.1.output.dense.bias"),
        (2, "esm.encoder.emb_layer_norm_after.weight"),
    ):
        dropped.append(extra)
        save_file({k: v for k, v in weights.items() if k not in dropped}, str(folder / "model.safetensors"))
        with pytest.raises(UserError) as err:
            load_hf(folder, DNA_SPEC)
        named = str(err.value).split("'")[1]
        assert "esm." + named in dropped
        assert str(err.value) == f"hf:{folder}: model.safetensors lacks the weight '{named}' and {more} more"


def test_sharded_weights_load_with_their_masked_lm_head(tmp_path, dna_folder):
    # large checkpoints are saved in shards (model.safetensors.index.json): the same model, the
    # same head, whether the weights are in one file or several
    from transformers import EsmForMaskedLM

    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    model = EsmForMaskedLM.from_pretrained(str(folder), local_files_only=True)
    (folder / "model.safetensors").unlink()
    model.save_pretrained(str(folder), max_shard_size="50KB")
    assert (folder / "model.safetensors.index.json").is_file() and len(list(folder.glob("*.safetensors"))) > 1
    sharded, single = load_hf(folder, DNA_SPEC), load_hf(dna_folder, DNA_SPEC)
    assert sorted(sharded.extras) == sorted(single.extras) and len(single.extras) == 6
    assert all(torch.equal(sharded.extras[k], single.extras[k]) for k in single.extras)
    batch = single.tokenizer.batch(codes_of(DNA_SEQS, DNA))
    with torch.no_grad():
        torch.testing.assert_close(sharded.model(**batch), single.model(**batch), atol=0, rtol=0)


def test_a_vocabulary_larger_than_the_embedding_table_is_refused(tmp_path):
    # token ids past vocab_size would index beyond the embedding table (an IndexError mid-run)
    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    vocab = (folder / "vocab.txt").read_text().split("\n")
    (folder / "vocab.txt").write_text("\n".join([*vocab, "<extra>"]))
    with pytest.raises(UserError) as err:
        load_hf(folder, DNA_SPEC)
    assert str(err.value) == (
        f"hf:{folder}: vocab.txt has {len(vocab) + 1} tokens, more than the model's vocab_size {len(vocab)}"
    )


def test_the_lower_case_hint_is_given_only_when_lower_case_would_read(tmp_path):
    # A and C only in lower case, T not at all: switching case would not fix the vocabulary, so
    # the hint would send the user the wrong way
    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    vocab = (folder / "vocab.txt").read_text().split("\n")
    vocab = [{"A": "a", "C": "c", "T": "<unused-t>"}.get(t, t) for t in vocab]
    (folder / "vocab.txt").write_text("\n".join(vocab))
    with pytest.raises(UserError) as err:
        load_hf(folder, DNA_SPEC)
    assert str(err.value).startswith(
        f"hf:{folder}: vocab.txt has no token for A, C, T, each read as the unknown token; expected tokens over "
    )


def test_a_first_line_stands_for_a_multi_line_error():
    # transformers' validation errors run over several lines; the first says what is wrong
    from sciPT.hf_load import _first_line

    assert _first_line(ValueError("num_attention_heads: expected an int\n  got 'four'\n")) == (
        "num_attention_heads: expected an int"
    )
    assert _first_line(ValueError("")) == "ValueError"


def test_a_fisher_is_not_stored_beside_something_that_is_not_an_esm_folder(tmp_path):
    # it was written into any folder, to be found by no load_hf
    (tmp_path / "run").mkdir()
    with pytest.raises(UserError, match=r"^hf:.*: not an ESM model folder \(no config.json;"):
        save_fisher(tmp_path / "run", {"w": torch.ones(2)})
    assert not (tmp_path / "run" / "sciPT_fisher.safetensors").exists()


def test_a_tokenizer_without_special_tokens_counts_none_and_round_trips(dna_folder, tmp_path):
    # an exported sciPT model is fed without <cls>/<eos>: counting them would crop every window
    # by one residue, and losing the setting on reload would add a <cls> the model never saw
    tok = HFTokenizer.from_folder(dna_folder, DNA, add_special_tokens=False)
    assert tok.n_special == 0 and tok.n_tokens(19) == 19 and tok.max_residues(20) == 20
    tok.save(tmp_path)
    again = HFTokenizer.from_dict(tok.to_dict(), tmp_path)
    codes = codes_of(["ACGTACGTACGTNACGTAC"], DNA)
    assert again.batch(codes)["input_ids"].tolist() == tok.batch(codes)["input_ids"].tolist()
    assert tok.hf.convert_ids_to_tokens(again.encode_codes(codes[0]).tolist()) == [
        "ACGTAC",
        "GTACGT",
        "N",
        "ACGTAC",
    ]


def test_batch_crops_to_max_tokens_and_encode_reads_lower_case(dna_folder):
    # a cropped token is a residue the model never sees; a lower-case FASTA read as <unk> scores
    # every sequence alike
    tok = load_hf(dna_folder, DNA_SPEC).tokenizer
    codes = codes_of(DNA_SEQS, DNA)
    full, cropped = tok.batch(codes), tok.batch(codes, max_tokens=3)
    assert cropped["input_ids"].shape == (4, 3)
    assert torch.equal(cropped["input_ids"], full["input_ids"][:, :3])
    assert torch.equal(cropped["attention_mask"], full["attention_mask"][:, :3])
    assert tok.encode("acgtacgtacgtnacgtac").tolist() == tok.encode_codes(codes[0]).tolist()


def test_a_tokenizer_dict_without_its_vocabulary_is_one_line(dna_folder, tmp_path):
    tok = load_hf(dna_folder, DNA_SPEC).tokenizer
    with pytest.raises(UserError) as err:
        HFTokenizer.from_dict(tok.to_dict(), tmp_path)
    assert str(err.value) == f"{tmp_path / 'vocab.txt'}: not found (the tokenizer vocabulary of an hf: model)"


def test_a_lower_case_vocabulary_of_other_letters_is_named_as_such(tmp_path):
    # a lower-case protein vocabulary is a model of other sequences, not a case problem: the
    # lower-case hint would send the user to upper-case a protein model's tokens
    folder = tiny_esm_folder(tmp_path / "esm2", "protein")
    vocab = (folder / "vocab.txt").read_text().split("\n")
    (folder / "vocab.txt").write_text("\n".join(t if t.startswith("<") else t.lower() for t in vocab))
    with pytest.raises(UserError) as err:
        load_hf(folder, DNA_SPEC)
    assert str(err.value).startswith(
        f"hf:{folder}: vocab.txt holds letters these sequences do not have (E, F, I, L, O, P, ...): "
    )


def test_a_config_without_a_position_type_is_read_as_absolute(tmp_path, dna_folder):
    # transformers' own default: a hand-written config.json may leave it out
    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    config = json.loads((folder / "config.json").read_text())
    assert config.pop("position_embedding_type") == "absolute"
    (folder / "config.json").write_text(json.dumps(config))
    hf, ref = load_hf(folder, DNA_SPEC), load_hf(dna_folder, DNA_SPEC)
    batch = ref.tokenizer.batch(codes_of(DNA_SEQS, DNA))
    with torch.no_grad():
        torch.testing.assert_close(hf.model(**batch), ref.model(**batch), atol=0, rtol=0)


def test_a_folder_without_a_contact_head_loads(tmp_path, dna_folder):
    # sciPT never uses ESM's contact head: a folder saved without it is a complete language model,
    # not one that "lacks a weight"
    from safetensors.torch import load_file, save_file

    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    weights = load_file(str(folder / "model.safetensors"))
    assert any(k.startswith("esm.contact_head.") for k in weights)
    kept = {k: v for k, v in weights.items() if not k.startswith("esm.contact_head.")}
    save_file(kept, str(folder / "model.safetensors"), metadata={"format": "pt"})
    hf, ref = load_hf(folder, DNA_SPEC), load_hf(dna_folder, DNA_SPEC)
    batch = ref.tokenizer.batch(codes_of(DNA_SEQS, DNA))
    with torch.no_grad():
        torch.testing.assert_close(hf.model(**batch), ref.model(**batch), atol=0, rtol=0)


def test_six_foreign_letters_are_all_named_without_an_ellipsis(tmp_path):
    # the list is cut after six: exactly six are shown whole, a "..." would claim more exist
    from sciPT.hf_load import check_vocabulary

    (tmp_path / "vocab.txt").write_text("\n".join(["<pad>", "<unk>", "<cls>", "<mask>", *"ACGTN", *"EFILPQ"]))
    tok = HFTokenizer.from_folder(tmp_path, DNA)
    with pytest.raises(UserError) as err:
        check_vocabulary(tmp_path, tok, DNA_SPEC)
    assert str(err.value).startswith(
        f"hf:{tmp_path}: vocab.txt holds letters these sequences do not have (E, F, I, L, P, Q): "
    )


def test_a_tokenizer_dict_from_before_the_special_token_setting_adds_them(dna_folder, tmp_path):
    # exports written before add_special_tokens was recorded were models fed <cls>: reading the
    # missing setting as "no specials" would feed them sequences without it
    tok = load_hf(dna_folder, DNA_SPEC).tokenizer
    tok.save(tmp_path)
    old = {k: v for k, v in tok.to_dict().items() if k != "add_special_tokens"}
    again = HFTokenizer.from_dict(old, tmp_path)
    assert again.add_special_tokens and again.n_special == 1
    ids = again.encode_codes(codes_of(["ACGTAC"], DNA)[0]).tolist()
    assert tok.hf.convert_ids_to_tokens(ids) == ["<cls>", "ACGTAC"]


def test_a_half_precision_folder_loads_in_float32(tmp_path):
    # checkpoints are often shared in float16: fine-tuning and scoring them in half precision on
    # a CPU loses digits (and fails in places); sciPT reads every folder in float32
    from transformers import EsmForMaskedLM

    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    EsmForMaskedLM.from_pretrained(str(folder), local_files_only=True).half().save_pretrained(str(folder))
    hf = load_hf(folder, DNA_SPEC)
    assert {p.dtype for p in hf.model.parameters()} == {torch.float32}
    assert {t.dtype for t in hf.extras.values()} == {torch.float32} and len(hf.extras) == 6
    esm = EsmForMaskedLM.from_pretrained(str(folder), local_files_only=True).float().eval()
    batch = hf.tokenizer.batch(codes_of(DNA_SEQS, DNA))
    with torch.no_grad():  # transformers' own reading of the half-precision weights in float32
        hidden_ref = esm.esm(
            batch["input_ids"], attention_mask=batch["attention_mask"].long()
        ).last_hidden_state
        torch.testing.assert_close(hf.model(**batch), hidden_ref, atol=1e-5, rtol=0)


def test_only_an_hf_prefix_and_an_esm_config_are_read_as_hugging_face():
    # a local path that merely contains "hf:" is a sciPT run; a sciPT model section is not ESM's
    from sciPT.hf import is_hf_config, is_hf_init

    assert is_hf_init("hf:models/nt") and not is_hf_init("runs/hf:old") and not is_hf_init(None)
    assert is_hf_config({"model_type": "esm", "hidden_size": 32})
    assert not is_hf_config({"d_model": 32, "n_layers": 2}) and not is_hf_config(None)


def test_embed_without_a_mask_averages_over_the_tokens_that_are_not_padding(dna_folder):
    # a caller that passes only the ids must not have the padding averaged into short sequences
    hf = load_hf(dna_folder, DNA_SPEC)
    batch = hf.tokenizer.batch(codes_of(DNA_SEQS, DNA))
    assert not batch["attention_mask"].all()  # the batch is padded
    with torch.no_grad():
        torch.testing.assert_close(
            hf.model.embed(batch["input_ids"]), hf.model.embed(batch["input_ids"], batch["attention_mask"])
        )


def test_causal_attention_and_select_are_refused(dna_folder):
    # an ESM encoder cannot mask the future or compute a subset of positions: saying so beats a silent
    # bidirectional answer
    model = load_hf(dna_folder, DNA_SPEC).model
    ids = torch.tensor([[3, 5, 6]])
    with pytest.raises(UserError) as err:
        model(ids, causal=True)
    assert str(err.value) == "an ESM encoder (hf:) attends both ways: causal attention is not available"
    with pytest.raises(ValueError) as err:
        model(ids, select=torch.tensor([0]))
    assert str(err.value) == "HFEncoder does not support select= (supports_select is False)"


def test_max_tokens_of_a_config_without_its_defaults_is_transformers_default():
    # a config.json that leaves fields out means transformers' defaults (absolute positions, 1026)
    from transformers import EsmConfig

    assert max_tokens({}) == max_tokens(EsmConfig().to_dict()) == 1026 - 0 - 1
    assert max_tokens({"position_embedding_type": "rotary"}) == 1026


def test_loading_leaves_transformers_logging_as_it_was(tmp_path):
    # sciPT quiets transformers while it loads; a user's own logging and progress bars come back after
    from transformers.utils import logging

    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    level, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    try:
        logging.set_verbosity_info()
        logging.enable_progress_bar()
        load_hf(folder, DNA_SPEC)
        assert logging.get_verbosity() == logging.INFO and logging.is_progress_bar_enabled()
    finally:
        logging.set_verbosity(level)
        (logging.enable_progress_bar if bars else logging.disable_progress_bar)()


@pytest.mark.parametrize("kind, pad, mask", [("dna", 1, 2), ("protein", 1, 32)])
def test_the_pad_and_mask_ids_are_the_vocabularys_own(kind, pad, mask, dna_folder, protein_folder):
    # the likelihood scorer masks with mask_id: a mask read as <pad> (or any other token) would
    # score every sequence with the wrong token hidden; ids by hand from sciPT.testing's vocabularies
    # (Nucleotide Transformer: <unk> <pad> <mask> ...; ESM-2: <cls> <pad> ... <mask> last of 33)
    folder, spec = (dna_folder, DNA_SPEC) if kind == "dna" else (protein_folder, PROTEIN_SPEC)
    tok = load_hf(folder, spec).tokenizer
    assert (tok.pad_id, tok.mask_id) == (pad, mask)
    assert tok.hf.convert_ids_to_tokens([tok.pad_id, tok.mask_id]) == ["<pad>", "<mask>"]


def test_a_folder_with_dropout_loads_ready_to_evaluate(tmp_path):
    # a model handed back in training mode drops out hidden states at random: embeddings and scores
    # of the same sequence would differ from call to call and from transformers' eval() model
    folder = tiny_esm_folder(
        tmp_path / "nt", "dna", hidden_dropout_prob=0.5, attention_probs_dropout_prob=0.5
    )
    hf = load_hf(folder, DNA_SPEC)
    assert not hf.model.training
    _, hidden_ref = reference(folder, DNA_SEQS)  # transformers' model in eval()
    batch = hf.tokenizer.batch(codes_of(DNA_SEQS, DNA))
    with torch.no_grad():
        first, second = hf.model(**batch), hf.model(**batch)
    torch.testing.assert_close(first, hidden_ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(second, first, atol=0, rtol=0)


def test_a_folder_without_a_masked_lm_head_loads_without_one(tmp_path):
    # an EsmModel saved without its lm_head is a complete backbone: it loads for fine-tuning, with
    # no head in extras (naturalness then says it has none), not a KeyError on the missing head
    from safetensors.torch import load_file, save_file

    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    weights = load_file(str(folder / "model.safetensors"))
    kept = {k: v for k, v in weights.items() if not k.startswith("lm_head.")}
    assert len(kept) < len(weights)
    save_file(kept, str(folder / "model.safetensors"), metadata={"format": "pt"})
    hf = load_hf(folder, DNA_SPEC)
    assert hf.extras == {}
    assert hf.model(**hf.tokenizer.batch(codes_of(DNA_SEQS[:1], DNA))).shape[-1] == 32


def test_a_tied_decoder_is_read_from_the_embeddings_as_a_copy(tmp_path):
    # ESM ties the decoder to the word embeddings and does not store it: the head in extras is the
    # loaded embedding table, and stays the pre-trained head while the backbone is fine-tuned
    from safetensors.torch import load_file

    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    assert "lm_head.decoder.weight" not in load_file(str(folder / "model.safetensors"))
    hf = load_hf(folder, DNA_SPEC)
    embeddings = hf.model.esm.embeddings.word_embeddings.weight
    head = hf.extras["mlm_head.decoder.weight"]
    assert torch.equal(head, embeddings) and not head.requires_grad
    loaded = embeddings.detach().clone()
    with torch.no_grad():
        embeddings.add_(1.0)  # a fine-tuning step, in place as optimizers do
    assert torch.equal(hf.extras["mlm_head.decoder.weight"], loaded)


def test_an_empty_batch_is_an_empty_batch(dna_folder):
    # no sequences give no rows and no columns, not one row of padding
    out = load_hf(dna_folder, DNA_SPEC).tokenizer.batch([])
    assert out["input_ids"].shape == (0, 0) and out["attention_mask"].shape == (0, 0)
    assert out["input_ids"].dtype == torch.int64 and out["attention_mask"].dtype == torch.bool


def test_a_model_section_without_the_export_settings_means_sciPTs_defaults():
    # a model section that leaves position, activation and norm_eps out (written before they were
    # settings) means TransformerConfig's defaults, which map exactly: such a run exports
    from sciPT.hf_export import esm_equivalent
    from sciPT.nn.transformer import TransformerConfig

    default = TransformerConfig(vocab_size=10)
    assert (default.position, default.activation, default.norm_eps) == ("rotary", "gelu", 1e-5)
    esm_equivalent({"vocab_size": 10}, {"symbols": DNA})


def test_a_reverse_complement_equivariant_model_is_refused_in_one_line():
    # two strands sharing weights compute a function no single ESM encoder does
    from sciPT.errors import ConfigError
    from sciPT.hf_export import esm_equivalent

    with pytest.raises(ConfigError) as err:
        esm_equivalent({**SCIPT_MODEL, "rc_equivariant": True}, {"symbols": DNA, "k": 1})
    assert str(err.value) == (
        "model.rc_equivariant: a reverse-complement equivariant encoder (two strands sharing weights) "
        "has no ESM equivalent; only plain encoders export to the hf format"
    )


@pytest.mark.parametrize("bars", [True, False])
def test_quiet_silences_transformers_inside_and_restores_both_settings_after(bars):
    # inside: warnings (unused LM-head weights) and progress bars kept off stderr; after: the
    # user's own verbosity and progress-bar setting, whichever it was, and each call on its own
    # (load_hf quiets twice in a row, which hid a restore that inverted the setting)
    from transformers.utils import logging

    from sciPT.hf import _quiet

    level, before = logging.get_verbosity(), logging.is_progress_bar_enabled()
    try:
        logging.set_verbosity_warning()
        (logging.enable_progress_bar if bars else logging.disable_progress_bar)()
        with _quiet():
            assert logging.get_verbosity() == logging.ERROR
            assert not logging.is_progress_bar_enabled()
        assert logging.get_verbosity() == logging.WARNING
        assert logging.is_progress_bar_enabled() == bars
    finally:
        logging.set_verbosity(level)
        (logging.enable_progress_bar if before else logging.disable_progress_bar)()


def test_the_layer_groups_run_from_the_embeddings_to_the_final_norm(dna_folder):
    # freeze and gradual unfreezing count groups from the input end and from the output end: the
    # order is what they rely on, not just the count; the pooler and contact head of an EsmModel
    # handed in are dropped (sciPT never uses them), so the groups hold every parameter
    from transformers import EsmModel

    from sciPT.hf import _esm_config

    config = load_hf(dna_folder, DNA_SPEC).config
    esm = EsmModel(_esm_config(config), add_pooling_layer=True)
    assert esm.pooler is not None and esm.contact_head is not None
    model = HFEncoder(config, esm)
    groups = model.layer_groups()
    expected = [esm.embeddings, esm.encoder.layer[0], esm.encoder.layer[1], esm.encoder.emb_layer_norm_after]
    assert len(groups) == len(expected) and all(g is e for g, e in zip(groups, expected))
    in_groups = {id(p) for g in groups for p in g.parameters()}
    assert in_groups == {id(p) for p in model.parameters()}
    assert (
        model.fsdp_wrap == {type(esm.encoder.layer[0])} and type(esm.encoder.layer[0]).__name__ == "EsmLayer"
    )


def test_an_encoders_token_limit_is_its_configs(dna_folder, protein_folder):
    # learned positions: 130 positions, numbered from pad_token_id + 1 = 2, leave 128 tokens; rotary
    # ones: the 1026 the model was trained for (sciPT.testing's folders)
    assert load_hf(dna_folder, DNA_SPEC).model.max_tokens == 130 - 1 - 1
    assert load_hf(protein_folder, PROTEIN_SPEC).model.max_tokens == 1026


def test_the_embedding_of_one_real_token_is_its_hidden_state_and_of_none_is_zero(dna_folder):
    # the mean divides by the count of real tokens (at least one): a single token is its own mean,
    # and a row with none is zeros, not nan
    hf = load_hf(dna_folder, DNA_SPEC)
    batch = hf.tokenizer.batch(codes_of(DNA_SEQS[:2], DNA))
    mask = torch.zeros_like(batch["attention_mask"])
    mask[0, 0] = True
    with torch.no_grad():
        hidden = hf.model(batch["input_ids"], mask)
        emb = hf.model.embed(batch["input_ids"], mask)
    torch.testing.assert_close(emb[0], hidden[0, 0], atol=1e-6, rtol=0)
    assert torch.equal(emb[1], torch.zeros(32))


def test_an_encoder_keeps_its_own_copy_of_the_config(protein_folder):
    # the config an export writes is the one the encoder was built with, whatever the caller does
    # to its dict afterwards
    config = dict(load_hf(protein_folder, PROTEIN_SPEC).config)
    model = HFEncoder(config)
    config["hidden_size"] = 64
    assert model.config["hidden_size"] == 32 == model.hidden_size


def test_a_symbol_the_vocabulary_lacks_is_one_unknown_token_per_residue(tmp_path):
    """A vocabulary of A, C, G, T alone: ``EsmTokenizer`` reads a run of Ns as ONE unknown token, so a
    gap of ten Ns shortened its window by nine tokens and moved every later position; each N is its
    own unknown token (the README: the model reads N as a base it does not know)."""
    from transformers import EsmTokenizer

    vocab = ["<cls>", "<pad>", "<eos>", "<unk>", "A", "C", "G", "T", "<mask>"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab))
    tokenizer = HFTokenizer(EsmTokenizer(str(tmp_path / "vocab.txt")), DNA, {"unk_token": "<unk>"})
    cls, eos, unk, a, c, g, t = 0, 2, 3, 4, 5, 6, 7
    (codes,) = codes_of(["ACNNNNGTN"], DNA)
    expected = [cls, a, c, unk, unk, unk, unk, g, t, unk, eos]
    assert tokenizer.encode_codes(codes).tolist() == expected
    assert tokenizer.encode("acnnnngtn").tolist() == expected
    window = np.concatenate([codes_of(["ACGT" * 12], DNA)[0], codes_of(["N" * 10], DNA)[0]])
    batch = tokenizer.batch([window, codes])
    assert batch["input_ids"].shape == (2, 58 + 2)  # one token per residue, and cls, eos
    assert batch["attention_mask"].sum(1).tolist() == [60, 11]
