"""The distilled corpus: normal-mode sampling obeys equipartition, frames carry the teacher's
labels, the cache is keyed by content, an interrupted build resumes to the same file, and nothing
half-written is ever left under the corpus's name."""

import json

import numpy as np
import pytest
from ase.calculators.lj import LennardJones
from ase.data import atomic_masses
from ase.io import read
from rdkit import Chem
from rdkit.Chem import AllChem

from sciPT.domains.molecules import distill
from sciPT.domains.molecules.distill import (
    DistillConfig,
    build_corpus,
    corpus_path,
    mmff_hessian,
    molecule_structures,
    normal_modes,
    sample_displacement,
    use_distilled_corpus,
    validate,
)
from sciPT.domains.molecules.presets import tiny
from sciPT.errors import ConfigError, DataError, UserError

SMILES = "# three molecules\nC=O formaldehyde # a comment\nCCO\nCC#N\n"


class CountingLJ(LennardJones):
    """A Lennard-Jones teacher (analytic energy and forces) that counts its calls and can fail;
    frames are written with 8-decimal positions, so a relabelled frame agrees to about 1e-6."""

    def __init__(self, fail_after=None):
        super().__init__(sigma=1.5, epsilon=0.01, rc=6.0)
        self.calls, self.fail_after = 0, fail_after

    def calculate(self, *args, **kwargs):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("teacher killed")
        self.calls += 1
        super().calculate(*args, **kwargs)


@pytest.fixture
def smiles(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_text(SMILES)
    return path


def _cfg(smiles, tmp_path, **kw):
    settings = {
        "teacher": "fake:lj",
        "smiles": str(smiles),
        "samples": 2,
        "cache_dir": str(tmp_path / "cache"),
    }
    return DistillConfig(**{**settings, **kw})


def test_normal_mode_samples_have_the_equipartition_energy():
    """Formaldehyde has 6 vibrations, all stiffer than the 150 cm^-1 floor, so the harmonic energy
    1/2 dx^T H dx of a sample at T averages 6/2 k_B T (to 3% over 4,000 samples)."""
    from ase import units

    mol = Chem.AddHs(Chem.MolFromSmiles("C=O"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    hessian = mmff_hessian(mol, 0)
    masses = atomic_masses[[a.GetAtomicNum() for a in mol.GetAtoms()]]
    vectors, values = normal_modes(hessian, masses, min_frequency=150.0)
    assert vectors.shape == (12, 6)
    rng = np.random.default_rng(0)
    energies = [
        0.5 * d.ravel() @ hessian @ d.ravel()
        for d in (sample_displacement(vectors, values, masses, 500.0, rng) for _ in range(4000))
    ]
    assert np.mean(energies) == pytest.approx(3 * units.kB * 500.0, rel=0.03)
    # translations and rotations are left out: the centre of mass does not move
    d = sample_displacement(vectors, values, masses, 500.0, rng)
    assert np.abs((masses[:, None] * d).sum(0)).max() < 1e-6


def test_structures_are_seeded_per_molecule_and_labelled(smiles, tmp_path):
    cfg = _cfg(smiles, tmp_path)
    a = molecule_structures("CCO", 1, cfg, "x")
    b = molecule_structures("CCO", 1, cfg, "x")
    c = molecule_structures("CCO", 2, cfg, "x")
    assert [s.info["config_type"] for s in a] == ["conformer", "thermal", "thermal"]
    assert [s.info["temperature_K"] for s in a] == [0.0, 300.0, 500.0]
    np.testing.assert_array_equal(a[2].positions, b[2].positions)
    assert not np.allclose(a[2].positions, c[2].positions)
    with pytest.raises(DataError, match=r"^x: RDKit cannot parse the SMILES 'C1CC'$"):
        molecule_structures("C1CC", 0, cfg, "x")


def test_distortions_are_strained_hot_samples(smiles, tmp_path):
    cfg = _cfg(smiles, tmp_path, temperatures=[800.0], distort_above=800.0)
    frames = molecule_structures("CCO", 0, cfg, "x")
    assert [f.info["config_type"] for f in frames] == ["conformer", "distorted", "distorted"]
    d = np.linalg.norm(frames[1].positions[:, None] - frames[1].positions[None], axis=-1)
    assert d[np.triu_indices(9, 1)].min() >= cfg.min_distance


def test_corpus_is_labelled_by_the_teacher_and_cached(smiles, tmp_path):
    cfg = _cfg(smiles, tmp_path)
    teacher = CountingLJ()
    path = build_corpus(cfg, teacher, progress=False)
    frames = read(path, index=":")
    assert len(frames) == 3 * (1 + 2) and teacher.calls == 9
    assert [f.info["molecule"] for f in frames[::3]] == ["formaldehyde", "line 3", "line 4"]
    assert frames[-1].info["smiles"] == "CC#N"  # "#" inside a SMILES is a bond, not a comment
    reference = CountingLJ()
    for frame in frames:
        atoms = frame.copy()
        atoms.calc = reference
        assert frame.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), rel=1e-6)
        np.testing.assert_allclose(frame.get_forces(), atoms.get_forces(), rtol=1e-5, atol=1e-6)
    # the same inputs: the cached file, no teacher call; the parts are gone
    again = CountingLJ()
    assert build_corpus(cfg, again, progress=False) == path and again.calls == 0
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [path.name, path.with_suffix(".json").name, path.with_suffix(".lock").name]
    )
    # any change of the SMILES bytes, the teacher or a setting is another corpus
    other = tmp_path / "other.smi"
    other.write_text(SMILES + "C\n")
    assert len({corpus_path(cfg), corpus_path(_cfg(other, tmp_path)), corpus_path(cfg, "fake:other")}) == 3
    assert corpus_path(_cfg(smiles, tmp_path, samples=3)) != corpus_path(cfg)


def test_an_interrupted_build_resumes_to_the_same_corpus(smiles, tmp_path):
    """Killed inside the third molecule (teacher failure): the first two molecules' parts are
    kept, no corpus and no temporary file exist; the restarted build labels only the third and
    writes the file an uninterrupted build writes."""
    cfg = _cfg(smiles, tmp_path)
    with pytest.raises(RuntimeError, match="teacher killed"):
        build_corpus(cfg, CountingLJ(fail_after=7), progress=False)
    target = corpus_path(cfg)
    parts = target.with_suffix(".parts")
    assert not target.exists()
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(
        [parts.name, target.with_suffix(".lock").name]
    )
    assert sorted(p.name for p in parts.iterdir()) == ["000000.xyz", "000001.xyz"]
    resumed = CountingLJ()
    build_corpus(cfg, resumed, progress=False)
    assert resumed.calls == 3 and not parts.exists()
    fresh = build_corpus(
        DistillConfig(**{**cfg.__dict__, "cache_dir": str(tmp_path / "fresh")}), CountingLJ(), progress=False
    )
    assert fresh.read_bytes() == target.read_bytes()


def _build_in_a_process(cfg, results):
    try:
        results.put(str(build_corpus(cfg, CountingLJ(), progress=False)))
    except BaseException as err:  # noqa: BLE001 - the parent asserts on what each process met
        results.put(repr(err))


def test_two_builds_of_one_corpus_at_once_take_turns(smiles, tmp_path):
    """Two runs of a sweep started together: the first to finish deleted the parts the other was
    still reading (FileNotFoundError in 4 of 7 tries); now the second waits and finds the corpus."""
    import multiprocessing

    cfg = _cfg(smiles, tmp_path)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=_build_in_a_process, args=(cfg, results)) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0, 0]
    assert [results.get(timeout=5) for _ in processes] == [str(corpus_path(cfg))] * 2
    assert len(read(corpus_path(cfg), index=":")) == 9 and not corpus_path(cfg).with_suffix(".parts").exists()


def test_use_distilled_corpus_replaces_the_preset_data(smiles, tmp_path, monkeypatch):
    cfg = tiny()
    cfg.distill = _cfg(smiles, tmp_path)
    cfg.distill.teacher = "sevenn:SevenNet-0"
    path = build_corpus(cfg.distill, CountingLJ(), progress=False)  # cached under the teacher's name
    assert use_distilled_corpus(cfg) == path
    assert cfg.data.paths == [str(path)] and cfg.data.isolated_atoms is None
    assert cfg.data.references == "lstsq"
    # the corpus's own values are no clash: a resumed run's config.yaml holds them
    assert use_distilled_corpus(cfg) == path


@pytest.fixture
def no_teacher(monkeypatch):
    """Labelling must not start: loading the teacher fails the test."""

    def load_teacher(*args, **kwargs):
        raise AssertionError("the teacher was loaded")

    monkeypatch.setattr(distill, "load_teacher", load_teacher)


def _distilling(smiles, tmp_path, **data):
    cfg = tiny()
    cfg.distill = _cfg(smiles, tmp_path, teacher="sevenn:SevenNet-0")
    for key, value in data.items():
        setattr(cfg.data, key, value)
    return cfg


def test_denoising_a_distilled_corpus_is_refused_before_labelling(smiles, tmp_path, no_teacher):
    cfg = _distilling(smiles, tmp_path)
    cfg.objective.kind = "denoise"
    with pytest.raises(ConfigError) as err:
        use_distilled_corpus(cfg)
    assert str(err.value) == (
        "objective.kind denoise: reads the frames unlabelled, so the teacher's energies and forces would "
        "go unused; expected objective.kind energy_forces with --teacher (to denoise, pass structures or "
        "a .smi file as --data, without --teacher)"
    )
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    "data, named",
    [
        (
            {"paths": ["mine.xyz"], "references": "isolated"},
            "data.paths, data.references set, but the distilled corpus replaces them",
        ),
        ({"val_paths": ["val.xyz"]}, "data.val_paths set, but the distilled corpus replaces it"),
        (
            {"energy_key": "REF_energy", "energy_unit": "kcal/mol"},
            "data.energy_key, data.energy_unit set, but the distilled corpus replaces them",
        ),
    ],
)
def test_data_keys_the_corpus_replaces_are_refused_before_labelling(
    data, named, smiles, tmp_path, no_teacher
):
    """A key the user set (a value other than a preset's or the corpus's own) would be silently
    replaced; the presets' files and an explicit ``references lstsq`` are not refused."""
    with pytest.raises(ConfigError) as err:
        use_distilled_corpus(_distilling(smiles, tmp_path, **data))
    them = "it" if len(data) == 1 else "them"
    assert str(err.value) == (
        f"--teacher: {named} (its own frames, references lstsq, energies and forces in eV and "
        f"Angstrom); expected {them} unset with --teacher (to pre-train on files of your own, pass "
        "--data without --teacher)"
    )
    assert not (tmp_path / "cache").exists()
    cfg = _distilling(smiles, tmp_path, references="lstsq")
    path = build_corpus(cfg.distill, CountingLJ(), progress=False)
    assert use_distilled_corpus(cfg) == path


def test_a_bad_smiles_line_stops_the_build_before_any_work(tmp_path):
    """Every line is parsed first: the molecules before the bad one are neither embedded nor
    labelled, and nothing is written."""
    bad = tmp_path / "bad.smi"
    bad.write_text("CCO ethanol\nC1CC(\nCCN\n")
    teacher = CountingLJ()
    with pytest.raises(DataError) as err:
        build_corpus(_cfg(bad, tmp_path), teacher, progress=False)
    assert str(err.value) == f"{bad}: line 2: RDKit cannot parse the SMILES 'C1CC('"
    salt = tmp_path / "salt.smi"
    salt.write_text("CCO\n[Na+].[Cl-] salt\n")
    with pytest.raises(DataError) as err:
        build_corpus(_cfg(salt, tmp_path), teacher, progress=False)
    assert str(err.value) == (
        f"{salt}: line 2: the SMILES '[Na+].[Cl-]' holds 2 separate molecules ('.'); expected one "
        "molecule per line (give each its own line)"
    )
    assert teacher.calls == 0 and not (tmp_path / "cache").exists()


def test_skipped_molecules_are_listed_with_their_reason(tmp_path, monkeypatch, capsys):
    real = AllChem.EmbedMultipleConfs
    # methane (5 atoms with its hydrogens) stands for a molecule ETKDG finds no conformer of
    monkeypatch.setattr(
        AllChem, "EmbedMultipleConfs", lambda mol, **kw: [] if mol.GetNumAtoms() == 5 else real(mol, **kw)
    )
    mols = tmp_path / "some.smi"
    mols.write_text("CCO\n[Xe] xenon\nC methane\n")
    path = build_corpus(_cfg(mols, tmp_path, samples=0), CountingLJ(), progress=False)
    assert len(read(path, index=":")) == 1
    assert json.loads(path.with_suffix(".json").read_text())["skipped"] == [
        {"line": 2, "smiles": "[Xe]", "reason": "MMFF94 has no parameters for it"},
        {"line": 3, "smiles": "C", "reason": "RDKit could not embed a 3D conformer"},
    ]
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "distillation: 2 of 3 molecules were skipped (line 2 '[Xe]': MMFF94 has no parameters for it; "
        f"line 3 'C': RDKit could not embed a 3D conformer; all in {path.with_suffix('.json')})"
    )


def test_a_file_where_every_molecule_is_skipped_leaves_no_cache_entry(tmp_path, no_teacher):
    """Refused naming the SMILES file, not an empty corpus that the next run would find again."""
    allbad = tmp_path / "allbad.smi"
    allbad.write_text("[Xe]\n[U]\n")
    cfg = _cfg(allbad, tmp_path, teacher="sevenn:SevenNet-0")
    expected = (
        f"{allbad}: every molecule was skipped (line 1 '[Xe]': MMFF94 has no parameters for it; "
        "line 2 '[U]': MMFF94 has no parameters for it); expected molecules RDKit can embed in 3D and "
        "MMFF94 has parameters for"
    )
    for _ in range(2):  # a rerun says the same, not that a cache file is empty
        with pytest.raises(DataError) as err:
            build_corpus(cfg, progress=False)
        assert str(err.value) == expected
        assert list((tmp_path / "cache").iterdir()) == []


def test_bad_settings():
    with pytest.raises(UserError, match=r"^--teacher: unknown teacher 'mace:big' \(expected sevenn:MODEL"):
        validate(DistillConfig(teacher="mace:big", smiles="x.smi"))
    with pytest.raises(ConfigError, match=r"^--smiles: a teacher labels molecules given as SMILES"):
        validate(DistillConfig(teacher="sevenn:SevenNet-0"))
    with pytest.raises(ConfigError, match=r"^--smiles: needs a teacher"):
        validate(DistillConfig(smiles="x.smi"))
    with pytest.raises(ConfigError, match=r"^distill.samples: expected an integer >= 0, got -1$"):
        validate(DistillConfig(teacher="sevenn:SevenNet-0", smiles="x.smi", samples=-1))
    with pytest.raises(ConfigError) as err:
        validate(DistillConfig(teacher="sevenn:SevenNet-0", smiles="x.smi", device="gpu0"))
    assert str(err.value) == "distill.device 'gpu0': not a torch device (expected cpu, cuda, cuda:N, ...)"


def test_sevennet_labels_a_molecule(tmp_path):
    """The real teacher, on one conformer of ethanol: forces are minus the gradient of its energy
    (central difference along the forces, 1e-3 Angstrom: float32 model, 2% tolerance)."""
    pytest.importorskip("sevenn")
    from sciPT.domains.molecules.distill import label, load_teacher

    teacher = load_teacher("sevenn:SevenNet-0")
    cfg = DistillConfig(samples=0)
    (frame,) = label(molecule_structures("CCO", 0, cfg, "x"), teacher)
    forces = frame.get_forces()
    assert forces.shape == (9, 3) and np.abs(forces).max() < 5.0
    direction = forces / np.linalg.norm(forces)
    energies = []
    for sign in (1, -1):
        atoms = frame.copy()
        atoms.positions += sign * 1e-2 * direction
        atoms.calc = teacher
        energies.append(atoms.get_potential_energy())
    slope = (energies[0] - energies[1]) / 2e-2
    assert -slope == pytest.approx(np.linalg.norm(forces), rel=0.02)


def _formaldehyde():
    mol = Chem.AddHs(Chem.MolFromSmiles("C=O"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    return mol, atomic_masses[[a.GetAtomicNum() for a in mol.GetAtoms()]]


def _wavenumbers(values):
    """cm^-1 of eigenvalues in eV / (Angstrom^2 amu): nu = sqrt(lambda e / (1e-20 amu)) / (2 pi c 100)."""
    from ase import units

    return np.sqrt(values * units._e / (1e-20 * units._amu)) / (2 * np.pi * units._c * 100)


def test_the_mmff_hessian_is_in_ev_per_square_angstrom_and_gives_formaldehydes_frequencies():
    """MMFF94 energies are in kcal/mol: each diagonal element of the Hessian is the second
    difference of ForceField.CalcEnergy times 0.0433641 eV per kcal/mol (a check independent of the
    gradient the Hessian is built from), and formaldehyde's six vibrations come out at the
    wavenumbers of that energy-difference Hessian."""
    mol, masses = _formaldehyde()
    hessian = mmff_hessian(mol, 0)
    ff = AllChem.MMFFGetMoleculeForceField(mol, AllChem.MMFFGetMoleculeProperties(mol))
    x0 = mol.GetConformer().GetPositions().ravel()
    h, e0 = 1e-3, ff.CalcEnergy(list(x0))
    for i in range(x0.size):
        plus, minus = x0.copy(), x0.copy()
        plus[i] += h
        minus[i] -= h
        second = (ff.CalcEnergy(list(plus)) - 2 * e0 + ff.CalcEnergy(list(minus))) / h**2  # kcal/mol/A^2
        assert hessian[i, i] == pytest.approx(second * 0.0433641, rel=1e-4)
    # wavenumbers of the Hessian built from energy differences alone (4-point mixed second
    # differences of CalcEnergy, h = 1e-3 A, times 0.0433641), mass-weighted, six smallest dropped
    _, values = normal_modes(hessian, masses, min_frequency=0.0)
    assert _wavenumbers(values) == pytest.approx(
        [1095.87, 1157.59, 1659.77, 1698.94, 2870.50, 2958.34], abs=0.1
    )


def test_the_frequency_floor_is_in_wavenumbers():
    """min_frequency is in cm^-1: with a floor of 1500 cm^-1 formaldehyde's two softest modes
    (1095.9 and 1157.6 cm^-1) are raised to exactly 1500 cm^-1 and the four stiffer ones kept."""
    mol, masses = _formaldehyde()
    hessian = mmff_hessian(mol, 0)
    _, free = normal_modes(hessian, masses, min_frequency=0.0)
    _, floored = normal_modes(hessian, masses, min_frequency=1500.0)
    assert _wavenumbers(floored)[:2] == pytest.approx([1500.0, 1500.0], rel=1e-9)
    assert floored[2:] == pytest.approx(free[2:], rel=1e-12)
    assert _wavenumbers(free)[:2] == pytest.approx([1095.9, 1157.6], abs=0.1)
