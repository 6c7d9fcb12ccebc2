import pytest

from sciPT.errors import UserError
from sciPT.registry import Domain, domains


def test_builtins_are_found_through_entry_points():
    assert {"dna", "protein"} <= set(domains.names())
    assert isinstance(domains.get("dna"), Domain)
    assert "tiny" in domains.get("protein").presets()


def test_unknown_domain_message():
    with pytest.raises(UserError) as err:
        domains.get("rna")
    assert str(err.value).startswith("unknown domain 'rna' (expected one of: ")
    assert "dna" in str(err.value)
