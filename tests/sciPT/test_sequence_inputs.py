import numpy as np

from sciPT import sequence_inputs
from sciPT.sequence_inputs import in_chunks


def test_a_few_sequences_are_scored_in_one_call_without_a_bar(monkeypatch, recording_bar):
    monkeypatch.setattr(sequence_inputs, "tqdm", recording_bar)
    calls = []
    codes = [np.full(3, i) for i in range(sequence_inputs.CHUNK)]
    out = in_chunks(lambda c: calls.append(len(c)) or np.array([x[0] for x in c]), codes, "scoring")
    assert calls == [sequence_inputs.CHUNK] and recording_bar.made == []
    assert out.tolist() == list(range(sequence_inputs.CHUNK))


def test_many_sequences_are_scored_in_whole_batches_behind_a_bar(monkeypatch, recording_bar):
    monkeypatch.setattr(sequence_inputs, "tqdm", recording_bar)
    monkeypatch.setattr(sequence_inputs, "CHUNK", 10)
    calls = []

    def score(chunk):
        calls.append(len(chunk))
        return np.stack([np.array([c[0], 2 * c[0]]) for c in chunk])

    codes = [np.full(3, i) for i in range(23)]
    out = in_chunks(score, codes, "scoring", batch_size=4)
    # chunks of 8 (two batches of 4, the most under 10), the rows in order
    assert calls == [8, 8, 7]
    assert out.tolist() == [[i, 2 * i] for i in range(23)]
    assert [(bar.total, bar.n) for bar in recording_bar.made] == [(23, 23)]
    # a batch larger than the chunk: one batch a chunk
    calls.clear()
    in_chunks(score, codes, "scoring", batch_size=16)
    assert calls == [16, 7]


def test_a_fastq_file_is_named_as_such_by_every_reader(tmp_path, capsys):
    """Read as a table it named a missing 'sequence' column (the header '@read0'); read as FASTA, a
    line before the first header, or no record at all."""
    from sciPT.cli import main

    reads = tmp_path / "reads.fq"
    reads.write_text("\n@read0\nACGTACGTAC\n+\nIIIIIIIIII\n@read1\nGGGGCCCCAA\n+\n>IIIIIIIII\n")
    expected = (
        f"scipt: error: {reads}: looks like FASTQ (line 2 starts with '@'); expected FASTA ('>' headers) "
        "or, where labelled sequences are read, a CSV/TSV table"
    )
    negatives = tmp_path / "neg.fa"
    negatives.write_text(">n\nACGTACGTAC\n")
    commands = [
        ["pretrain", "dna", "--data", str(reads), "--out", str(tmp_path / "a")],
        ["finetune", "promoter", "--positives", str(reads), "--negatives", str(negatives)]
        + ["--out", str(tmp_path / "b")],
    ]
    for argv in commands:
        assert main(argv) == 2
        assert capsys.readouterr().err.splitlines() == [expected]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["neg.fa", "reads.fq"]
