"""The command starts at once: it imports only what the command line names, and a plugin whose
optional libraries are missing is named with the ``pip install`` that brings them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "lightning", "e3nn", "torch_geometric", "rdkit", "ase", "matplotlib", "sklearn", "scipy")

PROBE = """
import json, sys
{prelude}
from sciPT.cli import main
try:
    status = main({argv!r})
except SystemExit as exit:
    status = exit.code
print(json.dumps({{"status": status, "loaded": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def probe(argv: list[str], prelude: str = "") -> tuple[dict, str]:
    """Run ``scipt ARGV`` in a fresh interpreter; its exit status, the heavy modules it imported
    and its stderr."""
    code = PROBE.format(prelude=prelude, argv=argv, heavy=HEAVY)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_top_level_help_imports_no_plugin_and_no_heavy_library():
    result, _ = probe(["--help"])
    assert result == {"status": 0, "loaded": []}


def test_a_command_other_than_demo_does_not_list_the_demos():
    # the demos' names are listed by importing every plugin: done for every command, it cost 4 s
    result, _ = probe(["data", "list"])
    assert result["status"] == 0 and not {"rdkit", "ase", "e3nn", "torch_geometric"} & set(result["loaded"])


def test_surrogate_help_imports_only_what_the_surrogate_task_uses():
    result, _ = probe(["finetune", "surrogate", "--help"])
    assert result["status"] == 0
    assert result["loaded"] == ["scipy"]  # its special functions; no torch, no Lightning


def test_a_wrong_training_setting_is_refused_before_lightning_is_imported(tmp_path):
    """A typo in a pre-training setting answers in a couple of seconds: the settings are checked
    before Lightning (several seconds of imports) is loaded, and nothing is written."""
    out = tmp_path / "run"
    result, err = probe(
        [
            "pretrain",
            "dna",
            "--preset",
            "tiny",
            "--strategy",
            "fsdp",
            "--accelerator",
            "cpu",
            "--out",
            str(out),
        ]
    )
    assert result["status"] == 2 and "lightning" not in result["loaded"]
    assert err.endswith(
        "scipt: error: train.strategy: fsdp (FSDP1) needs CUDA GPUs; on the CPU use fsdp2 (FSDP2, "
        "sharded over gloo) or ddp\n"
    )
    assert not out.exists()


def test_promoter_fine_tuning_lists_its_options_and_refuses_a_wrong_setting_without_lightning(tmp_path):
    """The promoter task's options and checks load without the fitting code: ``--help`` and a
    wrong value answer in a couple of seconds (Lightning and scikit-learn are seconds of imports)."""
    result, _ = probe(["finetune", "promoter", "--help"])
    assert result["status"] == 0 and not {"lightning", "sklearn"} & set(result["loaded"])
    out = tmp_path / "run"
    result, err = probe(["finetune", "promoter", "--lr", "-1", "--out", str(out)])
    assert result["status"] == 2 and not {"lightning", "sklearn"} & set(result["loaded"])
    assert err.endswith("scipt: error: train.lr: expected a positive learning rate, got -1.0\n")
    assert not out.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["pretrain", "molecules", "--help"],
        ["finetune", "forcefield", "--help"],
        ["md", "--help"],
        ["demo", "--help"],
    ],
)
def test_molecule_options_list_without_the_network_graph_or_training_libraries(argv):
    # e3nn, torch-geometric and Lightning are 5-6 s of imports: a run's work, not a listing's
    result, _ = probe(argv)
    assert result["status"] == 0
    assert not {"lightning", "e3nn", "torch_geometric", "matplotlib"} & set(result["loaded"])


def test_a_wrong_force_field_setting_is_refused_before_the_fitting_code_loads(tmp_path):
    out = tmp_path / "run"
    result, err = probe(["finetune", "forcefield", "--lr", "-1", "--out", str(out)])
    assert result["status"] == 2
    assert not {"lightning", "e3nn", "torch_geometric"} & set(result["loaded"])
    assert err.endswith("scipt: error: train.lr: expected a positive learning rate, got -1.0\n")
    assert not out.exists()


DECONTAMINATE = [
    "data",
    "decontaminate",
    "--corpus",
    "data_recipes/dna/phage_lambda.fa",
    "--against",
    "data_recipes/promoters/uci_ecoli_promoters.csv",
    "--output",
    "{tmp}/clean.fa",
]


@pytest.mark.parametrize(
    "argv,missing,plugin,extra",
    [
        # its options load without e3nn, but the domain is of no use without it
        (["pretrain", "molecules", "--help"], "e3nn", "the domain 'molecules'", "molecules"),
        (["finetune", "surrogate", "--help"], "ht", "the task 'surrogate'", "surrogates"),
        # a core command using a domain whose library is missing
        (DECONTAMINATE, "Bio", "the domain 'dna'", "dna"),
    ],
)
def test_a_missing_extra_is_one_line_naming_the_pip_install(argv, missing, plugin, extra, tmp_path):
    argv = [a.format(tmp=tmp_path) for a in argv]
    if argv[:2] == ["data", "decontaminate"]:
        # a corpus already cached needs no FASTA parser: the command must still stop before its work
        from sciPT.domains.dna.data import DNA_SPEC
        from sciPT.sequences import Corpus

        Corpus([argv[3]], DNA_SPEC)
    # ``sys.modules[name] = None`` makes ``import name`` fail as if the library were not installed
    result, stderr = probe(argv, prelude=f"sys.modules[{missing!r}] = None")
    assert result["status"] == 2
    assert stderr.strip().splitlines() == [
        f"scipt: error: {plugin} needs '{missing}', which is not installed: pip install 'scipt[{extra}]'"
    ]
    assert not (tmp_path / "clean.fa").exists()
