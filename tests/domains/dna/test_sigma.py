"""The shipped sigma-factor subsets of iPromoter-2L: readable as --positives, and exactly its positives."""

from sciPT.domains.dna.data import (
    SIGMA_SUBSETS,
    read_labelled,
    read_pair,
    read_sigma_subsets,
    sigma_subset_path,
)
from sciPT.files import resolve_data_path

SIZES = {"sigma24": 484, "sigma28": 134, "sigma32": 291, "sigma38": 163, "sigma54": 94, "sigma70": 1694}


def test_sigma_subsets_partition_the_ipromoter_positives():
    subsets = read_sigma_subsets()
    assert {name: len(codes) for name, codes in subsets.items()} == SIZES
    assert tuple(subsets) == SIGMA_SUBSETS
    every = sorted(bytes(c) for codes in subsets.values() for c in codes)
    positives = read_labelled(resolve_data_path("data_recipes/promoters/positive2860.txt"), fasta_label=1)
    assert every == sorted(bytes(c) for c in positives.codes)
    assert {len(c) for c in every} == {81}


def test_a_sigma_subset_is_a_positives_file():
    data = read_pair(
        resolve_data_path(sigma_subset_path("sigma54")),
        resolve_data_path("data_recipes/promoters/negative2860.txt"),
    )
    assert int(data.labels.sum()) == 94 and len(data) == 94 + 2860
    assert data.names[0].startswith("ECK")
