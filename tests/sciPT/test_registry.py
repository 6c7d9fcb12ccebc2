import sys

import pytest

from sciPT.errors import UserError
from sciPT.registry import Domain, Registry, domains


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


# third-party plugins: distributions made in the test, added to the installed entry points ----------
PLUGIN_MODULES = {
    "fakeplug_domain": (
        "from sciPT.registry import Domain\n"
        "class FakeDomain(Domain):\n"
        "    name = 'fake'\n"
        "domain = FakeDomain()\n"
        "not_a_domain = object()\n"
    ),
    "fakeplug_broken": "raise RuntimeError('boom at import')\n",
    "fakeplug_needs_lib": "import some_lib_that_is_not_installed\n",
}


@pytest.fixture
def install(tmp_path, monkeypatch):
    """``install(dist, {name: "module:attr [extra]"})``: a distribution's ``sciPT.domains`` entry
    points, seen by :mod:`sciPT.registry` after the installed ones; installs nothing."""
    from sciPT import registry
    from sciPT.testing import fake_distribution

    src = tmp_path / "src"
    src.mkdir()
    for module, code in PLUGIN_MODULES.items():
        (src / f"{module}.py").write_text(code)
    monkeypatch.syspath_prepend(str(src))
    before, after = [], []
    installed = registry.entry_points
    monkeypatch.setattr(
        registry,
        "entry_points",
        lambda group: [p for p in (*before, *installed(group=group), *after) if p.group == group],
    )

    def install(dist: str, points: dict[str, str], first: bool = False) -> None:
        """``first``: the scan finds it before the installed distributions."""
        lines = "".join(f"{name} = {value}\n" for name, value in points.items())
        (before if first else after).extend(
            fake_distribution(tmp_path, dist, {}, f"[sciPT.domains]\n{lines}")
        )

    yield install
    for module in PLUGIN_MODULES:
        sys.modules.pop(module, None)


def fresh():
    return Registry("sciPT.domains", "domain", Domain)


@pytest.mark.parametrize(
    "value,message",
    [
        (
            "fakeplug_broken:domain",
            "plugin 'bad' (fakeplug_broken:domain, from triseq-plugin) failed to load: "
            "RuntimeError: boom at import",
        ),
        (
            "fakeplug_domain:missing",
            "plugin 'bad' (fakeplug_domain:missing, from triseq-plugin) failed to load: "
            "AttributeError: module 'fakeplug_domain' has no attribute 'missing'",
        ),
        (
            "fakeplug_domain:not_a_domain",
            "plugin 'bad' (fakeplug_domain:not_a_domain, from triseq-plugin) is not a domain plugin: "
            "expected an instance of sciPT.registry.Domain, found a value of type object",
        ),
        (
            "fakeplug_domain:FakeDomain",
            "plugin 'bad' (fakeplug_domain:FakeDomain, from triseq-plugin) is not a domain plugin: "
            "expected an instance of sciPT.registry.Domain, found the class fakeplug_domain.FakeDomain "
            "(name an instance of it)",
        ),
        (
            # a library no extra declares: nothing to pip install for it
            "fakeplug_needs_lib:domain",
            "plugin 'bad' (fakeplug_needs_lib:domain, from triseq-plugin) failed to load: "
            "ModuleNotFoundError: No module named 'some_lib_that_is_not_installed'",
        ),
        (
            "fakeplug_needs_lib:domain [fancy]",
            "the domain 'bad' needs 'some_lib_that_is_not_installed', which is not installed: "
            "pip install 'triseq-plugin[fancy]'",
        ),
    ],
)
def test_a_third_party_plugin_that_cannot_load_is_one_line(install, value, message):
    install("triseq-plugin", {"good": "fakeplug_domain:domain", "bad": value})
    registry = fresh()
    with pytest.raises(UserError) as err:
        registry.get("bad")
    assert str(err.value) == message
    assert registry.get("good").name == "fake"


@pytest.mark.parametrize("first", [False, True])
def test_a_third_party_plugin_cannot_take_a_builtin_name(install, capsys, first):
    install("triseq-plugin", {"dna": "fakeplug_domain:domain"}, first=first)
    registry = fresh()
    assert registry.names() == ["dna", "molecules", "protein", "surrogates"]
    assert registry.names() == ["dna", "molecules", "protein", "surrogates"]
    assert type(registry.get("dna")).__name__ == "DNADomain"
    assert registry.distribution("dna") == "scipt"
    # once, however often the names are read
    assert capsys.readouterr().err.splitlines() == [
        "warning: two distributions register the domain 'dna': scipt (sciPT.domains.dna:domain) and "
        "triseq-plugin (fakeplug_domain:domain); the built-in one is used (the other needs another name "
        "in triseq-plugin's entry points)"
    ]


def test_two_third_party_plugins_of_one_name_are_refused(install):
    install("triseq-plugin", {"fake": "fakeplug_domain:domain"})
    install("other_plugin", {"fake": "fakeplug_broken:domain"})
    registry = fresh()
    assert "fake" in registry.names()
    with pytest.raises(UserError) as err:
        registry.get("fake")
    assert str(err.value) == (
        "the domain 'fake' is registered by two distributions, triseq-plugin (fakeplug_domain:domain) "
        "and other-plugin (fakeplug_broken:domain): uninstall one of them or rename its entry point"
    )
