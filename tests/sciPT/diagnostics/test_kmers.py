"""K-mer packing widths and the corpus scan of :mod:`sciPT.diagnostics.kmers` (what the contamination
check builds on: test_contamination.py)."""

import pytest

from sciPT.diagnostics import kmers
from sciPT.diagnostics.kmers import bits_per_residue, max_k
from sciPT.domains.dna.data import DNA_SPEC
from sciPT.sequences import Corpus


def packed(kmer: str) -> int:
    """A DNA k-mer packed by hand, two bits a base (A=0, C=1, G=2, T=3), first base highest."""
    value = 0
    for c in kmer:
        value = (value << 2) | "ACGT".index(c)
    return value


@pytest.mark.parametrize(
    "n_core, bits, longest",
    [(1, 1, 62), (2, 1, 62), (3, 2, 31), (4, 2, 31), (5, 3, 20), (20, 5, 12), (32, 5, 12), (33, 6, 10)],
)
def test_bits_per_residue_and_the_longest_k_by_hand(n_core, bits, longest):
    """``ceil(log2 n_core)`` bits hold every core code, but never fewer than one (a one-letter
    alphabet packed in zero bits would make every k-mer 0, and the longest k a division by zero);
    the longest k fills at most 62 bits, so a packed k-mer is a non-negative int64."""
    assert bits_per_residue(n_core) == bits
    assert max_k(n_core) == longest
    assert max_k(n_core) * bits <= 62 < (max_k(n_core) + 1) * bits


def test_the_scan_covers_every_file_of_a_corpus_even_after_one_shorter_than_k(tmp_path):
    """A corpus of several files is scanned file by file, positions counted within each file: a
    file too short to hold a k-mer is passed over, not taken for the end of the corpus."""
    files = {"f0.fa": ["ACGTA"], "f1.fa": ["AC"], "f2.fa": ["GGTC", "TTAG"]}
    paths = []
    for name, records in files.items():
        path = tmp_path / name
        path.write_text("".join(f">r{i}\n{r}\n" for i, r in enumerate(records)))
        paths.append(str(path))
    found = [
        (fi, p, v)
        for fi, _, pos, values in kmers._scan(Corpus(paths, DNA_SPEC), 3, "", False)
        for p, v in zip(pos.tolist(), values.tolist())
    ]
    # f0: ACG, CGT, GTA at 0-2; f1: none; f2: GGT, GTC at 0-1 and TTA, TAG at 4-5 (none across records)
    assert found == [
        (0, 0, packed("ACG")),
        (0, 1, packed("CGT")),
        (0, 2, packed("GTA")),
        (2, 0, packed("GGT")),
        (2, 1, packed("GTC")),
        (2, 4, packed("TTA")),
        (2, 5, packed("TAG")),
    ]
