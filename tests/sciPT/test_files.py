import gzip

import pytest

from sciPT.errors import DataError
from sciPT.files import read_data_bytes, refuse_directory, resolve_data_path, text_encoding


def test_a_directory_given_for_a_file_is_named_as_one(tmp_path):
    """A bare ``is_file()`` test would call it "file not found"."""
    with pytest.raises(DataError) as err:
        refuse_directory(tmp_path, "FASTA")
    assert str(err.value) == f"{tmp_path}: a directory, not a file (expected FASTA)"
    refuse_directory(tmp_path / "missing.fa", "FASTA")  # left to the reader, which says not found
    (tmp_path / "a.fa").write_text(">a\nACGT\n")
    refuse_directory(tmp_path / "a.fa", "FASTA")


def test_read_data_bytes_decompresses_gzip_by_content(tmp_path):
    (tmp_path / "a.csv").write_bytes(gzip.compress(b"x,y\n1,2\n"))  # no .gz in the name
    assert read_data_bytes(tmp_path / "a.csv") == b"x,y\n1,2\n"
    (tmp_path / "b.csv").write_bytes(b"x,y\n")
    assert read_data_bytes(tmp_path / "b.csv") == b"x,y\n"
    (tmp_path / "c.gz").write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(DataError) as err:
        read_data_bytes(tmp_path / "c.gz")
    assert str(err.value).startswith(f"{tmp_path / 'c.gz'}: gzip file cut short or damaged (")


def test_text_encoding_reads_either_utf16_byte_order():
    """Pins text_encoding: a UTF-16 byte-order mark of either order (FF FE little-endian, FE FF
    big-endian) means UTF-16, anything else UTF-8 (a UTF-8 mark dropped). "AC" in UTF-16-BE with
    its mark is FE FF 00 41 00 43, which must decode back to "AC"."""
    big = b"\xfe\xff\x00A\x00C"
    little = "AC".encode("utf-16-le")
    assert text_encoding(big) == "utf-16" and big.decode(text_encoding(big)) == "AC"
    assert text_encoding(b"\xff\xfe" + little) == "utf-16"
    assert (b"\xff\xfe" + little).decode(text_encoding(b"\xff\xfe" + little)) == "AC"
    assert text_encoding(b"\xef\xbb\xbfAC") == "utf-8-sig"
    assert text_encoding(b"AC") == "utf-8-sig"


def test_a_missing_data_recipes_path_stays_the_users_own(tmp_path, monkeypatch):
    """Only a shipped file stands in for a missing ``data_recipes/...`` path; a name that is not
    shipped either stays as given, so the error names what the user typed."""
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    assert resolve_data_path("data_recipes/dna/no_such.fa") == Path("data_recipes/dna/no_such.fa")
    shipped = resolve_data_path("data_recipes/dna/ecoli_k12_mg1655.fna.gz")
    assert shipped.is_absolute() and shipped.is_file()


def test_a_users_own_data_recipes_file_is_read_rather_than_the_shipped_one(tmp_path, monkeypatch):
    """A file that exists where the user points is read as it is, never silently the shipped file
    of the same relative name."""
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    own = Path("data_recipes/dna/ecoli_k12_mg1655.fna.gz")
    own.parent.mkdir(parents=True)
    own.write_bytes(gzip.compress(b">mine\nACGT\n"))
    assert resolve_data_path(own) == own


def test_a_gzip_file_cut_short_or_with_bad_data_is_one_line_naming_it(tmp_path):
    """An interrupted download (cut short: EOFError) or a damaged block (zlib.error) is one line
    naming the file and what was expected, not a traceback."""
    data = bytearray(gzip.compress(b"ACGT" * 1000))
    (tmp_path / "cut.fa.gz").write_bytes(bytes(data[: len(data) // 2]))
    data[10] |= 0b110  # the first deflate block's type set to 3, which does not exist
    (tmp_path / "bad.fa.gz").write_bytes(bytes(data))
    for name in ("cut.fa.gz", "bad.fa.gz"):
        with pytest.raises(DataError) as err:
            read_data_bytes(tmp_path / name)
        assert str(err.value).startswith(f"{tmp_path / name}: gzip file cut short or damaged (")
        assert str(err.value).endswith("); expected a whole .gz file (fetch or copy it again)")


def test_a_gzip_error_without_a_message_is_named_by_its_kind(tmp_path):
    """A bare EOFError() has no text: the line names its kind rather than showing empty ()."""
    from sciPT.files import damaged_gzip

    assert str(damaged_gzip(tmp_path / "a.gz", EOFError())) == (
        f"{tmp_path / 'a.gz'}: gzip file cut short or damaged (EOFError); "
        "expected a whole .gz file (fetch or copy it again)"
    )


def test_file_sha256_hashes_every_byte_of_a_file_larger_than_one_read(tmp_path):
    """Provenance records the whole file's SHA-256: a change past the first MiB read must show."""
    import hashlib

    from sciPT.files import file_sha256

    data = bytes(range(256)) * (10 * 1024 + 7)  # about 2.5 MiB: three reads of 1 MiB
    (tmp_path / "big.fa").write_bytes(data)
    assert file_sha256(tmp_path / "big.fa") == hashlib.sha256(data).hexdigest()


def test_a_stream_given_for_a_file_is_not_called_a_directory(tmp_path):
    """A pipe or device (``<(zcat a.fa.gz)``, /dev/stdin) is read like a file: only a directory is
    refused."""
    import os
    from pathlib import Path

    os.mkfifo(tmp_path / "fifo")
    refuse_directory(tmp_path / "fifo", "FASTA")
    refuse_directory(Path("/dev/null"), "FASTA")


def test_only_the_two_byte_gzip_mark_means_gzip(tmp_path):
    """gzip is told by both magic bytes 1F 8B: a file that only starts with 1F is read as it is."""
    (tmp_path / "a.bin").write_bytes(b"\x1fplain")
    assert read_data_bytes(tmp_path / "a.bin") == b"\x1fplain"


def test_the_shipped_data_is_found_in_an_installed_package_or_a_checkout(tmp_path, monkeypatch):
    """A wheel puts data_recipes/ inside the package folder; a checkout keeps it beside the
    package. Each is found where it is."""
    from sciPT import files

    package = tmp_path.resolve() / "site" / "sciPT"
    package.mkdir(parents=True)
    monkeypatch.setattr(files, "__file__", str(package / "files.py"))
    assert files._shipped_base() == package.parent  # a checkout
    (package / "data_recipes").mkdir()
    assert files._shipped_base() == package  # a wheel
