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


def tiny_shipped(tmp_path, monkeypatch):
    """Small stand-ins for the demo's three shipped frame files (the real ones take 25 s to split):
    100 ethanol (9 atoms, every third) + methanol (6) frames, 3 ethanol test frames and 500
    one-atom acetylacetone frames, each frame tagged by its first x coordinate."""
    from ase import Atoms
    from ase.io import write

    from sciPT.files import resolve_data_path
    from sciPT.tasks import forcefield_demo

    def frame(i, n):
        return Atoms("H" * n, positions=[[float(i), 0.0, float(k)] for k in range(n)])

    files = {
        forcefield_demo.ETHANOL_METHANOL: [frame(i, 9 if i % 3 == 0 else 6) for i in range(100)],
        forcefield_demo.ETHANOL_TEST: [frame(1000 + i, 9) for i in range(3)],
        forcefield_demo.ACETYLACETONE_TRAIN: [frame(i, 1) for i in range(500)],
    }
    found = {}
    for k, (given, frames) in enumerate(files.items()):
        found[given] = tmp_path / "shipped" / f"{k}.xyz"
        found[given].parent.mkdir(exist_ok=True)
        write(found[given], frames, format="extxyz")
    monkeypatch.setattr(forcefield_demo, "resolve_data_path", lambda p: found.get(p) or resolve_data_path(p))


def tags(path):
    from ase.io import read

    return [(int(a.positions[0, 0]), len(a)) for a in read(path, index=":")]


def test_the_split_holds_out_5_percent_and_gives_350_50_100_acetylacetone_frames(tmp_path, monkeypatch):
    """The module docstring's split: a frame in two parts would leak the test set into training."""
    from sciPT.tasks.forcefield_demo import split_data

    tiny_shipped(tmp_path, monkeypatch)
    paths = split_data(tmp_path / "data")
    pre, held = tags(paths["pretrain"]), tags(paths["pretrain_val"])
    assert len(held) == 5 and sorted(pre + held) == [(i, 9 if i % 3 == 0 else 6) for i in range(100)]
    assert tags(paths["ethanol_val"]) == [t for t in held if t[1] == 9] != held  # ethanol only
    assert tags(paths["ethanol_test"]) == [(1000, 9), (1001, 9), (1002, 9)]
    acac = [[i for i, _ in tags(paths[name])] for name in ("acac_train", "acac_val", "acac_test")]
    assert [len(part) for part in acac] == [350, 50, 100]
    assert sorted(acac[0] + acac[1] + acac[2]) == list(range(500))


def test_replay_adds_its_frames_to_each_batch_of_8_new_ones(tmp_path):
    """Replay sees as many new frames per step as the other strategies (finetune_config's docstring)."""
    from sciPT.tasks.forcefield_demo import finetune_config

    paths = {
        n: tmp_path / f"{n}.xyz"
        for n in ("ethanol_val", "ethanol_test", "acac_train", "acac_val", "acac_test")
    }
    plain = finetune_config(tmp_path / "pretrain", paths, "full", 60)
    replay = finetune_config(tmp_path / "pretrain", paths, "full", 60, replayed=1)
    assert (plain.train.batch_size, replay.train.batch_size) == (8, 9)
    assert replay.replay and replay.finetune.replay_fraction == pytest.approx(1 / 9)
    # fitted on the training frames, early-stopped on the validation frames, scored on the test frames
    assert replay.data.paths == [str(paths["acac_train"])] and replay.data.val_paths == [
        str(paths["acac_val"])
    ]
    assert replay.test == [str(paths["acac_test"])]
    assert replay.eval == [str(paths["ethanol_val"]), str(paths["ethanol_test"])]


def test_a_decoupled_anchor_is_named_for_ewc_and_l2sp_only():
    from sciPT.tasks.forcefield_demo import strategy_label

    assert strategy_label({"strategy": "ewc", "anchor": "decoupled"}) == "ewc decoupled"
    assert strategy_label({"strategy": "l2sp", "anchor": "decoupled"}) == "l2sp decoupled"
    assert strategy_label({"strategy": "ewc", "anchor": "optimizer"}) == "ewc"
    assert strategy_label({"strategy": "ewc"}) == "ewc"


def test_a_run_as_long_as_one_of_the_demos_stages_is_neither_fewer_nor_more():
    # 1,500 steps: the demo's own fine-tuning length, fewer pre-training steps; 3,000 the reverse
    assert "1,500 fine-tuning steps, instead of the demo's" in steps_note(1500)
    assert "3,000 fine-tuning steps, instead of the demo's" in steps_note(3000)
    assert "1,499 fine-tuning steps, fewer than" in steps_note(1499)
    assert "3,001 fine-tuning steps, more than" in steps_note(3001)


# ethanol test before/after, acetylacetone test after, ethanol val after, acetylacetone val after
FAKE_RMSE = {
    "full": (10.0, 16.2, 20.0, 15.0, 19.0),
    "ewc": (10.0, 11.3, 19.58, 11.0, 18.5),
    "replay": (10.0, 8.736, 20.008, 9.0, 19.2),
}


@pytest.mark.parametrize("max_steps", [None, 30])
def test_the_demo_runs_its_three_strategies_and_reports_them(tmp_path, monkeypatch, capsys, max_steps):
    """The whole pipeline with pre-training and fine-tuning faked: which runs it makes, with which
    settings (module docstring), and the report's table and verdict lines computed by hand."""
    import types

    import sciPT.checkpoint
    import sciPT.domains.molecules.ewc
    from sciPT.run import RunDir
    from sciPT.tasks import forcefield_demo, forcefield_train

    tiny_shipped(tmp_path, monkeypatch)
    seen, threads, commands = {}, [], {}

    def fake_pretrain(domain, cfg, out, command=None):
        seen["pretrain"] = (domain, cfg, out)
        commands["pretrain"] = command
        return RunDir(out)

    def fake_finetune(cfg, out, command=None):
        seen[cfg.finetune.strategy] = cfg
        commands[cfg.finetune.strategy] = command
        run = RunDir(out)
        out.mkdir()
        run.write_config({"finetune": {"strategy": cfg.finetune.strategy}})
        keys = ("eval_ethanol_test_before", "eval_ethanol_test", "test_acac_test", "eval_ethanol_val", "val")
        metrics = {f"{k}_forces_rmse_meV_per_A": v for k, v in zip(keys, FAKE_RMSE[out.name.split("-")[1]])}
        if cfg.finetune.head_warmup:  # as forcefield_train: only a run with a head warm-up says how long
            metrics["head_warmup_steps"] = cfg.train.max_steps // 3
        run.write_metrics(metrics)
        return run

    monkeypatch.setattr(forcefield_demo, "pretrain", fake_pretrain)
    monkeypatch.setattr(forcefield_train, "run_finetune", fake_finetune)
    monkeypatch.setattr(
        sciPT.checkpoint,
        "from_pretrained",
        lambda path: types.SimpleNamespace(extras={}, model=types.SimpleNamespace(head_names=["eth_meth"])),
    )
    monkeypatch.setattr(sciPT.domains.molecules.ewc, "ewc_scale", lambda extras: 37.0)
    monkeypatch.setattr(forcefield_demo, "time", types.SimpleNamespace(time=iter([0.0, 150.0]).__next__))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(forcefield_demo.torch, "set_num_threads", threads.append)
    out = tmp_path / "demo"
    assert demo(argparse.Namespace(out=str(out), max_steps=max_steps)) == 0

    assert threads == [1]  # one intra-op thread unless the user set OMP_NUM_THREADS
    pre_steps, steps = (3000, 1500) if max_steps is None else (30, 30)
    domain, pre, where = seen["pretrain"]
    assert (domain, where, pre.train.max_steps) == ("molecules", out / "pretrain", pre_steps)
    assert pre.data.paths == [str(out / "data" / "pretrain.xyz")]
    full, ewc, replay = seen["full"], seen["ewc"], seen["replay"]
    assert [c.train.max_steps for c in (full, ewc, replay)] == [steps] * 3
    assert [c.init for c in (full, ewc, replay)] == [str(out / "pretrain")] * 3
    # naive and replay keep the pre-trained head, EWC gets a new one, trained alone for a third
    assert [c.data.head for c in (full, ewc, replay)] == ["eth_meth", None, "eth_meth"]
    assert (ewc.finetune.ewc_lambda, ewc.finetune.head_warmup) == (pytest.approx(0.37), pytest.approx(1 / 3))
    assert (replay.finetune.strategy, replay.train.batch_size) == ("replay", 9)
    # each stage's report names the command that makes that stage's own run, in its own folder
    assert commands["pretrain"].startswith("scipt pretrain molecules --data ")
    assert commands["pretrain"].endswith(f" --out {out / 'pretrain'}")
    assert {k: commands[k] for k in ("full", "ewc", "replay")} == {
        k: f"scipt finetune forcefield --config {out}/finetune-{k}/config.yaml --out {out}/finetune-{k}"
        for k in ("full", "ewc", "replay")
    }

    report = (out / "report.md").read_text().splitlines()
    table = [
        "| run | ethanol test, pre-trained | ethanol test, after | acetylacetone test, after | ethanol val, after "
        "| acetylacetone val, after | ethanol increase |",
        "|---|---|---|---|---|---|---|",
        "| full | 10.0 | 16.2 | 20.0 | 15.0 | 19.0 | +6.2 |",
        "| ewc | 10.0 | 11.3 | 19.6 | 11.0 | 18.5 | +1.3 |",
        "| replay | 10.0 | 8.7 | 20.0 | 9.0 | 19.2 | -1.3 |",
    ]
    start = report.index(table[0])
    assert report[start : start + 5] == table
    assert report[start + 6 : start + 8] == [
        # 1.3 / 6.2 = 0.21; 19.58 / 20 - 1 = -2.1 %; 20.008 / 20 - 1 = 0.04 %
        "- ewc: ethanol error increase 0.21 × naive's; acetylacetone test error 2.1 % below naive's.",
        "- replay: the ethanol error fell by 1.26 meV/Å (naive's rose by 6.20 meV/Å); acetylacetone test "
        "error the same as naive's (to 0.1 %).",
    ]
    assert report[start + 9].startswith(
        f"EWC: the new head alone for the first {steps // 3} of {steps} steps, then λ = 0.01 λ₀ (λ₀ = 37, "
    )
    assert "replay: 1 pre-training frame(s) added to every batch of 8 new frames." in report[start + 9]
    assert "All runs use learning rate 0.08 (naive fine-tuning's best" in report[start + 9]
    assert report[-6:] == [
        "- [pre-training](pretrain/report.md)",
        "- [full](finetune-full/report.md)",
        "- [ewc](finetune-ewc/report.md)",
        "- [replay](finetune-replay/report.md)",
        "",
        "Total wall time 2.5 min.",
    ]
    assert ("Run with `--max-steps 30`" in "\n".join(report)) == (max_steps is not None)
    assert (out / "forgetting.png").stat().st_size > 0
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"demo written to {out} (2.5 min); read {out / 'report.md'}"
    # the table, and the warning of a shortened run, are printed as well as written
    assert err[err.index(table[0]) : err.index(table[0]) + 5] == table
    assert any(line.startswith("Run with `--max-steps 30`: ") for line in err) == (max_steps is not None)
    assert [line[:5] for line in err if line.startswith("[")] == ["[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"]


def test_the_acetylacetone_split_is_shuffled_and_the_same_on_every_run(tmp_path, monkeypatch):
    """The frames come from MD trajectories: split in file order, the test frames would be the end
    of a trajectory, not a sample of it. A fixed seed: two demos fine-tune on the same frames."""
    from sciPT.tasks.forcefield_demo import split_data

    tiny_shipped(tmp_path, monkeypatch)
    first, again = split_data(tmp_path / "first"), split_data(tmp_path / "again")
    for name in first:
        assert tags(first[name]) == tags(again[name]), name
    train = [i for i, _ in tags(first["acac_train"])]
    # a random 350 of 500 is the first 350 (or lies in file order) with probability ~0
    assert sorted(train) != list(range(350)) and train != sorted(train)


def test_a_run_of_a_few_steps_still_validates_and_checkpoints_every_step(tmp_path):
    """A sixth of the steps, at least one: `--max-steps 3` made val_every 0, which the training
    configuration refuses (train.val_every: expected a positive integer)."""
    from sciPT.tasks.forcefield_demo import SPLIT_FILES, finetune_config, pretrain_config
    from sciPT.trainer import validate

    paths = {n: tmp_path / f"{n}.xyz" for n in SPLIT_FILES}
    for steps, every in ((3, 1), (60, 10), (1500, 250)):  # steps // 6, at least 1
        for cfg in (
            pretrain_config(paths, steps),
            finetune_config(tmp_path / "pretrain", paths, "full", steps),
        ):
            assert (cfg.train.max_steps, cfg.train.val_every, cfg.train.checkpoint_every) == (
                steps,
                every,
                every,
            )
            validate(cfg.train)


def test_finetune_config_passes_on_its_learning_rate_seed_and_head_settings(tmp_path):
    """The forgetting benchmark sweeps these through finetune_config; one dropped on the way would
    make every point of its sweep the same run."""
    from sciPT.tasks.forcefield_demo import FINETUNE_LR, finetune_config

    paths = {
        n: tmp_path / f"{n}.xyz"
        for n in ("ethanol_val", "ethanol_test", "acac_train", "acac_val", "acac_test")
    }
    default = finetune_config(tmp_path / "pretrain", paths, "ewc", 60)
    assert (default.train.lr, default.train.seed) == (FINETUNE_LR, 0) and FINETUNE_LR == 0.08
    cfg = finetune_config(
        tmp_path / "pretrain", paths, "ewc", 60, lr=0.01, seed=3, old_head_distillation=0.5, head_blocks=1
    )
    assert (cfg.train.lr, cfg.train.seed, cfg.old_head_distillation, cfg.head_blocks) == (0.01, 3, 0.5, 1)


def test_the_finetune_command_quotes_a_run_folder_with_a_space(tmp_path):
    """The command a stage's report names can be pasted as it stands, a folder with a space too."""
    import shlex

    from sciPT.tasks.forcefield_demo import finetune_command

    run = tmp_path / "my demo" / "finetune-ewc"
    command = finetune_command(run)
    assert command == f"scipt finetune forcefield --config '{run}/config.yaml' --out '{run}'"
    assert shlex.split(command)[-4:] == ["--config", f"{run}/config.yaml", "--out", str(run)]


def test_an_error_change_of_zero_on_either_side_gives_no_ratio():
    """A ratio only when both rose (against_naive's docstring): 0.4 / 0 is no ratio at all, and
    0 / 6.2 = "0.00 × naive's" hides that this run's error did not move."""
    assert against_naive("ewc", 0.4, 0.0, 0.031) == (
        "- ewc: the ethanol error rose by 0.40 meV/Å (naive's did not change); acetylacetone test "
        "error 3.1 % above naive's."
    )
    assert against_naive("ewc", 0.0, 6.2, -0.021) == (
        "- ewc: the ethanol error did not change (naive's rose by 6.20 meV/Å); acetylacetone test "
        "error 2.1 % below naive's."
    )


@pytest.mark.parametrize("omp", [None, "3"])
def test_the_demo_uses_one_torch_thread_unless_omp_num_threads_is_set(tmp_path, monkeypatch, omp):
    """The user's OMP_NUM_THREADS wins; without it one thread (demo's comment: two stalled on a busy
    core). The shipped file is missing, so the demo stops right after choosing."""
    from sciPT.errors import DataError
    from sciPT.tasks import forcefield_demo

    threads = []
    monkeypatch.setattr(forcefield_demo, "ETHANOL_TEST", "data_recipes/molecules/ethanol/gone.xyz")
    monkeypatch.setattr(forcefield_demo.torch, "set_num_threads", threads.append)
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    with pytest.raises(DataError):
        demo(argparse.Namespace(out=str(tmp_path / "demo"), max_steps=2))
    assert threads == ([1] if omp is None else [])
