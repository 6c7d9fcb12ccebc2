"""The registered molecules domain: preparation, a short pre-training run, export and reload."""

import dataclasses

import pytest
import torch

from sciPT.checkpoint import from_pretrained
from sciPT.domains.molecules import MoleculesConfig
from sciPT.domains.molecules.data import MoleculeDataConfig
from sciPT.domains.molecules.dataset import FrameDataset, batches
from sciPT.domains.molecules.presets import tiny
from sciPT.errors import ConfigError, DataError
from sciPT.pretrain import pretrain
from sciPT.registry import domains


def small_config(shipped, **data) -> MoleculesConfig:
    cfg = tiny()
    cfg.data = dataclasses.replace(
        cfg.data,
        paths=[str(shipped / "ethanol" / "train_eth_meth.xyz")],
        isolated_atoms=str(shipped / "ethanol" / "isolated_atoms.xyz"),
        max_frames=40,
        val_fraction=0.1,
        **data,
    )
    cfg.train = dataclasses.replace(
        cfg.train, max_steps=6, val_every=3, checkpoint_every=3, val_batches=2, batch_size=4, log_every=1
    )
    return cfg


def test_build_pretraining_fills_the_model_from_the_data(shipped):
    domain = domains.get("molecules")
    setup = domain.build_pretraining(small_config(shipped))
    model = setup.export_config["model"]
    assert setup.export_config["domain"] == "molecules"
    assert setup.export_config["references"] == "isolated"
    assert model["elements"] == ["H", "C", "O"]
    assert model["reference_energies"] == pytest.approx(
        [-13.568422383046626, -1025.2770951782686, -2035.5709809589698]
    )
    assert setup.report["frames_train"] == 36 and setup.report["frames_val"] == 4
    assert model["avg_num_neighbors"] > 1 and model["energy_scale"] > 0
    # the first 40 frames are methanol: the shift is its atomisation energy per atom
    assert -6.0 < model["energy_shift"] < -3.0
    (entry,) = setup.corpus
    assert entry["records"] == 40 and entry["residues"] == 40 * 6 and len(entry["sha256"]) == 64

    batch = next(iter(setup.datamodule.train_dataloader()))
    assert batch.num_graphs == 4
    loss, metrics = setup.objective(setup.backbone.train(), batch)
    assert torch.isfinite(loss) and "forces_rmse_meV_per_A" in metrics
    assert setup.embed(batch).shape == (batch.num_nodes, setup.backbone.cfg.channels)


def test_frame_dataset_sees_every_frame_once_per_epoch():
    graphs = list(range(7))
    data = FrameDataset(graphs, seed=3)
    first, second = [data[g] for g in range(7)], [data[g] for g in range(7, 14)]
    assert sorted(first) == sorted(second) == graphs and first != second
    assert [FrameDataset(graphs, seed=3)[g] for g in range(7)] == first


def test_pretrain_exports_a_model_that_reloads_with_its_references(shipped, tmp_path):
    cfg = small_config(shipped)
    run = pretrain("molecules", cfg, tmp_path / "run")
    metrics = run.read_metrics()
    assert metrics["steps"] == 6 and metrics["frames_train"] == 36
    loaded = from_pretrained(run.path, domain="molecules")
    assert loaded.model.cfg.elements == ["H", "C", "O"]
    setup = domains.get("molecules").build_pretraining(cfg)
    batch = next(batches(setup.datamodule.val_dataloader().dataset.graphs, 4))
    again = from_pretrained(run.path).model(batch)
    torch.testing.assert_close(loaded.model(batch)["forces"], again["forces"])
    # total energies, references included: within a few eV of DFT after six steps
    assert float((again["energy"] - batch.energy).abs().max()) < 5.0


def test_denoising_pretraining_on_smiles(tmp_path):
    smi = tmp_path / "mols.smi"
    smi.write_text("CCO\nCC(=O)C\n")
    cfg = MoleculesConfig()
    cfg.data = MoleculeDataConfig(paths=[str(smi)], num_conformers=3, val_fraction=0.0)
    cfg.model = dataclasses.replace(tiny().model)
    cfg.objective.kind = "denoise"
    setup = domains.get("molecules").build_pretraining(cfg)
    assert setup.export_config["references"] == "none"
    assert setup.report["frames_train"] == 6 and setup.datamodule.val_set is None
    batch = next(iter(batches(setup.datamodule.train_set.graphs, 6)))
    loss, metrics = setup.objective(setup.backbone.train(), batch, torch.Generator().manual_seed(0))
    loss.backward()
    assert float(metrics["denoise_rmse"]) > 0
    assert setup.backbone.readout[0].weight.grad.abs().max() > 0


def test_bad_data_stops_before_the_run_directory_exists(shipped, tmp_path):
    bad = tmp_path / "bad.xyz"
    bad.write_text("2\nProperties=species:S:1:pos:R:3:forces:R:3\nH 0 0 0 0 0 0\nH 0 0 0.74 0 0 0\n")
    cfg = small_config(shipped)
    cfg.data.paths = [str(bad)]
    with pytest.raises(DataError) as err:
        pretrain("molecules", cfg, tmp_path / "run")
    assert str(err.value) == f"{bad}: frame 0: no energy key 'energy' (the frame has: forces)"
    assert not (tmp_path / "run").exists()


def test_a_bad_architecture_is_refused_before_the_data_is_read(tmp_path):
    cfg = tiny()
    cfg.data.paths = [str(tmp_path / "not-read.xyz")]
    cfg.model.l_max = 5
    with pytest.raises(ConfigError) as err:
        domains.get("molecules").build_pretraining(cfg)
    assert str(err.value) == "model.l_max: expected 0, 1, 2 or 3, got 5"


def test_an_element_table_that_is_not_of_symbols_is_refused_in_one_line(shipped):
    """``--model.elements '[H,C,N,O]'`` splits into ``'[H'`` ... ``'O]'``: it ended in a
    ``KeyError: '[H'`` traceback from ASE once the frames were checked against the table."""
    cfg = small_config(shipped)
    cfg.model.elements = ["[H", "C", "N", "O]"]
    with pytest.raises(ConfigError) as err:
        domains.get("molecules").build_pretraining(cfg)
    assert str(err.value) == (
        "model.elements: '[H' is not a chemical symbol: give the symbols comma-separated "
        "(--model.elements H,C,N,O)"
    )
    cfg.model.elements = ["H", "C", "Qq"]
    with pytest.raises(ConfigError, match=r"^model.elements: 'Qq' is not a chemical symbol$"):
        domains.get("molecules").build_pretraining(cfg)
    cfg.model.elements = ["H", "C", "H"]
    with pytest.raises(ConfigError, match=r"^model.elements: repeated symbols in \['H', 'C', 'H'\]$"):
        domains.get("molecules").build_pretraining(cfg)
    # 'H, C, O' and 'h,c,o': the commas were there, the spaces or the capitals were not
    for elements, said in (
        (
            ["H", " C", " O"],
            "' C' is not a chemical symbol: no spaces around the commas (--model.elements H,C,N,O)",
        ),
        (["h", "c", "o"], "'h' is not a chemical symbol: symbols are capitalised (H)"),
    ):
        cfg.model.elements = elements
        with pytest.raises(ConfigError) as err:
            domains.get("molecules").build_pretraining(cfg)
        assert str(err.value) == f"model.elements: {said}"


def test_the_presets_isolated_atoms_go_with_the_shipped_frames_only(shipped, tmp_path, capsys):
    """``--data`` replaces the shipped ethanol frames, and with them their isolated atoms: these
    were read with the user's keys and units (refused under other keys; for a file in Hartree,
    27 times too large and used as the references)."""
    from ase.io import read, write
    from ase.units import Hartree

    frames = read(shipped / "ethanol" / "train.xyz", index=":20")
    for atoms in frames:
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = None
        atoms.info["energy"], atoms.arrays["forces"] = energy / Hartree, forces / Hartree
    mine = tmp_path / "mine.xyz"
    write(mine, frames, format="extxyz")
    cfg = tiny()
    cfg.data.paths = [str(mine)]
    cfg.data.energy_unit = "Hartree"
    capsys.readouterr()
    setup = domains.get("molecules").build_pretraining(cfg)
    assert cfg.data.isolated_atoms is None
    assert setup.export_config["references"] == "lstsq"
    assert capsys.readouterr().err.splitlines()[0] == (
        "data.isolated_atoms: the preset's data_recipes/molecules/ethanol/isolated_atoms.xyz belongs to "
        "the shipped ethanol frames, not to --data; not used (name a file of your own level of theory to "
        "use isolated atoms)"
    )
    # the shipped frames keep them, however their path is spelt
    cfg = tiny()
    cfg.data.paths, cfg.data.max_frames = [str(shipped / "ethanol" / "train.xyz")], 20
    setup = domains.get("molecules").build_pretraining(cfg)
    assert setup.export_config["references"] == "isolated"
    assert setup.export_config["model"]["reference_energies"] == pytest.approx(
        [-13.568422383046626, -1025.2770951782686, -2035.5709809589698]
    )
