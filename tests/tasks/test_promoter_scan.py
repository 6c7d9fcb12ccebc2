"""``scipt scan``'s window coordinates, its line on ambiguity codes, and a scan stopped and continued
(:mod:`sciPT.tasks.promoter_scan`, :mod:`sciPT.tasks.promoter_scan_output`)."""

import argparse
import gzip
from pathlib import Path

import numpy as np
import pytest

from sciPT.domains.dna.data import DNA_SPEC
from sciPT.errors import ConfigError, DataError, UserError
from sciPT.sequences import Corpus
from sciPT.tasks import promoter_scan, promoter_scan_output
from sciPT.tasks.promoter_scan import scan_intervals
from sciPT.tasks.promoter_scan_output import ScanOutput


def test_scan_intervals_by_hand():
    starts, lo, hi = scan_intervals(20, window=8, stride=4)
    assert starts.tolist() == [0, 4, 8, 12]
    # each window's score covers the central 4 bp: offset (8 - 4) // 2 = 2
    assert list(zip(lo.tolist(), hi.tolist())) == [(2, 6), (6, 10), (10, 14), (14, 18)]
    starts, lo, hi = scan_intervals(10, window=3, stride=5)
    assert starts.tolist() == [0, 5] and list(zip(lo.tolist(), hi.tolist())) == [(0, 3), (5, 8)]
    # windows 1 and 2 of the first record; a count past the record's end stops at it
    starts, lo, hi = scan_intervals(20, window=8, stride=4, first=1, count=2)
    assert (starts.tolist(), lo.tolist(), hi.tolist()) == ([4, 8], [6, 10], [10, 14])
    assert scan_intervals(20, window=8, stride=4, first=3, count=5)[0].tolist() == [12]
    assert scan_intervals(20, window=8, stride=4, first=4, count=5)[0].tolist() == []


def test_a_scan_holds_a_batch_of_intervals_not_a_record_s(tmp_path):
    """A record's intervals were built whole: 3 x 8 bytes a window, 6 GB for human chr1 scanned
    at stride 1, before its first window was scored."""
    import tracemalloc

    length, window = 100_000, 20
    codes = np.zeros(length, dtype=np.uint8)

    class Record:
        names = ["chr"]

    class OneRecord:
        records, lengths = [(Record, 0)], np.array([length])

        def codes(self, r, start, stop):
            return codes[start:stop]

    class Discard:
        windows = 0

        def write(self, text, windows=0):
            pass

    class Flat:
        length = window

        def predict(self, chunk, batch_size):
            return np.zeros(len(chunk))

    class NoBar:
        def update(self, n):
            pass

    tracemalloc.start()
    try:
        promoter_scan._scan(Flat(), OneRecord(), window, 1, Discard(), 256, NoBar())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # whole-record intervals: 3 x 8 x 99,981 bytes = 2.4 MB (and as much again for temporaries)
    assert peak < 1_000_000, peak


GENOME = (
    ">chr1 first\nACGTRACGTN\nACGTACGTAC\n"  # R on its first line
    ">chr2\nacgtacgtac\nacgtacgtac\n"  # soft-masked, no code
    ">chr3\nACGTyACGTA\nCGTKMACGTN\n"  # y (soft-masked Y), K, M: three
)


class Constant:
    """A promoter classifier that scores every window 0.5."""

    length, min_residues = 10, 1

    def predict(self, chunk, batch_size):
        return np.full(len(chunk), 0.5)


def test_scan_says_how_many_records_and_bases_held_ambiguity_codes(tmp_path, monkeypatch, capsys):
    genome = tmp_path / "g.fa"
    genome.write_text(GENOME)
    monkeypatch.setattr(promoter_scan, "load_classifier", lambda run: (Constant(), {}))
    (tmp_path / "model").mkdir()
    args = argparse.Namespace(
        run=str(tmp_path),
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


def test_two_records_of_one_name_are_refused_before_anything_is_written(tmp_path, monkeypatch):
    # their scores went under one name, overlapping, and no tool downstream could part them
    genome = tmp_path / "g.fa"
    genome.write_text(">chrA first\nACGTACGTAC\n>chrB\nACGTACGTAC\n>chrA second\nTTTTACGTAC\n")
    monkeypatch.setattr(promoter_scan, "load_classifier", lambda run: (Constant(), {}))
    args = argparse.Namespace(
        run=str(tmp_path),
        genome=str(genome),
        window=None,
        stride=5,
        output=str(tmp_path / "s.bg"),
        batch_size=8,
    )
    with pytest.raises(DataError) as err:
        promoter_scan.run_scan(args)
    assert str(err.value) == (
        f"{genome}: records 1 and 3 are both named 'chrA'; expected one name per record (a bedGraph "
        "tells records apart by name alone)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.fa"]


def test_a_window_of_zero_is_refused_not_read_as_the_model_s_length(tmp_path, capsys):
    from sciPT.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["scan", str(tmp_path), "--genome", "g.fa", "--window", "0", "--output", "s.bg"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "scipt scan: error: argument --window: expected a positive integer, got 0; "
        "'scipt scan --help' lists the options"
    )


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


def test_the_progress_bar_counts_every_window_it_scans(tmp_path, monkeypatch, recording_bar):
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

    class Flat:
        length = 20

        def predict(self, chunk, batch_size):
            return np.zeros(len(chunk))

    monkeypatch.setattr(promoter_scan, "tqdm", recording_bar)
    bars = recording_bar.made
    out = ScanOutput.open(tmp_path / "out.bedgraph", {}, resume=False)
    promoter_scan.scan_genome(Flat(), Corpus([str(genome)], DNA_SPEC), 20, 7, out, 5)
    assert (bars[0].total, bars[0].n) == (36, 36)


# --- a scan stopped and continued ---------------------------------------------------------------
class GCContent:
    """Scores a window by its GC content; raises KeyboardInterrupt (the job's time limit) on call
    number ``stop_at``."""

    length, min_residues = 12, 1

    def __init__(self, stop_at=None):
        self.calls, self.stop_at = 0, stop_at

    def predict(self, chunk, batch_size):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return np.array([np.isin(c, (1, 2)).mean() for c in chunk])


@pytest.fixture
def scan(tmp_path, monkeypatch):
    """``scan(classifier, *flags)``: ``run_scan`` of a three-record genome; its exit status."""
    genome = tmp_path / "g.fa"
    rng = np.random.default_rng(1)
    genome.write_text(
        "".join(f">r{i}\n{''.join(rng.choice(list('ACGT'), n))}\n" for i, n in enumerate((90, 40, 75)))
    )
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "config.json").write_text("{}")

    def run(classifier, output, stride=5, batch_size=4, resume=False, window=12):
        monkeypatch.setattr(promoter_scan, "load_classifier", lambda run: (classifier, {}))
        args = argparse.Namespace(
            run=str(tmp_path / "run"),
            genome=str(genome),
            window=window,
            stride=stride,
            output=str(output),
            batch_size=batch_size,
            resume=resume,
        )
        return promoter_scan.run_scan(args)

    return run


def test_a_stopped_scan_continues_to_the_file_a_scan_never_stopped_writes(
    scan, tmp_path, monkeypatch, capsys
):
    whole, out = tmp_path / "whole.bedgraph", tmp_path / "out.bedgraph"
    assert scan(GCContent(), whole) == 0
    partial, progress = Path(f"{out}.partial"), Path(f"{out}.partial.json")
    # records of 90, 40, 75 bp: 16 + 6 + 13 = 35 windows a strand; batches of 4
    assert scan(GCContent(stop_at=3), out) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"scipt: interrupted; kept {partial} (8 of 70 windows): the same command with --resume continues it"
    )
    assert not out.exists() and len(partial.read_text().splitlines()) == 1 + 8
    # killed outright after more was written than recorded (a torn last line): cut back on resume
    with open(partial, "a") as f:
        f.write("r0\t40\t45\t0.5")
    assert scan(GCContent(stop_at=11), out, resume=True) == 130  # into the minus strand
    assert "(43 of 70 windows)" in capsys.readouterr().err.splitlines()[-1]
    monkeypatch.setattr(promoter_scan_output, "CHECKPOINT_S", 0.0)  # a record after every batch
    assert scan(GCContent(), out, resume=True) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"scipt scan: resuming {partial} (43 of 70 windows)"
    assert err[-1].startswith("scanned 205 bp on both strands, 27 of 70 windows in this run, in ")
    assert out.read_bytes() == whole.read_bytes()
    assert not partial.exists() and not progress.exists()
    # run again once finished: nothing to do
    assert scan(GCContent(), out, resume=True) == 0
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"scipt scan: {out} is complete (no {partial} to continue): nothing to do"
    )


def test_a_stopped_scan_is_neither_overwritten_nor_continued_with_other_settings(scan, tmp_path):
    out = tmp_path / "out.bedgraph"
    partial = Path(f"{out}.partial")
    with pytest.raises(UserError) as err:
        scan(GCContent(), out, resume=True)
    assert str(err.value) == f"--resume: no {partial} to continue (nor a finished {out})"
    assert scan(GCContent(stop_at=2), out) == 130
    with pytest.raises(UserError) as err:
        scan(GCContent(), out)
    assert str(err.value) == (
        f"{partial}: a stopped scan of {out}: --resume continues it (or remove the file to start again)"
    )
    # the flag and the value it was scanned with, not the settings' key
    for changed, kwargs in (
        ("--stride 5 (given: 6)", {"stride": 6}),
        ("--batch-size 4 (given: 8)", {"batch_size": 8}),
    ):
        with pytest.raises(UserError) as err:
            scan(GCContent(), out, resume=True, **kwargs)
        assert str(err.value) == (
            f"--resume: {partial} was scanned with {changed}; give the scan's own (or remove "
            "the file to start again)"
        )
    (tmp_path / "run" / "model" / "config.json").write_text('{"another": "model"}')
    with pytest.raises(UserError) as err:
        scan(GCContent(), out, resume=True)
    assert "was scanned with another model;" in str(err.value)


def test_a_scan_named_gz_is_compressed_and_holds_what_a_plain_one_does(scan, tmp_path):
    """An output named .gz got plain text (zcat, pandas and tabix then failed on it)."""
    import gzip

    assert scan(GCContent(), tmp_path / "plain.bedgraph") == 0
    assert scan(GCContent(), tmp_path / "packed.bedgraph.gz") == 0
    packed = (tmp_path / "packed.bedgraph.gz").read_bytes()
    assert gzip.decompress(packed) == (tmp_path / "plain.bedgraph").read_bytes()
    assert not list(tmp_path.glob("packed*partial*"))
    # stopped and resumed: the text is kept plain until the scan is whole
    assert scan(GCContent(stop_at=2), tmp_path / "again.bedgraph.gz") == 130
    assert scan(GCContent(), tmp_path / "again.bedgraph.gz", resume=True) == 0
    assert (tmp_path / "again.bedgraph.gz").read_bytes() == packed  # no time stamp


def test_a_scan_writes_into_a_new_folder_but_not_over_its_genome(scan, tmp_path):
    assert scan(GCContent(), tmp_path / "new" / "deeper" / "out.bedgraph") == 0
    assert (tmp_path / "new" / "deeper" / "out.bedgraph").read_text().startswith("track type=bedGraph")
    genome = tmp_path / "g.fa"
    kept = genome.read_text()
    with pytest.raises(DataError) as err:
        scan(GCContent(), genome)
    assert str(err.value) == f"{genome}: is the genome itself; write the scan to another file"
    assert genome.read_text() == kept


def test_windows_wholly_in_runs_of_n_are_counted_as_brute_force_counts_them(tmp_path):
    """Assembly gaps: their windows were scored without a word. Runs are found chunk by chunk (a
    chromosome is not held whole as flags), so runs across chunk edges are checked too."""
    from sciPT.tasks.promoter_scan import unknown_runs, unknown_windows

    # by hand: NNNNN at 2..7 and NNN at 9..12 of 12 bases; windows of 3 at stride 2 start at
    # 0, 2, 4, 6, 8: those at 2 and 4 lie wholly in the first run, none in the second
    codes = np.array([0, 1, 4, 4, 4, 4, 4, 2, 3, 4, 4, 4], np.uint8)
    assert [tuple(map(int, r)) for r in unknown_runs(codes, 4, chunk=4)] == [(2, 7), (9, 12)]
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        codes = np.where(rng.random(n) < 0.6, 4, 0).astype(np.uint8)
        runs = list(unknown_runs(codes, 4, chunk=int(rng.integers(1, 10))))
        flags = codes == 4
        assert all(
            flags[a:b].all() and (a == 0 or not flags[a - 1]) and (b == n or not flags[b]) for a, b in runs
        )
        assert sum(b - a for a, b in runs) == flags.sum()
    records = ["".join(rng.choice(list("AN"), int(rng.integers(5, 80)), p=[0.3, 0.7])) for _ in range(20)]
    genome = tmp_path / "g.fa"
    genome.write_text("".join(f">r{i}\n{text}\n" for i, text in enumerate(records)))
    corpus = Corpus([str(genome)], DNA_SPEC)
    for window, stride in ((1, 1), (3, 2), (5, 1), (4, 7)):
        brute = sum(
            "A" not in text[s : s + window]
            for text in records
            for s in scan_intervals(len(text), window, stride)[0]
        )
        assert unknown_windows(corpus, window, stride) == brute


def test_the_minus_strand_is_scored_on_the_reverse_complement_not_the_reversed_window(tmp_path):
    """The minus track must score the other strand as it reads 5' to 3': a window merely reversed
    (not complemented) is no strand of the genome, and its scores look plausible all the same."""

    class StartsWithA:
        """Scores a window 1 when its first base is A (code 0), else 0."""

        length, min_residues = 12, 1

        def predict(self, chunk, batch_size):
            return np.array([float(c[0] == 0) for c in chunk])

    genome = tmp_path / "g.fa"
    genome.write_text(">chr\nACGTTTTTTTTT\n")
    out = ScanOutput.open(tmp_path / "s.bedgraph", {}, resume=False)
    assert promoter_scan.scan_genome(StartsWithA(), Corpus([str(genome)], DNA_SPEC), 12, 12, out, 4) == 12
    out.finish()
    # one window of 12 bp a strand: plus ACGTTTTTTTTT starts with A: 1; minus, the reverse
    # complement AAAAAAAAACGT, starts with A: 1 (the reversed window TTTTTTTTTGCA would score 0)
    lines = (tmp_path / "s.bedgraph").read_text().splitlines()
    assert [line for line in lines if not line.startswith("track")] == [
        "chr\t0\t12\t1.000000",
        "chr\t0\t12\t1.000000",
    ]


class SymmetricGC(GCContent):
    """GC content (the same for a window and its reverse complement), declared strand-symmetric;
    records the windows it scores."""

    strand_symmetric = True

    def __init__(self, stop_at=None):
        super().__init__(stop_at)
        self.scored = 0

    def predict(self, chunk, batch_size):
        p = super().predict(chunk, batch_size)
        self.scored += len(chunk)
        return p


def test_a_strand_symmetric_model_scores_each_window_once_and_resumes_alike(
    scan, tmp_path, monkeypatch, capsys
):
    """A strand-symmetric model's minus track equals its plus track line for line, so it is
    copied, not scored again: half the time of a whole-genome scan. Stopped in the minus pass and
    resumed, the file is the one a scan never stopped writes, and the plain model's too."""
    plain, whole, out = tmp_path / "plain.bedgraph", tmp_path / "whole.bedgraph", tmp_path / "out.bedgraph"
    assert scan(GCContent(), plain) == 0
    model = SymmetricGC()
    assert scan(model, whole) == 0
    assert model.scored == 35  # 16 + 6 + 13 windows of the plus strand; the minus strand's 35 copied
    assert whole.read_bytes() == plain.read_bytes()
    # stopped at the 3rd batch of the plus pass, then resumed and stopped in the minus pass, while
    # copying its 3rd batch (after 8 lines copied: 35 + 8 windows written whole)
    assert scan(SymmetricGC(stop_at=3), out) == 130
    first_track = promoter_scan_output.ScanOutput.first_track

    def stopping(self):
        for n, line in enumerate(first_track(self)):
            if n == 10:
                raise KeyboardInterrupt
            yield line

    with monkeypatch.context() as m:
        m.setattr(promoter_scan_output.ScanOutput, "first_track", stopping)
        assert scan(SymmetricGC(), out, resume=True) == 130
    assert "(43 of 70 windows)" in capsys.readouterr().err.splitlines()[-1]
    resumed = SymmetricGC()
    assert scan(resumed, out, resume=True) == 0 and resumed.scored == 0
    assert out.read_bytes() == whole.read_bytes()


def test_a_strand_symmetric_scan_of_a_record_named_track_copies_every_line(tmp_path):
    """The copied plus track ends at the minus track's line ("track type=..."), not at a record
    whose name begins with "track" (a scaffold named tracking_1): the copy ran out there, and the
    scan ended in a traceback that every --resume met again."""
    genome = tmp_path / "g.fa"
    genome.write_text(">tracking_1\nACGTACGTTTGCAGGC\n>track\nGGGCCCATATAAAT\n")
    corpus = Corpus([str(genome)], DNA_SPEC)
    files = {}
    for name, model in (("plain", GCContent()), ("symmetric", SymmetricGC())):
        out = ScanOutput.open(tmp_path / f"{name}.bedgraph", {}, resume=False)
        promoter_scan.scan_genome(model, corpus, 12, 2, out, 2)
        out.finish()
        files[name] = (tmp_path / f"{name}.bedgraph").read_bytes()
    # 16 bp: windows at 0, 2, 4 (3); 14 bp: 0, 2 (2): 5 a strand, the minus ones copied
    assert files["symmetric"] == files["plain"] and files["plain"].count(b"\n") == 2 + 2 * 5


def test_a_strand_symmetric_scan_stopped_while_copying_closes_the_file_it_copies_from(tmp_path, monkeypatch):
    """Stopped in its minus pass (the job's time limit), the scan no longer reads the file it
    copies from: the copy is closed before the stop is handled, not whenever the traceback
    holding it is dropped."""
    genome = tmp_path / "g.fa"
    genome.write_text(">r0\n" + "ACGTTGCA" * 10 + "\n")
    first_track, closed = promoter_scan_output.ScanOutput.first_track, []

    def recording(self):
        try:
            yield from first_track(self)
        finally:
            closed.append(True)

    monkeypatch.setattr(promoter_scan_output.ScanOutput, "first_track", recording)
    out = ScanOutput.open(tmp_path / "out.bedgraph", {}, resume=False)
    write = out.write

    def stopping(text, windows=0):
        if not text.startswith("track") and out.windows >= 9:  # 9 plus windows, then a copied batch
            raise KeyboardInterrupt
        return write(text, windows)

    monkeypatch.setattr(out, "write", stopping)
    with pytest.raises(KeyboardInterrupt) as stopped:
        promoter_scan.scan_genome(SymmetricGC(), Corpus([str(genome)], DNA_SPEC), 12, 8, out, 3)
    assert stopped.traceback and closed == [True]


# --- what a genome biologist reads in the track ---------------------------------------------------
class CountsA:
    """Scores a window by its count of A (code 0) over 10, and keeps every window it is given as
    text: a strand's scores then differ from the other's, and can be worked out by hand."""

    length, min_residues = 7, 1

    def __init__(self, fails_at=None):
        self.seen, self.fails_at = [], fails_at

    def predict(self, chunk, batch_size):
        if len(self.seen) == self.fails_at:
            raise ValueError("out of GPU memory")
        self.seen += ["".join("ACGTN"[b] for b in c) for c in chunk]
        return np.array([(np.asarray(c) == 0).sum() / 10 for c in chunk])


def scan_args(tmp_path, genome_text, window, stride=5, name="g.fa"):
    genome = tmp_path / name
    genome.write_text(genome_text)
    return argparse.Namespace(
        run=str(tmp_path),
        genome=str(genome),
        window=window,
        stride=stride,
        output=str(tmp_path / "s.bedgraph"),
        batch_size=3,
    )


def test_each_window_is_the_genome_s_own_bases_its_score_at_its_centre_on_both_strands(tmp_path):
    """A window one base short, or a score moved off the window's centre, shifts every peak of a
    genome-wide track, and looks no less plausible for it."""
    text = "AACGTAAGTTACGATC"  # 16 bp: windows of 7 every 2 start at 0, 2, 4, 6, 8 (9 + 7 > 16)
    genome = tmp_path / "g.fa"
    genome.write_text(f">chr7 assembled\n{text}\n")
    model = CountsA()
    out = ScanOutput.open(tmp_path / "s.bedgraph", {}, resume=False)
    assert promoter_scan.scan_genome(model, Corpus([str(genome)], DNA_SPEC), 7, 2, out, 2) == 16
    out.finish()
    starts = [0, 2, 4, 6, 8]
    complement = str.maketrans("ACGT", "TGCA")
    assert model.seen == [text[s : s + 7] for s in starts] + [
        text[s : s + 7].translate(complement)[::-1] for s in starts
    ]
    # each score covers the stride's 2 bp at the window's centre: offset (7 - 2) // 2 = 2, so
    # [s + 2, s + 4); the minus strand's on the same plus-strand coordinates, its A the plus T
    lines = (tmp_path / "s.bedgraph").read_text().splitlines()
    plus = [f"chr7\t{s + 2}\t{s + 4}\t{text[s : s + 7].count('A') / 10:.6f}" for s in starts]
    minus = [f"chr7\t{s + 2}\t{s + 4}\t{text[s : s + 7].count('T') / 10:.6f}" for s in starts]
    assert lines[1:6] == plus and lines[7:] == minus
    # by hand: AACGTAA holds 4 A, CGTAAGT 2
    assert plus[:2] == ["chr7\t2\t4\t0.400000", "chr7\t4\t6\t0.200000"]


def test_each_track_line_names_its_strand_window_reading_and_stride(tmp_path, monkeypatch, capsys):
    """Two tracks of one name in a genome browser cannot be told apart, and a track of 9-bp windows
    read on their central 7 bp must not be taken for a model of 9 bp."""
    monkeypatch.setattr(promoter_scan, "load_classifier", lambda run: (CountsA(), {}))
    args = scan_args(tmp_path, ">chr1\nACGTACGTACGTAC\n", window=9)
    assert promoter_scan.run_scan(args) == 0
    tracks = [line for line in Path(args.output).read_text().splitlines() if line.startswith("track")]
    assert tracks == [
        f'track type=bedGraph name="promoter {strand}" description="promoter probability, {strand} '
        'strand, window 9 bp (scored on its central 7 bp), stride 5 bp"'
        for strand in ("plus", "minus")
    ]
    assert (
        "--window 9: the model reads 7 bp (the length it was fine-tuned on): each 9-bp window is scored "
        "on its central 7 bp"
    ) in capsys.readouterr().err.splitlines()


def test_a_window_of_exactly_one_token_or_exactly_the_longest_record_is_scanned(tmp_path, monkeypatch):
    """The limits are inclusive: a window of one whole token has something to score, and a record as
    long as the window holds one window; one base less, or more, is refused, saying what was expected."""
    model = CountsA()
    model.min_residues = 3
    monkeypatch.setattr(promoter_scan, "load_classifier", lambda run: (model, {}))
    args = scan_args(tmp_path, ">a\nACGTAC\n>b\nACG\n", window=3)
    assert promoter_scan.run_scan(args) == 0
    Path(args.output).unlink()
    args.window = 2
    with pytest.raises(ConfigError) as err:
        promoter_scan.run_scan(args)
    assert str(err.value) == (
        "--window 2: fewer residues than the 3 of one of the model's tokens: nothing to score "
        "(expected --window 3 or more)"
    )
    args.window = 6
    assert promoter_scan.run_scan(args) == 0
    assert Path(args.output).read_text().count("\na\t") == 2  # one window a strand
    Path(args.output).unlink()
    args.window = 7
    with pytest.raises(DataError) as err:
        promoter_scan.run_scan(args)
    assert (
        str(err.value) == f"{args.genome}: window of 7 bp is longer than the genome's longest record (6 bp)"
    )


def test_scan_says_which_records_are_too_short_and_how_many_windows_lie_in_gaps(
    tmp_path, monkeypatch, capsys
):
    """A record as long as the window is scanned (one window), not counted among the short ones; the
    windows wholly in a run of N are counted on both strands, as the total they are counted out of."""
    monkeypatch.setattr(promoter_scan, "load_classifier", lambda run: (CountsA(), {}))
    # a: 20 bp, windows of 10 every 5 at 0, 5, 10, the one at 0 wholly N; b: 10 bp, one window;
    # c: 9 bp, none. 4 windows a strand, 8 in all, 2 in the gap
    args = scan_args(tmp_path, ">a\nNNNNNNNNNNNACGTACGTA\n>b\nACGTACGTAC\n>c\nACGTACGTA\n", window=10)
    assert promoter_scan.run_scan(args) == 0
    err = capsys.readouterr().err.splitlines()
    assert f"{args.genome}: 1 of 3 records are shorter than the 10-bp window and are not scanned" in err
    assert (
        f"{args.genome}: 2 of 8 windows (both strands) lie wholly in runs of N (assembly gaps): they are "
        "scored like the others, but their score says nothing of the sequence"
    ) in err
    assert err[-1].startswith("scanned 30 bp on both strands in ")


def test_a_scan_stopped_by_an_error_is_kept_and_continues_to_the_whole_file(scan, tmp_path, capsys):
    """An error (out of memory on a GPU) after hours of scanning must not cost the windows written."""
    whole, out = tmp_path / "whole.bedgraph", tmp_path / "out.bedgraph"
    model = CountsA()
    model.length = 12
    assert scan(model, whole) == 0
    model = CountsA(fails_at=8)  # two batches of 4 scored, the third fails
    model.length = 12
    with pytest.raises(ValueError, match="out of GPU memory"):
        scan(model, out)
    partial = Path(f"{out}.partial")
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"scipt scan: stopped by an error; kept {partial} (8 of 70 windows): the same command with "
        "--resume continues it"
    )
    model = CountsA()
    model.length = 12
    assert scan(model, out, resume=True) == 0
    assert out.read_bytes() == whole.read_bytes()


def test_a_resume_cuts_whatever_follows_the_last_recorded_window(scan, tmp_path):
    """Bytes past the record (a write torn by SIGKILL, a full disk) must not survive into the
    finished track, however long they are."""
    whole, out = tmp_path / "whole.bedgraph", tmp_path / "out.bedgraph"
    assert scan(GCContent(), whole) == 0
    assert scan(GCContent(stop_at=3), out) == 130
    with open(f"{out}.partial", "a") as f:
        f.write("r0\t40\t45\t0.5\n" * 1000)
    assert scan(GCContent(), out, resume=True) == 0
    assert out.read_bytes() == whole.read_bytes()


def test_a_stopped_scan_is_not_continued_on_another_genome_or_window(scan, tmp_path):
    """A genome edited in place, or another --window, would splice two scans into one track."""
    out = tmp_path / "out.bedgraph"
    partial = Path(f"{out}.partial")
    assert scan(GCContent(stop_at=2), out) == 130
    with pytest.raises(UserError) as err:
        scan(GCContent(), out, resume=True, window=13)
    assert str(err.value) == (
        f"--resume: {partial} was scanned with --window 12 (given: 13); give the scan's own (or remove "
        "the file to start again)"
    )
    genome = tmp_path / "g.fa"
    genome.write_text(genome.read_text().replace("A", "C", 1))  # same name, same length
    with pytest.raises(UserError) as err:
        scan(GCContent(), out, resume=True)
    assert str(err.value) == (
        f"--resume: {partial} was scanned with another genome; give the scan's own (or remove the file "
        "to start again)"
    )


def test_a_resumed_scan_s_bar_starts_at_the_windows_already_written(scan, tmp_path, monkeypatch):
    """A bar restarted at 0 of 70 says the resumed scan has all its work ahead of it, and never ends."""
    out = tmp_path / "out.bedgraph"
    assert scan(GCContent(stop_at=3), out) == 130
    bars = []

    class Bar:
        def __init__(self, total, initial=0, **kwargs):
            self.total, self.n = total, initial
            bars.append(self)

        def update(self, k):
            self.n += k

        def close(self):
            pass

    monkeypatch.setattr(promoter_scan, "tqdm", Bar)
    assert scan(GCContent(), out, resume=True) == 0
    assert (bars[0].total, bars[0].n) == (70, 70)


def test_a_model_s_digest_changes_when_its_bytes_move_between_files(tmp_path):
    """The digest a resume compares reads each file's name as well as its bytes."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "a").write_text("xy")
    (two / "a").write_text("x")
    (two / "b").write_text("y")
    assert promoter_scan_output.folder_digest(one) != promoter_scan_output.folder_digest(two)


def test_a_strand_symmetric_scan_resumed_past_whole_records_of_its_minus_pass_copies_the_right_lines(
    scan, tmp_path, monkeypatch, capsys
):
    """Resumed after whole records of the copied minus track, the copy must skip their lines too: else
    the next record's minus scores are an earlier record's, under its name, and look plausible."""
    whole, out = tmp_path / "whole.bedgraph", tmp_path / "out.bedgraph"
    assert scan(GCContent(), whole) == 0
    first_track = promoter_scan_output.ScanOutput.first_track

    def stopping(self):
        for n, line in enumerate(first_track(self)):
            if n == 22:  # r0's 16 and r1's 6 lines copied: stopped at r2's first
                raise KeyboardInterrupt
            yield line

    with monkeypatch.context() as m:
        m.setattr(promoter_scan_output.ScanOutput, "first_track", stopping)
        assert scan(SymmetricGC(), out) == 130
    assert "(57 of 70 windows)" in capsys.readouterr().err.splitlines()[-1]
    resumed = SymmetricGC()
    assert scan(resumed, out, resume=True) == 0 and resumed.scored == 0
    assert out.read_bytes() == whole.read_bytes()


def test_a_resumed_scan_s_rate_counts_only_the_bases_it_scanned(scan, tmp_path, monkeypatch, capsys):
    """A resumed scan that scored 62 of 70 windows in 2 s read 205 x 62 / 70 = 181.6 bp of the
    genome's 205 in that time: 91 bp/s, not the 103 of the whole genome's bases."""
    out = tmp_path / "out.bedgraph"
    assert scan(GCContent(stop_at=3), out) == 130
    clock = iter([1000.0, 1002.0])
    monkeypatch.setattr(promoter_scan, "time", argparse.Namespace(time=lambda: next(clock)))
    assert scan(GCContent(), out, resume=True) == 0
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"scanned 205 bp on both strands, 62 of 70 windows in this run, in 2.0 s (91 bp/s); wrote {out}"
    )


def test_scan_s_defaults_are_the_ones_its_help_names():
    """A resume compares the stride and batch size: a default other than the help's would refuse the
    resume of a scan begun with the help's values given."""
    parser = argparse.ArgumentParser()
    promoter_scan.add_scan_arguments(parser)
    args = parser.parse_args(["run", "--genome", "g.fa", "--output", "s.bg"])
    assert (args.window, args.stride, args.batch_size, args.resume) == (None, 10, 512, False)
    helps = {a.dest: a.help for a in parser._actions}
    assert "(default: 10)" in helps["stride"] and "(default: 512)" in helps["batch_size"]


def test_a_stopped_scan_without_its_progress_record_is_scanned_again_from_the_start(scan, tmp_path):
    """Its record lost (removed by hand, a copy without it), the partial file says nothing of how far
    it got: the resume starts it again rather than refusing it as another scan's."""
    whole, out = tmp_path / "whole.bedgraph", tmp_path / "out.bedgraph"
    assert scan(GCContent(), whole) == 0
    assert scan(GCContent(stop_at=3), out) == 130
    Path(f"{out}.partial.json").unlink()
    assert scan(GCContent(), out, resume=True) == 0
    assert out.read_bytes() == whole.read_bytes()


def test_a_scan_stopped_by_sigterm_exits_143_and_says_so(scan, tmp_path, capsys):
    """A batch system's time limit (SIGTERM) must read as 143, the shell's 128 + 15, not as Ctrl-C's
    130: a job script that requeues on 143 would otherwise drop the scan it kept."""
    from sciPT.signals import Terminated

    class TimeLimit(GCContent):
        def predict(self, chunk, batch_size):
            if self.calls == 2:  # two batches of 4 scored, then the signal
                raise Terminated(15)
            return super().predict(chunk, batch_size)

    out = tmp_path / "out.bedgraph"
    assert scan(TimeLimit(), out) == 143
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"scipt: terminated (SIGTERM); kept {out}.partial (8 of 70 windows): the same command with "
        "--resume continues it"
    )


def test_the_progress_record_is_written_at_the_start_after_a_batch_and_not_for_a_track_line(
    tmp_path, monkeypatch
):
    """A SIGKILL (out of memory, a node lost) leaves only the record a resume trusts: it must be
    the new scan's from the start (not one left beside a partial file removed by hand), follow the
    batches at most CHECKPOINT_S apart, and never count a track line with no window after it (a
    resume would then leave the track line out, or write it twice)."""
    import json

    output = tmp_path / "out.bedgraph"
    partial, progress = Path(f"{output}.partial"), Path(f"{output}.partial.json")
    settings = {"window": 3, "stride": 1, "batch_size": 2}
    # a stopped scan's record, its partial file removed to start again
    progress.write_text(json.dumps({"settings": settings, "windows": 8, "bytes": 99}))
    out = ScanOutput.open(output, settings, resume=False)

    def record():
        return json.loads(progress.read_text())

    assert record() == {"settings": settings, "windows": 0, "bytes": 0}
    monkeypatch.setattr(promoter_scan_output, "CHECKPOINT_S", 0.0)  # a record after every write
    out.write('track type=bedGraph name="promoter plus"\n')
    assert record()["windows"] == 0 and record()["bytes"] == 0
    out.write("chr\t1\t2\t0.500000\nchr\t2\t3\t0.250000\n", 2)
    assert (record()["windows"], record()["bytes"]) == (2, partial.stat().st_size)
    kept = partial.stat().st_size
    monkeypatch.setattr(promoter_scan_output, "CHECKPOINT_S", 3600.0)  # the last record is recent
    out.write("chr\t3\t4\t0.125000\n", 1)
    assert (record()["windows"], record()["bytes"]) == (2, kept)
    assert out.keep(3) == f"kept {partial} (3 of 3 windows): the same command with --resume continues it"
    assert (record()["windows"], record()["bytes"]) == (3, partial.stat().st_size)


def test_a_scan_stopped_between_the_minus_track_line_and_its_first_window_resumes_whole(scan, tmp_path):
    """Stopped at the strand boundary (the plus track done, the minus track line written), the
    resumed file must hold that track line once: twice, a browser shows an empty third track."""
    whole, out = tmp_path / "whole.bedgraph", tmp_path / "out.bedgraph"
    assert scan(GCContent(), whole) == 0
    # plus strand: 4 + 2 + 4 batches of 4 (16, 6, 13 windows); call 11 is the minus strand's first
    assert scan(GCContent(stop_at=11), out) == 130
    assert scan(GCContent(), out, resume=True) == 0
    assert out.read_bytes() == whole.read_bytes()
    assert out.read_text().count("track type=bedGraph") == 2


def test_a_stride_of_zero_given_past_the_command_line_is_refused_in_words(tmp_path, monkeypatch):
    """run_scan called from Python (a pipeline, a notebook) is not guarded by the flag's parser: a
    stride of 0 must be refused as one, not end in a ZeroDivisionError while counting windows."""
    monkeypatch.setattr(promoter_scan, "load_classifier", lambda run: (CountsA(), {}))
    args = scan_args(tmp_path, ">a\nACGTACGTAC\n", window=7, stride=0)
    with pytest.raises(ConfigError) as err:
        promoter_scan.run_scan(args)
    assert str(err.value) == "--window and --stride: expected positive integers, got 7 and 0"
    assert not Path(args.output).exists()


def test_two_scans_cannot_write_one_partial_file_at_once(tmp_path):
    """Two jobs resuming one stopped scan (a requeue while the first still runs) would interleave
    their batches into one track: the second is refused while the first holds the file."""
    output = tmp_path / "out.bedgraph"
    partial = Path(f"{output}.partial")
    settings = {"window": 3, "stride": 1, "batch_size": 2}
    busy = f"{partial}: another scipt scan is writing it: wait for it to end, or give another --output"
    first = ScanOutput.open(output, settings, resume=False)
    with pytest.raises(UserError) as err:
        ScanOutput.open(output, settings, resume=True)
    assert str(err.value) == busy
    first.write("chr\t1\t2\t0.500000\n", 1)
    first.keep(3)
    resumed = ScanOutput.open(output, settings, resume=True)  # the first has let go
    with pytest.raises(UserError) as err:
        ScanOutput.open(output, settings, resume=True)
    assert str(err.value) == busy
    resumed.write("chr\t2\t3\t0.250000\n", 1)
    resumed.finish()
    assert output.read_text() == "chr\t1\t2\t0.500000\nchr\t2\t3\t0.250000\n"


def test_a_refused_resume_lets_go_of_the_file_at_once(tmp_path):
    """A resume refused for another stride, retried with the scan's own from the same Python
    session (a notebook keeps the last traceback), must not find the file still locked by the
    refused attempt."""
    output = tmp_path / "out.bedgraph"
    settings = {"window": 3, "stride": 1, "batch_size": 2}
    ScanOutput.open(output, settings, resume=False).keep(3)
    with pytest.raises(UserError) as refused:
        ScanOutput.open(output, {**settings, "stride": 2}, resume=True)
    assert "was scanned with --stride 1 (given: 2);" in str(refused.value)
    again = ScanOutput.open(output, settings, resume=True)  # the refusal's traceback still held
    again.finish()
    assert output.read_text() == "" and refused.traceback is not None


# --- found by a mutation pass: what the earlier tests let change unseen ---------------------------
def test_a_scan_begun_at_the_model_s_length_resumes_with_that_length_given(scan, tmp_path):
    """--window left out reads the model's length (12 bp): the progress record keeps that length,
    so a resume naming it (--window 12) is the same scan, not refused as one of "--window None"."""
    import json

    whole, out = tmp_path / "whole.bedgraph", tmp_path / "out.bedgraph"
    assert scan(GCContent(), whole) == 0
    assert scan(GCContent(stop_at=3), out, window=None) == 130
    assert json.loads(Path(f"{out}.partial.json").read_text())["settings"]["window"] == 12
    assert scan(GCContent(), out, resume=True, window=12) == 0
    assert out.read_bytes() == whole.read_bytes()


def test_a_strand_symmetric_scan_s_bar_counts_the_windows_it_copies(
    scan, tmp_path, monkeypatch, recording_bar
):
    """The copied minus track is half the scan's windows: a bar that counts only the scored ones
    stops at 35 of 70 and says the scan never ended."""
    monkeypatch.setattr(promoter_scan, "tqdm", recording_bar)
    assert scan(SymmetricGC(), tmp_path / "out.bedgraph") == 0
    assert (recording_bar.made[0].total, recording_bar.made[0].n) == (70, 70)


def test_a_small_scan_s_bar_counts_its_windows_whole(tmp_path, capsys):
    """Below 1000 windows a strand the bar counts windows as they are ("12/12"), not scaled to
    "12.0/12.0" as a genome's "2.00k" are."""
    genome = tmp_path / "g.fa"
    genome.write_text(">chr\n" + "ACGT" * 10 + "\n")  # 40 bp, windows of 12 every 5: 28 // 5 + 1 = 6
    out = ScanOutput.open(tmp_path / "s.bedgraph", {}, resume=False)
    promoter_scan.scan_genome(GCContent(), Corpus([str(genome)], DNA_SPEC), 12, 5, out, 4)
    out.finish()
    err = capsys.readouterr().err
    assert "12/12 [" in err and "12.0/12.0" not in err


def test_the_progress_record_follows_the_batches_at_most_30_seconds_apart(tmp_path, monkeypatch):
    """A SIGKILL loses at most CHECKPOINT_S (30 s) of scanning: the record is written once 30 s have
    passed since the last one (not since the scan began), and not sooner (an fsync a batch)."""
    import json

    clock = [1000.0]
    monkeypatch.setattr(promoter_scan_output, "time", argparse.Namespace(monotonic=lambda: clock[0]))
    output = tmp_path / "out.bedgraph"
    out = ScanOutput.open(output, {}, resume=False)  # a record at 1000 s

    def recorded_after(seconds):
        clock[0] = seconds
        out.write("chr\t1\t2\t0.500000\n", 1)
        return json.loads(Path(f"{output}.partial.json").read_text())["windows"]

    # 29.9 s after the start: none; 30 s: the 2 windows so far; 29 s after that: none; 30 s: all 4
    assert [recorded_after(s) for s in (1029.9, 1030.0, 1059.0, 1060.0)] == [0, 2, 2, 4]


def test_a_model_s_digest_is_its_files_names_and_bytes_in_name_order(tmp_path):
    """By hand: SHA-256 of "a", "x", "b", "y" for files a (x) and b (y), whatever order the folder
    lists them in; a subfolder (a cache, a checkpoint folder) is not a file of the model: it is
    passed over, not opened as one."""
    import hashlib

    model = tmp_path / "model"
    model.mkdir()
    (model / "b").write_text("y")
    (model / "a").write_text("x")
    (model / "checkpoints").mkdir()
    assert promoter_scan_output.folder_digest(model) == hashlib.sha256(b"axby").hexdigest()


def test_an_output_the_system_refuses_is_said_in_one_line(tmp_path, monkeypatch):
    """A folder that exists but refuses (permissions, a read-only mount): one line naming the
    output and the system's reason, not a traceback."""
    output = tmp_path / "out.bedgraph"

    def refusing(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(promoter_scan_output, "open", refusing, raising=False)
    with pytest.raises(UserError) as err:
        ScanOutput.open(output, {}, resume=False)
    assert str(err.value) == f"{output}: cannot be written: Permission denied"


def test_a_whole_scan_its_output_cannot_take_is_kept_to_be_written_again(tmp_path, monkeypatch):
    """A pipe's reader gone when the whole scan is written to it: the line says where the scan is
    kept and how to write it again, and the partial file is still there to do so."""
    output = tmp_path / "out.bedgraph"
    out = ScanOutput.open(output, {}, resume=False)
    out.write("chr\t1\t2\t0.500000\n", 1)

    def gone(source, path):
        raise UserError(f"{path}: the reader closed the pipe before all the output was written")

    monkeypatch.setattr(promoter_scan_output.io, "move_onto", gone)
    with pytest.raises(UserError) as err:
        out.finish()
    assert str(err.value) == (
        f"{output}: the reader closed the pipe before all the output was written; kept {output}.partial: "
        "the same command with --resume writes it again"
    )
    assert Path(f"{output}.partial").read_text() == "chr\t1\t2\t0.500000\n"
