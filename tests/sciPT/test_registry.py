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
    # a module of the plugin's own package that is missing: its bug, no extra brings it
    "fakeplug_own": "import fakeplug_own.helpers\n",
    # a library that sciPT's own extras also name (rdkit: scipt[molecules])
    "fakeplug_needs_rdkit": "raise ModuleNotFoundError(\"No module named 'rdkit'\", name='rdkit')\n",
    # a module of sciPT itself that is missing (a plugin written for a newer sciPT): no extra brings it
    "fakeplug_needs_newer_scipt": (
        "raise ModuleNotFoundError(\"No module named 'sciPT.newer_api'\", name='sciPT.newer_api')\n"
    ),
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
        (
            # no extra of its own: sciPT's extra brings the library, so that is the pip install
            "fakeplug_needs_rdkit:domain",
            "the domain 'bad' needs 'rdkit', which is not installed: pip install 'scipt[molecules]'",
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


@pytest.mark.parametrize(
    "value,message",
    [
        (
            # the extra is no part of the target a user looks for in the plugin's code
            "fakeplug_broken:domain [fancy]",
            "plugin 'bad' (fakeplug_broken:domain, from triseq-plugin) failed to load: "
            "RuntimeError: boom at import",
        ),
        (
            "fakeplug_needs_lib:domain [fancy,gpu]",
            "the domain 'bad' needs 'some_lib_that_is_not_installed', which is not installed: "
            "pip install 'triseq-plugin[fancy,gpu]'",
        ),
        (
            "fakeplug_own:domain [fancy]",
            "plugin 'bad' (fakeplug_own:domain, from triseq-plugin) failed to load: ModuleNotFoundError: "
            "No module named 'fakeplug_own.helpers'; 'fakeplug_own' is not a package",
        ),
        (
            "fakeplug_needs_newer_scipt:domain [fancy]",
            "plugin 'bad' (fakeplug_needs_newer_scipt:domain, from triseq-plugin) failed to load: "
            "ModuleNotFoundError: No module named 'sciPT.newer_api'",
        ),
        (
            # the plugin's own extra, not sciPT's extra of the same library
            "fakeplug_needs_rdkit:domain [fancy]",
            "the domain 'bad' needs 'rdkit', which is not installed: pip install 'triseq-plugin[fancy]'",
        ),
    ],
)
def test_a_plugin_with_extras_that_cannot_load_names_the_right_fix(install, value, message):
    """A missing library is a pip install of the plugin's extras; the plugin's own bug is not."""
    install("triseq-plugin", {"bad": value})
    registry = fresh()
    with pytest.raises(UserError) as err:
        registry.get("bad")
    assert str(err.value) == message


def test_a_plugin_s_distribution_is_named_as_pip_compares_names(install):
    """``Triseq_Plugin`` is ``pip install triseq-plugin``: the name a user types, and the extras."""
    install("Triseq_Plugin", {"bad": "fakeplug_needs_lib:domain [fancy,gpu]"})
    registry = fresh()
    assert registry.distribution("bad") == "triseq-plugin"
    assert registry.extras("bad") == ["fancy", "gpu"]
    assert registry.extras("nothing") == [] and registry.distribution("nothing") is None
    with pytest.raises(UserError, match=r"pip install 'triseq-plugin\[fancy,gpu\]'$"):
        registry.get("bad")


def test_a_broken_builtin_plugin_keeps_its_traceback(install):
    """A built-in plugin that fails is a bug in sciPT: its error, not a one-line plugin complaint."""
    from sciPT.registry import PluginError

    install("scipt", {"broken": "fakeplug_broken:domain", "odd": "fakeplug_domain:not_a_domain"})
    registry = fresh()
    with pytest.raises(RuntimeError, match="boom at import") as err:
        registry.get("broken")
    assert not isinstance(err.value, PluginError)
    with pytest.raises(TypeError) as err:
        registry.get("odd")
    assert str(err.value) == (
        "entry point 'odd = fakeplug_domain:not_a_domain' in group 'sciPT.domains' is not a domain plugin"
    )


def test_an_unknown_task_is_one_line_listing_every_known_one():
    """A typo in ``scipt finetune NAME``: the names a user may type, those registered by hand too."""
    from sciPT.registry import Task

    registry = Registry("sciPT.tasks", "task", Task)
    registry.register("mine", object())
    with pytest.raises(UserError) as err:
        registry.get("ner")
    assert str(err.value) == "unknown task 'ner' (expected one of: forcefield, mine, promoter, surrogate)"
    empty = Registry("sciPT.no_such_group", "widget", Task)
    with pytest.raises(UserError) as err:
        empty.get("x")
    assert str(err.value) == "unknown widget 'x' (expected one of: none installed)"


def test_a_library_missing_under_a_core_command_names_scipt_s_extra():
    """``scipt data`` reaching rdkit without the molecules extra: the pip install that brings it."""
    from sciPT.registry import missing_extra

    with pytest.raises(UserError) as err:
        with missing_extra("scipt data", []):
            raise ModuleNotFoundError("No module named 'rdkit.Chem'", name="rdkit.Chem")
    assert (
        str(err.value) == "scipt data needs 'rdkit', which is not installed: pip install 'scipt[molecules]'"
    )
    with pytest.raises(ModuleNotFoundError):  # a library no extra names: the error as it is
        with missing_extra("scipt data", []):
            raise ModuleNotFoundError("No module named 'nothing'", name="nothing")


def test_a_requirement_checked_by_name_is_its_own_message_not_the_domain_s_extra():
    """Lightning raises ModuleNotFoundError without a module name for --precision
    transformer-engine: the line blamed the domain's extra ("needs '', which is not installed: pip
    install 'scipt[dna]'"), which was installed and does not bring it (found by an audit)."""
    from sciPT.registry import missing_extra

    message = "Requirement 'transformer_engine>=0.11.0' not met. HINT: Try running `pip install -U 'transformer_engine'`"
    with pytest.raises(UserError) as err:
        with missing_extra("the domain 'dna'", ["dna"]):
            raise ModuleNotFoundError(message)
    assert str(err.value) == message


def test_resume_auto_says_which_checkpoint_it_continues_from(tmp_path):
    """--resume auto decides start or resume: a run without a checkpoint starts, one with it says which."""
    import torch

    from sciPT.registry import checkpoint_point
    from sciPT.run import RunDir

    run = RunDir(tmp_path)
    assert checkpoint_point(run) is None
    run.checkpoints.mkdir()
    torch.save({"global_step": 3}, run.last_checkpoint)
    assert checkpoint_point(run) == f"a checkpoint: resuming from {run.last_checkpoint}"


# import name -> the name pip installs it by
PIP_NAME = {
    "Bio": "biopython",
    "sklearn": "scikit-learn",
    "e3nn": "e3nn",
    "torch_geometric": "torch-geometric",
    "ase": "ase",
    "rdkit": "rdkit",
    "scipy": "scipy",
    "ht": "ht",
    "fluids": "fluids",
    "transformers": "transformers",
}


def installed_extras() -> dict[str, set[str]]:
    """Each extra of the installed scipt -> the pip names of what it installs."""
    import re
    from importlib.metadata import requires

    extras: dict[str, set[str]] = {}
    for line in requires("scipt"):
        found = re.match(r"([A-Za-z0-9_.-]+).*extra\s*==\s*['\"]([^'\"]+)['\"]", line)
        if found:
            extras.setdefault(found.group(2), set()).add(found.group(1).lower())
    return extras


def test_each_optional_library_is_named_with_an_extra_that_installs_it():
    """``pip install 'scipt[EXTRA]'`` in a missing-library message must bring that library."""
    from sciPT.registry import OPTIONAL_MODULES

    extras = installed_extras()
    assert set(OPTIONAL_MODULES) == set(PIP_NAME)
    for module, extra in OPTIONAL_MODULES.items():
        assert PIP_NAME[module] in extras.get(extra, set()), (module, extra)


def test_a_builtin_plugin_is_unavailable_while_a_library_of_its_extra_is_missing():
    """A plugin's options load without its extra's libraries, so what the extra brings is looked up
    by name: every library of each extra, and no library another extra alone brings."""
    from sciPT.registry import EXTRA_MODULES, PluginError, refuse_missing_extras

    extras = installed_extras()
    assert set(EXTRA_MODULES) == set(extras) - {"all", "test", "bench"}
    for extra, modules in EXTRA_MODULES.items():
        assert {PIP_NAME[m] for m in modules} == extras[extra] & set(PIP_NAME.values()), extra
    refuse_missing_extras("the task 'x'", ["molecules"])  # installed here: nothing raised
    with pytest.raises(PluginError) as err:
        with pytest.MonkeyPatch.context() as mp:
            mp.setitem(sys.modules, "torch_geometric", None)  # as if not installed
            refuse_missing_extras("the task 'x'", ["molecules"])
    assert str(err.value) == (
        "the task 'x' needs 'torch_geometric', which is not installed: pip install 'scipt[molecules]'"
    )


def test_a_missing_module_of_a_plugin_s_own_package_is_its_bug_not_a_pip_install(install, tmp_path):
    """A plugin package ``fakeplug_pkg.plugin`` missing ``fakeplug_pkg.helpers``: no extra brings
    its own code, so a "pip install" would send the user after the wrong fix."""
    package = tmp_path / "src" / "fakeplug_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text("import fakeplug_pkg.helpers\n")
    install("triseq-plugin", {"bad": "fakeplug_pkg.plugin:domain [fancy]"})
    try:
        with pytest.raises(UserError) as err:
            fresh().get("bad")
    finally:
        for module in ("fakeplug_pkg", "fakeplug_pkg.plugin"):
            sys.modules.pop(module, None)
    assert str(err.value) == (
        "plugin 'bad' (fakeplug_pkg.plugin:domain, from triseq-plugin) failed to load: "
        "ModuleNotFoundError: No module named 'fakeplug_pkg.helpers'"
    )


def test_a_plugin_of_a_registry_of_two_kinds_names_both(install):
    """``sciPT.commands`` takes a domain or a task: a plugin naming neither is told both bases."""
    from sciPT.registry import Task

    install("triseq-plugin", {"odd": "fakeplug_domain:not_a_domain"})
    registry = Registry("sciPT.domains", "command", (Domain, Task))
    with pytest.raises(UserError) as err:
        registry.get("odd")
    assert str(err.value) == (
        "plugin 'odd' (fakeplug_domain:not_a_domain, from triseq-plugin) is not a command plugin: "
        "expected an instance of sciPT.registry.Domain or sciPT.registry.Task, found a value of type object"
    )


def test_a_distribution_name_is_normalized_as_pip_does():
    """Runs of '-', '_' and '.' are one '-' (PEP 503): ``Triseq._Plugin`` is ``pip install triseq-plugin``."""
    from types import SimpleNamespace

    from sciPT.registry import distribution

    assert distribution(SimpleNamespace(dist=SimpleNamespace(name="Triseq._Plugin"))) == "triseq-plugin"
    assert distribution(SimpleNamespace(dist=SimpleNamespace(name="zope.interface"))) == "zope-interface"
    assert distribution(SimpleNamespace()) is None  # an entry point made by hand


def test_an_installed_library_that_fails_to_import_a_name_is_not_called_missing():
    """``from rdkit import Chem`` failing in an installed but wrong rdkit is no missing library:
    "pip install" would not fix it, so the error stays as it is."""
    from sciPT.registry import missing_extra

    with pytest.raises(ImportError) as err:
        with missing_extra("scipt data", []):
            raise ImportError("cannot import name 'Chem' from 'rdkit'", name="rdkit")
    assert type(err.value) is ImportError


def test_a_task_without_evaluate_names_the_run_folder():
    """``scipt evaluate RUN`` on a task that has no evaluation: the line says which folder."""
    from types import SimpleNamespace

    from sciPT.registry import Task

    class Mine(Task):
        name = "mine"

    with pytest.raises(UserError) as err:
        Mine().evaluate(SimpleNamespace(path="runs/x"), SimpleNamespace())
    assert str(err.value) == "runs/x: a mine run cannot be evaluated"


def test_resume_auto_of_a_task_on_an_empty_folder_says_it_holds_no_checkpoint(tmp_path, capsys):
    """A task keeping checkpoints (the default) says what --resume auto found none of: a checkpoint."""
    from sciPT.registry import Task
    from sciPT.run import RunDir
    from sciPT.runconfig import resolve_resume

    out = tmp_path / "run"
    out.mkdir()
    try:
        assert resolve_resume(Task(), "auto", out) is False
    finally:
        RunDir(out).unlock()
    assert capsys.readouterr().err == f"--resume auto: {out} holds no checkpoint yet: starting it\n"


def test_a_task_s_default_run_directory_is_named_after_it():
    """A third-party task keeping the default options writes to runs/<name>: two tasks run with
    no --out do not write into one folder."""
    import argparse
    from dataclasses import dataclass, field

    from sciPT.registry import Task
    from sciPT.trainer import TrainConfig

    @dataclass
    class Config:
        train: TrainConfig = field(default_factory=TrainConfig)

    class Mine(Task):
        name = "mine"
        config_class = Config

        def presets(self):
            return {"tiny": Config}

    parser = argparse.ArgumentParser()
    Mine().add_finetune_arguments(parser)
    assert parser.parse_args([]).out == "runs/mine"
