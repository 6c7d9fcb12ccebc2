"""Corpus curation by hand: the kept segments windows are drawn from, the removed shares reported,
the cache key, the rule a tile is counted under, runs of unknowns carried across blocks, and the
3-mer entropy of protein tiles."""

import numpy as np
import pytest

from sciPT import curation
from sciPT.curation import KEPT, N_RUN, NEAR, CurationOptions, curate
from sciPT.domains.dna.data import DNA_SPEC
from sciPT.sequences import Corpus
from sciPT.testing import random_dna


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))


def fasta(path, records):
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records))
    return str(path)


def judge(paths, tile, val_fraction=0.0, **options):
    corpus = Corpus(paths, DNA_SPEC)
    options = CurationOptions(tile=tile, **options)
    return curate(corpus, options, val_fraction=val_fraction, val_mode="region", progress=False)


@pytest.fixture
def n_run_and_poly_a(tmp_path):
    """Six tiles of 100: tile 2 holds 20 Ns, tile 4 is poly-A."""
    tiles = [random_dna(100, s) for s in range(6)]
    tiles[2] = tiles[2][:40] + "N" * 20 + tiles[2][60:]
    tiles[4] = "A" * 100
    return fasta(tmp_path / "g.fa", [("g", "".join(tiles))])


def test_segments_are_the_runs_of_kept_tiles_whole(n_run_and_poly_a):
    """Windows are drawn inside these segments: ending a run of kept tiles at its first tile's end
    would keep every window shorter than a tile, and lose every window spanning two kept tiles."""
    cur = judge([n_run_and_poly_a], 100, max_n_run=10, min_entropy=2.0)
    record, lo, hi = cur.segments("train")
    assert (record.tolist(), lo.tolist(), hi.tolist()) == ([0, 0, 0], [0, 300, 500], [200, 400, 600])
    assert [len(a) for a in cur.segments("val")] == [0, 0, 0]


def test_the_removed_fraction_adds_up_every_rule(n_run_and_poly_a):
    """metrics.json's data_removed_fraction is the share removed for any reason: 100 residues for the
    N run and 100 for poly-A, 200 of 600, not the largest rule's share alone."""
    metrics = judge([n_run_and_poly_a], 100, max_n_run=10, min_entropy=2.0).metrics()
    assert metrics["data_removed_fraction"] == pytest.approx(1 / 3)
    assert metrics["data_kept_residues"] == 400


def test_a_tile_with_an_n_run_and_low_complexity_is_counted_as_an_n_run(tmp_path):
    """Rules are applied in order and a tile is counted under the first that removes it: 90 A and
    10 N is an N run (low complexity taking it over would move residues between the report's rows)."""
    path = fasta(tmp_path / "g.fa", [("g", random_dna(100, 1) + "A" * 90 + "N" * 10 + random_dna(100, 2))])
    cur = judge([path], 100, max_n_run=10, min_entropy=1.0)
    assert cur.reason.tolist() == [KEPT, N_RUN, KEPT]
    assert cur.removed()["n_run"] == 100 and cur.removed()["low_complexity"] == 0


def test_changing_the_near_duplicate_threshold_is_not_answered_from_the_cache(tmp_path):
    """A copy with two substitutions per tile of 200 is near (Jaccard about 0.8): removed at 0.5, but
    a threshold of 1 (identical k-mers only) must be judged anew and keep it."""
    seq = random_dna(400, 4)
    mutated = list(seq)
    for p in range(50, 400, 100):
        mutated[p] = {"A": "C", "C": "G", "G": "T", "T": "A"}[mutated[p]]
    a = fasta(tmp_path / "a.fa", [("a", seq)])
    b = fasta(tmp_path / "b.fa", [("b", "".join(mutated))])
    assert judge([a, b], 200, dedup="near", threshold=0.5).reason.tolist() == [KEPT] * 2 + [NEAR] * 2
    assert judge([a, b], 200, dedup="near", threshold=1.0).reason.tolist() == [KEPT] * 4


def test_changing_the_validation_fraction_is_not_answered_from_the_cache(tmp_path):
    """Tiles are cut per split: with the last 30 % of a record held out, 300 of its 1,000 residues are
    validation tiles; verdicts cached for no validation part would give validation no window."""
    path = fasta(tmp_path / "g.fa", [("g", random_dna(1000, 3))])
    assert judge([path], 100, dedup="exact").split.tolist() == [0] * 10
    held = judge([path], 100, val_fraction=0.3, dedup="exact")
    assert held.split.tolist() == [0] * 7 + [1] * 3
    assert [a.tolist() for a in held.segments("val")] == [[0], [700], [1000]]


def test_a_run_of_unknowns_that_ends_before_a_block_ends_is_not_carried_into_the_next(tmp_path, monkeypatch):
    """Blocks of 256 residues start at 0, 250 and 500 (tiles of 50): 10 Ns at 230-240 and 10 at 250-260
    are two runs of 10, both under max_n_run 16; carrying the first into the next block as if it
    ended at 250 made one run of 20 and removed tiles 4 and 5."""
    monkeypatch.setattr(curation, "BLOCK", 256)
    genome = random_dna(600, 7)
    genome = genome[:230] + "N" * 10 + genome[240:250] + "N" * 10 + genome[260:]
    path = fasta(tmp_path / "g.fa", [("g", genome)])
    assert judge([path], 50, max_n_run=16).reason.tolist() == [KEPT] * 12
    # Ns filling the gap make one run of 30, 230-260, across the block start: tiles 4 and 5 go
    joined = genome[:240] + "N" * 10 + genome[250:]
    path = fasta(tmp_path / "h.fa", [("h", joined)])
    expected = [N_RUN if t in (4, 5) else KEPT for t in range(12)]
    assert judge([path], 50, max_n_run=16).reason.tolist() == expected


def test_protein_tile_entropy_is_in_bits_by_hand():
    """Protein 3-mers pack into 15 bits (5 per residue, 20 kinds): keyed by tile in fewer bits, a
    tile's 3-mers were counted under a later tile and min_entropy judged proteins on others' 3-mers.
    A WY repeat holds WYW and YWY 29 times each (1 bit); poly-Y (the last code) 0 bits."""
    from sciPT.domains.protein.data import PROTEIN_SPEC

    symbols = PROTEIN_SPEC.alphabet.symbols
    codes = np.array([symbols.index(c) for c in "WY" * 30 + "Y" * 60], dtype=np.uint8)
    entropy = curation._entropy_bits(codes, np.array([0, 60]), PROTEIN_SPEC.alphabet.n_core)
    assert entropy.tolist() == pytest.approx([1.0, 0.0], abs=1e-9)
