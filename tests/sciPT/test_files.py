import gzip

import pytest

from sciPT.errors import DataError
from sciPT.files import read_data_bytes, refuse_directory


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
