import gzip

import pytest

from sciPT.errors import DataError
from sciPT.files import read_data_bytes, refuse_directory, text_encoding


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
