"""The words of the force-field demo's report: changes that went down read as such, and a run
shortened by ``--max-steps`` says so; an ``--out`` it cannot write into, or a shipped file that is missing, is refused first."""

import argparse

import pytest

from sciPT.errors import UserError
from sciPT.tasks.forcefield_demo import against_naive, demo, steps_note


def test_both_errors_rose_gives_the_ratio_and_the_percentage_above_or_below():
    # 1.3 / 6.2 = 0.2097; 0.979 / 1 - 1 = -2.1 %
    assert against_naive("ewc", 1.3, 6.2, -0.021) == (
        "- ewc: ethanol error increase 0.21 × naive's; acetylacetone test error 2.1 % below naive's."
    )
    assert against_naive("replay", 0.6, 6.2, 0.0804) == (
        "- replay: ethanol error increase 0.10 × naive's; acetylacetone test error 8.0 % above naive's."
    )


def test_an_ethanol_error_that_fell_is_no_negative_ratio():
    # the walkthrough's replay line: -1.264 / 0.62 would have been "-2.04 × naive's"
    assert against_naive("replay", -1.264, 0.62, 0.0004) == (
        "- replay: the ethanol error fell by 1.26 meV/Å (naive's rose by 0.62 meV/Å); acetylacetone "
        "test error the same as naive's (to 0.1 %)."
    )
    # naive's own error fell (a short run): no ratio either, whichever way this one went
    assert against_naive("ewc", 0.4, -0.25, 0.031) == (
        "- ewc: the ethanol error rose by 0.40 meV/Å (naive's fell by 0.25 meV/Å); acetylacetone test "
        "error 3.1 % above naive's."
    )
    assert against_naive("ewc", 0.0, 0.0, -0.5) == (
        "- ewc: the ethanol error did not change (naive's did not change); acetylacetone test error "
        "50.0 % below naive's."
    )


def test_a_run_of_other_length_than_the_demo_says_so():
    assert steps_note(None) == ""
    assert steps_note(30) == (
        "Run with `--max-steps 30`: 30 pre-training and 30 fine-tuning steps, fewer than the demo's "
        "3,000 and 1,500. The comparison may not show what the default run shows (its learning rate, "
        "EWC strength and warm-up were chosen for the default length)."
    )
    assert "2,000 pre-training and 2,000 fine-tuning steps, instead of the demo's" in steps_note(2000)
    assert "5,000 pre-training and 5,000 fine-tuning steps, more than the demo's" in steps_note(5000)


def test_an_out_that_is_a_file_or_holds_files_is_refused_before_any_work(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("not a run\n")
    with pytest.raises(UserError) as err:
        demo(argparse.Namespace(out=str(taken)))
    assert str(err.value) == f"{taken}: --out names a file, not a directory"
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine\n")
    with pytest.raises(UserError) as err:
        demo(argparse.Namespace(out=str(full)))
    assert str(err.value) == f"{full}: exists and is not empty (choose another --out)"
    assert taken.read_text() == "not a run\n" and [p.name for p in full.iterdir()] == ["notes.txt"]


def test_a_missing_shipped_file_is_one_line_before_anything_is_written(tmp_path, monkeypatch):
    from sciPT.errors import DataError
    from sciPT.tasks import forcefield_demo

    monkeypatch.setattr(forcefield_demo, "ETHANOL_TEST", "data_recipes/molecules/ethanol/gone.xyz")
    out = tmp_path / "demo"
    with pytest.raises(DataError) as err:
        demo(argparse.Namespace(out=str(out), max_steps=2))
    assert str(err.value) == (
        "data_recipes/molecules/ethanol/gone.xyz: file not found (the demo's shipped molecules)"
    )
    assert not out.exists()


def test_the_demo_keeps_its_isolated_atoms_when_run_from_the_repository_root(tmp_path, monkeypatch, capsys):
    # from the root, the references resolved to the preset's own relative path and were dropped as
    # belonging to other frames than the demo's, so its results depended on the working directory
    from sciPT.domains.molecules import drop_preset_isolated_atoms
    from sciPT.files import resolve_data_path
    from sciPT.tasks.forcefield_demo import pretrain_config

    root = resolve_data_path("data_recipes/molecules/ethanol/isolated_atoms.xyz").resolve().parents[3]
    for where in (root, tmp_path):
        monkeypatch.chdir(where)
        cfg = pretrain_config(
            {"pretrain": tmp_path / "data" / "p.xyz", "pretrain_val": tmp_path / "data" / "v.xyz"}
        )
        drop_preset_isolated_atoms(cfg.data)
        assert cfg.data.isolated_atoms == str(root / "data_recipes/molecules/ethanol/isolated_atoms.xyz")
    assert capsys.readouterr().err == ""


def resolved(argv: list[str]):
    """The configuration that the command line ``argv`` (``scipt ...``) runs with, as a dict."""
    from sciPT.cli import build_parser
    from sciPT.config import to_dict
    from sciPT.runconfig import resolve_config

    args = build_parser(argv[1:]).parse_args(argv[1:])
    return to_dict(resolve_config(args.plugin, args, args.table))


def test_each_stage_reports_the_scipt_command_that_makes_the_same_run(tmp_path):
    """Their reports' Command lines read `scipt demo forcefield (ewc step)`: no command at all."""
    import shlex

    import yaml

    from sciPT.config import to_dict
    from sciPT.files import resolve_data_path
    from sciPT.tasks.forcefield_demo import (
        finetune_command,
        finetune_config,
        pretrain_command,
        pretrain_config,
    )

    data = tmp_path / "my data"
    paths = {
        name: data / f"{name}.xyz" for name in ("pretrain", "pretrain_val", "ethanol_val", "ethanol_test")
    }
    paths.update({name: data / f"{name}.xyz" for name in ("acac_train", "acac_val", "acac_test")})
    cfg = pretrain_config(paths, 120)
    command = pretrain_command(cfg, tmp_path / "pretrain")
    atoms = resolve_data_path("data_recipes/molecules/ethanol/isolated_atoms.xyz").resolve()
    assert command == (
        f"scipt pretrain molecules --data '{data}/pretrain.xyz' --data.val-paths '{data}/pretrain_val.xyz' "
        f"--data.isolated-atoms {atoms} --max-steps 120 --val-every 20 --checkpoint-every 20 "
        f"--out {tmp_path / 'pretrain'}"
    )
    assert resolved(shlex.split(command)) == to_dict(cfg)
    ewc = finetune_config(tmp_path / "pretrain", paths, "ewc", 60, ewc_lambda=0.37, head_warmup=1 / 3)
    replay = finetune_config(tmp_path / "pretrain", paths, "full", 60, replayed=1, head="ethanol")
    for name, cfg in (("finetune-ewc", ewc), ("finetune-replay", replay)):
        run = tmp_path / name
        run.mkdir()
        (run / "config.yaml").write_text(yaml.safe_dump({"task": "forcefield", **to_dict(cfg)}))
        command = finetune_command(run)
        assert command == f"scipt finetune forcefield --config {run}/config.yaml --out {run}"
        assert resolved(shlex.split(command)) == to_dict(cfg)
