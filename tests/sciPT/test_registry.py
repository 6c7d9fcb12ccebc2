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


def test_names_come_from_metadata_without_importing_plugins():
    from sciPT.registry import Registry, Task

    fresh = Registry("sciPT.tasks", "task", Task)
    assert fresh.names() == ["forcefield", "promoter", "surrogate"]
    assert fresh._loaded == {}
    assert fresh.get("surrogate").name == "surrogate"
    assert list(fresh._loaded) == ["surrogate"]


def test_every_builtin_entry_point_names_its_extra():
    from importlib.metadata import entry_points

    for group in ("sciPT.domains", "sciPT.tasks", "sciPT.commands"):
        points = entry_points(group=group)
        assert points and all(len(p.extras) == 1 for p in points), group
