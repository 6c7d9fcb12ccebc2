"""The sequence domains' pre-training config (``sciPT.sequence_config``): the defaults a run gets
for every key its preset does not set, pinned to where the project states them (README, the
dataclasses' and presets' docstrings), and what a config file is allowed to say for each key, with
the refusal naming the key and what was expected. A default that drifts silently changes every run
made without the flag; a type or choice that narrows refuses configs that worked."""

import argparse

import pytest

from sciPT.config import from_dict
from sciPT.errors import ConfigError
from sciPT.objectives import MaskedConfig
from sciPT.registry import domains
from sciPT.runconfig import add_run_arguments, resolve_config
from sciPT.sequence_config import (
    ObjectiveConfig,
    SequenceDataConfig,
    SequencePretrainConfig,
    TokenizerConfig,
)


def resolve(domain_name: str, argv: list[str]) -> SequencePretrainConfig:
    domain = domains.get(domain_name)
    parser = argparse.ArgumentParser()
    table = add_run_arguments(parser, domain, "runs/x")
    return resolve_config(domain, parser.parse_args(argv), table)


def test_curation_is_off_and_files_are_drawn_by_size_by_default():
    """README: curation "off by default", ``--data.tile`` "default the window", temperature "1, the
    default: by length"; a default that switched a rule on would remove part of every corpus."""
    data = SequenceDataConfig()
    assert data.dedup == "none"
    assert (data.tile, data.max_n_run, data.min_entropy) == (None, None, None)
    assert data.temperature == 1.0
    assert data.streaming is None  # decided by the paths (folder or glob: stream)
    assert data.paths == []


def test_the_curation_defaults_are_the_curation_modules_own():
    """A config that sets nothing curates as ``CurationOptions`` does by itself ("the defaults do
    nothing"; ``--data.dedup near`` alone: 12-mers at Jaccard 0.5, tiles of the window), and its
    dedup choices are the ones sciPT.curation knows: another k or threshold would call other tiles
    duplicates without saying so."""
    from typing import get_args, get_type_hints

    from sciPT.curation import DEDUP_MODES, CurationOptions

    data = SequenceDataConfig()
    assert CurationOptions.of(data) == CurationOptions(tile=data.window)
    assert (data.dedup_k, data.dedup_threshold) == (12, 0.5)
    assert get_args(get_type_hints(SequenceDataConfig)["dedup"]) == DEDUP_MODES


def test_a_protein_run_gets_the_documented_validation_share_and_no_strand_flips():
    """domains/protein/presets.py: "a hash-chosen 2% of the proteins is held out for validation";
    the protein presets leave val_fraction and reverse_complement to these defaults, and proteins
    have no complement, so a default of True would refuse every protein run."""
    cfg = resolve("protein", [])
    assert cfg.data.val_fraction == 0.02
    assert cfg.data.reverse_complement is False
    assert SequenceDataConfig().reverse_complement is False
    assert (cfg.data.temperature, cfg.data.dedup) == (1.0, "none")


def test_the_default_tokenizer_and_objective():
    """One token per residue and masked modelling unless asked (the DNA objectives' docstring:
    "masked modelling (default)"); the k of ``--tokenizer.kind kmer`` alone is 6 (DNABERT's, the
    ``small`` and ``base`` presets')."""
    assert (TokenizerConfig().kind, TokenizerConfig().k) == ("residue", 6)
    assert ObjectiveConfig().kind == "masked"
    assert ObjectiveConfig().masked == MaskedConfig()


def test_every_documented_value_is_accepted_from_a_config_file():
    """Each choice the docstrings list, and a fraction, a float threshold, ``inf`` temperature and
    ``null`` for the switch-off keys, is what a YAML file may say."""
    cfg = from_dict(
        SequencePretrainConfig,
        {
            "data": {
                "dedup": "near",
                "dedup_threshold": 0.85,
                "temperature": float("inf"),
                "val_fraction": 0.1,
                "tile": None,
                "max_n_run": None,
                "min_entropy": 3.5,
            },
            "tokenizer": {"kind": "kmer", "k": 3},
            "objective": {"kind": "causal"},
        },
        "run.yaml",
    )
    assert cfg.data.dedup == "near" and cfg.data.dedup_threshold == 0.85
    assert cfg.data.temperature == float("inf") and cfg.data.val_fraction == 0.1
    assert cfg.data.tile is None and cfg.data.min_entropy == 3.5
    assert (cfg.tokenizer.kind, cfg.tokenizer.k, cfg.objective.kind) == ("kmer", 3, "causal")
    for dedup in ("none", "exact"):
        assert from_dict(SequenceDataConfig, {"dedup": dedup}).dedup == dedup
    assert from_dict(SequenceDataConfig, {"temperature": 2}).temperature == 2.0
    assert from_dict(SequenceDataConfig, {"tile": 64}).tile == 64
    assert from_dict(ObjectiveConfig, {"kind": "masked"}).kind == "masked"
    assert from_dict(TokenizerConfig, {"kind": "residue"}).kind == "residue"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"data": {"dedup": "fuzzy"}},
            "run.yaml.data.dedup: expected one of none, exact, near, got 'fuzzy'",
        ),
        (
            {"tokenizer": {"kind": "bpe"}},
            "run.yaml.tokenizer.kind: expected one of residue, kmer, got 'bpe'",
        ),
        (
            {"objective": {"kind": "denoising"}},
            "run.yaml.objective.kind: expected one of masked, causal, got 'denoising'",
        ),
        ({"data": {"window": "long"}}, "run.yaml.data.window: expected int, got 'long'"),
        ({"data": {"window": None}}, "run.yaml.data.window: expected a value, got null"),
        (
            {"data": {"reverse_complement": 1}},
            "run.yaml.data.reverse_complement: expected true or false, got 1",
        ),
        (
            {"data": {"windw": 64}},
            "run.yaml.data: unknown key 'windw' (expected one of: paths, streaming, window, "
            "val_fraction, reverse_complement, temperature, dedup, dedup_k, dedup_threshold, tile, "
            "max_n_run, min_entropy)",
        ),
        (
            {"tokeniser": {}},
            "run.yaml: unknown key 'tokeniser' (expected one of: data, tokenizer, model, objective, train)",
        ),
    ],
)
def test_a_wrong_value_is_refused_naming_the_key_and_what_was_expected(data, message):
    """The refusal a user reads names the key's place in the file and the allowed values (in the
    docstrings' order), so a typo is fixed without reading the source."""
    with pytest.raises(ConfigError) as err:
        from_dict(SequencePretrainConfig, data, "run.yaml")
    assert str(err.value) == message
