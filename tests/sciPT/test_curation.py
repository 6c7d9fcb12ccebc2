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


def test_min_entropy_0_is_accepted_and_removes_nothing(tmp_path):
    """The range of min_entropy is "from 0", bounds included: 0 asks for no tile to be removed (no
    entropy is below 0), and even poly-A, 0 bits, stays."""
    CurationOptions(tile=100, min_entropy=0.0).check(4)
    path = fasta(tmp_path / "g.fa", [("g", "A" * 100 + random_dna(100, 5))])
    assert judge([path], 100, min_entropy=0.0).reason.tolist() == [KEPT, KEPT]


def test_changing_dedup_k_is_not_answered_from_the_cache(tmp_path):
    """The cache is keyed by dedup_k: with k=1 a DNA tile's canonical 1-mers are {A/T, C/G}, the same
    set for any two random tiles (Jaccard 1), so every tile after the first is a near duplicate;
    with k=12 distinct random tiles share next to no k-mer and are all kept."""
    path = fasta(tmp_path / "g.fa", [("g", random_dna(400, 6))])
    assert judge([path], 100, dedup="near", k=12).reason.tolist() == [KEPT] * 4
    assert judge([path], 100, dedup="near", k=1).reason.tolist() == [KEPT] + [NEAR] * 3


def verdicts_in_turn(path, options, *specs) -> list[list[int]]:
    """Each tile's verdict on one file read under each spec in turn, in one process (one cache): a
    spec whose verdicts were answered from another's cache entry gives that spec's verdicts."""
    return [
        curate(
            Corpus([path], spec), options, val_fraction=0.0, val_mode="region", progress=False
        ).reason.tolist()
        for spec in specs
    ]


def test_changing_which_symbol_is_unknown_is_not_answered_from_the_cache(tmp_path):
    """The cache is keyed by the spec's unknown symbol, which its signature (symbols, aliases) does
    not hold: 20 Xs are no run of unknowns where only N is unknown, and one where every non-core
    symbol is (unknown None)."""
    from dataclasses import replace

    from sciPT.sequences import SequenceSpec
    from sciPT.tokenizers import Alphabet

    only_n = SequenceSpec(
        alphabet=Alphabet("ACGTNX", n_core=4), aliases={}, description="ACGTNX", unknown="N"
    )
    any_non_core = replace(only_n, unknown=None)
    path = fasta(tmp_path / "g.fa", [("g", random_dna(100, 1) + "X" * 20 + random_dna(80, 2))])
    options = CurationOptions(tile=100, max_n_run=10)
    assert verdicts_in_turn(path, options, only_n, any_non_core) == [[KEPT, KEPT], [KEPT, N_RUN]]


def test_a_run_of_unknowns_ending_a_block_is_carried_only_into_a_run_the_next_block_starts_with(
    tmp_path, monkeypatch
):
    """Blocks of 256 residues start at 0, 250 and 500 (tiles of 50): 10 Ns at 240-250 end the first
    block and 10 Ns at 255-265 follow 5 bases into the next; two runs of 10, under max_n_run 16.
    Adding the carried 10 to the second block's first run, which does not start at its first residue,
    made a run of 20 and removed tile 5."""
    monkeypatch.setattr(curation, "BLOCK", 256)
    genome = random_dna(600, 8)
    genome = genome[:240] + "N" * 10 + genome[250:255] + "N" * 10 + genome[265:]
    path = fasta(tmp_path / "g.fa", [("g", genome)])
    assert judge([path], 50, max_n_run=16).reason.tolist() == [KEPT] * 12


def test_a_tile_holding_only_the_first_unknown_of_a_run_across_blocks_is_removed(tmp_path, monkeypatch):
    """Blocks of 256 residues start at 0 and 250 (tiles of 50): 21 Ns at 249-270 are one run of 21,
    over max_n_run 16, that begins at the last residue of tile 4, in the first block. Tile 4 overlaps
    the run by that one N and goes with tile 5 (a window spanning tiles 3-5 would hold all 21)."""
    monkeypatch.setattr(curation, "BLOCK", 256)
    genome = random_dna(600, 9)
    genome = genome[:249] + "N" * 21 + genome[270:]
    path = fasta(tmp_path / "g.fa", [("g", genome)])
    expected = [N_RUN if t in (4, 5) else KEPT for t in range(12)]
    assert judge([path], 50, max_n_run=16).reason.tolist() == expected


def test_a_low_complexity_tile_a_later_block_finds_in_an_n_run_is_counted_as_an_n_run(tmp_path, monkeypatch):
    """The N-run rule outranks low complexity also when the run is only found long in the next block:
    tile 4 (200-250) is 45 A then 5 N, judged low complexity in the first block; the 15 Ns the next
    block starts with make one run of 20 (over max_n_run 16), and tile 4 is then counted as an N run,
    not under both rules nor under the later one."""
    monkeypatch.setattr(curation, "BLOCK", 256)
    genome = random_dna(600, 10)
    genome = genome[:200] + "A" * 45 + "N" * 20 + genome[265:]
    path = fasta(tmp_path / "g.fa", [("g", genome)])
    cur = judge([path], 50, max_n_run=16, min_entropy=1.0)
    assert cur.reason.tolist() == [N_RUN if t in (4, 5) else KEPT for t in range(12)]
    assert cur.removed()["n_run"] == 100 and cur.removed()["low_complexity"] == 0


def test_sketches_are_the_minimum_over_every_k_mer_whatever_the_hashing_chunk(monkeypatch):
    """A tile's MinHash value j is the least ``mix(v) * a[j] + b[j]`` (mod 2^64) over its k-mers v,
    however the k-mers are cut into chunks for hashing: with chunks of 4, tile 0's 6 k-mers span two
    chunks and tile 1's 4 straddle one boundary; keeping the last chunk's minimum only lost the rest."""
    monkeypatch.setattr(curation, "SKETCH_BLOCK", 4)
    rng = np.random.default_rng(0)
    tile = np.array([0] * 6 + [1] * 4 + [3] * 2)
    values = rng.integers(0, 1 << 24, len(tile))
    a = rng.integers(0, 2**63, 8, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, 8, dtype=np.uint64)
    sketch = curation._sketches(tile, values, 4, a, b)
    x = curation._mix(values.astype(np.uint64))
    with np.errstate(over="ignore"):
        for t in range(4):
            mine = x[tile == t]
            expected = [min(int(v * a[j] + b[j]) for v in mine) if len(mine) else 2**64 - 1 for j in range(8)]
            assert sketch[t].tolist() == expected


def test_max_n_run_1_is_accepted_and_removes_a_tile_with_a_single_unknown(tmp_path):
    """max_n_run is "a positive run length": 1 is its least value, and removes every tile holding
    one unknown residue (a run of 1 is at least 1)."""
    CurationOptions(tile=100, max_n_run=1).check(4)
    genome = random_dna(300, 11)
    path = fasta(tmp_path / "g.fa", [("g", genome[:150] + "N" + genome[151:])])
    assert judge([path], 100, max_n_run=1).reason.tolist() == [KEPT, N_RUN, KEPT]


def test_canonical_k_mers_belong_to_the_tile_they_start_in():
    """ACGT cut into tiles AC and GT (k=2): AC starts tile 0, GT tile 1, and CG spans the tile start
    and counts for neither. GT is AC's reverse complement: one canonical k-mer, so the two tiles'
    k-mer sets are equal (a k-mer at a tile's first residue counted under the tile before would
    give tile 0's k-mer to tile -1, the corpus's last)."""
    codes = np.array(["ACGT".index(c) for c in "ACGT"], dtype=np.uint8)
    tile, values = curation._canonical_kmers(codes, np.array([0, 2]), 2, 4, DNA_SPEC.complement_codes())
    assert tile.tolist() == [0, 1]
    assert values[0] == values[1]


def test_a_run_of_unknowns_carried_back_stops_at_its_record_start(tmp_path, monkeypatch):
    """Record h starts with 60 Ns, and its blocks (256 residues; record g is 200) start at h:0 and h:50:
    the run found long in h's second block flags h's tiles back to where the run begins, h:0, and no
    further: record g's tiles end at positions past 0 of their own record but hold none of h's run."""
    monkeypatch.setattr(curation, "BLOCK", 256)
    path = fasta(tmp_path / "g.fa", [("g", random_dna(200, 12)), ("h", "N" * 60 + random_dna(540, 13))])
    cur = judge([path], 50, max_n_run=16)
    assert cur.record.tolist() == [0] * 4 + [1] * 12
    assert cur.reason.tolist() == [KEPT] * 4 + [N_RUN] * 2 + [KEPT] * 10


def test_pairing_symbols_or_not_is_not_answered_from_the_cache(tmp_path):
    """The cache is keyed by the spec's complement, which its signature (symbols, aliases) does not
    hold: a tile followed by its reverse complement is an exact copy where the symbols pair (DNA),
    and a tile of its own where they do not (the same alphabet without a complement)."""
    from dataclasses import replace

    from sciPT.curation import EXACT

    unpaired = replace(DNA_SPEC, complement=None)
    assert unpaired.signature() == DNA_SPEC.signature()
    tile = random_dna(100, 3)
    reverse = tile[::-1].translate(str.maketrans("ACGT", "TGCA"))
    path = fasta(tmp_path / "g.fa", [("g", tile + reverse)])
    options = CurationOptions(tile=100, dedup="exact")
    assert verdicts_in_turn(path, options, DNA_SPEC, unpaired) == [[KEPT, EXACT], [KEPT, KEPT]]
