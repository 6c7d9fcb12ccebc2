"""``scipt scan``'s window coordinates and its line on ambiguity codes (:mod:`sciPT.tasks.promoter_scan`)."""

import argparse
import gzip

import numpy as np

from sciPT.domains.dna.data import DNA_SPEC
from sciPT.sequences import Corpus
from sciPT.tasks import promoter_scan
from sciPT.tasks.promoter_scan import scan_intervals


def test_scan_intervals_by_hand():
    starts, lo, hi = scan_intervals(20, window=8, stride=4)
    assert starts.tolist() == [0, 4, 8, 12]
    # each window's score covers the central 4 bp: offset (8 - 4) // 2 = 2
    assert list(zip(lo.tolist(), hi.tolist())) == [(2, 6), (6, 10), (10, 14), (14, 18)]
    starts, lo, hi = scan_intervals(10, window=3, stride=5)
    assert starts.tolist() == [0, 5] and list(zip(lo.tolist(), hi.tolist())) == [(0, 3), (5, 8)]


GENOME = (
    ">chr1 first\nACGTRACGTN\nACGTACGTAC\n"  # R on its first line
    ">chr2\nacgtacgtac\nacgtacgtac\n"  # soft-masked, no code
    ">chr3\nACGTyACGTA\nCGTKMACGTN\n"  # y (soft-masked Y), K, M: three
)


class Constant:
    """A promoter classifier that scores every window 0.5."""

    length = 10

    def predict(self, chunk, batch_size):
        return np.full(len(chunk), 0.5)


def test_scan_says_how_many_records_and_bases_held_ambiguity_codes(tmp_path, monkeypatch, capsys):
    genome = tmp_path / "g.fa"
    genome.write_text(GENOME)
    monkeypatch.setattr(promoter_scan, "load_classifier", lambda run: (Constant(), {}))
    args = argparse.Namespace(
        run="unused",
        genome=str(genome),
        window=10,
        stride=10,
        output=str(tmp_path / "s.bedgraph"),
        batch_size=8,
    )
    assert promoter_scan.run_scan(args) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        f"{genome}: 2 of 3 records held IUPAC ambiguity codes (R Y S W K M B D H V), 4 bases in all, read as N"
    )
    assert err[-1].startswith("scanned 60 bp on both strands in ")
    # and the scan read the code as N (code 4), which the cached corpus no longer tells apart
    assert Corpus([str(genome)], DNA_SPEC).codes(0, 0, 10).tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]


def test_a_genome_without_ambiguity_codes_gets_no_line(tmp_path, monkeypatch, capsys):
    genome = tmp_path / "g.fa.gz"
    with gzip.open(genome, "wt") as f:
        f.write(">chr1\nACGTNACGTN\n>chr2\nacgtRacgtn\n")
    corpus = Corpus([str(genome)], DNA_SPEC)
    assert promoter_scan.ambiguity_counts(corpus) == (1, 1)
    assert promoter_scan.ambiguity_note(str(genome), corpus) == (
        f"{genome}: 1 of 2 records held IUPAC ambiguity codes (R Y S W K M B D H V), 1 base in all, read as N"
    )
    # in slices smaller than a record, the count is the same
    assert promoter_scan.ambiguity_counts(corpus, chunk=3) == (1, 1)
    genome.with_suffix("").write_text(">chr1\nACGTNACGTN\n")
    assert promoter_scan.ambiguity_note("plain", Corpus([str(genome.with_suffix(""))], DNA_SPEC)) is None


def test_the_progress_bar_counts_every_window_it_scans(tmp_path, monkeypatch):
    # records of 100 and 57 bp, windows of 20 every 7: 80 // 7 + 1 = 12 and 37 // 7 + 1 = 6 windows,
    # 18 a strand (the sum's own rounding, 119 // 7 = 17, fell one short)
    genome = tmp_path / "g.fa"
    rng = np.random.default_rng(0)
    genome.write_text(
        ">a\n"
        + "".join(rng.choice(list("ACGT"), 100))
        + "\n>b\n"
        + "".join(rng.choice(list("ACGT"), 57))
        + "\n"
    )
    bars = []

    class Bar:
        def __init__(self, total, **kwargs):
            self.total, self.n = total, 0
            bars.append(self)

        def update(self, k):
            self.n += k

        def close(self):
            pass

    class Flat:
        length = 20

        def predict(self, chunk, batch_size):
            return np.zeros(len(chunk))

    monkeypatch.setattr(promoter_scan, "tqdm", Bar)
    promoter_scan.scan_genome(Flat(), Corpus([str(genome)], DNA_SPEC), 20, 7, tmp_path / "out.bedgraph", 5)
    assert (bars[0].total, bars[0].n) == (36, 36)
