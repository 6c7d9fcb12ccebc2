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
    rigid_body_modes,
    sample_displacement,
    use_distilled_corpus,
    validate,
)
from sciPT.domains.molecules.presets import tiny
from sciPT.domains.molecules.smiles import read_smiles_lines
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
    vectors, values = normal_modes(hessian, masses, mol.GetConformer().GetPositions(), min_frequency=150.0)
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


def test_an_interrupted_build_closes_its_bar_while_the_interruption_is_handled(smiles, tmp_path):
    """A bar left open lived as long as the exception's traceback, so it was redrawn once the
    command line had said how to go on (``caught`` holds the traceback, as the handler does)."""
    from tqdm.auto import tqdm

    with pytest.raises(RuntimeError, match="teacher killed") as caught:
        build_corpus(_cfg(smiles, tmp_path), CountingLJ(fail_after=7), progress=True)
    assert caught.traceback
    assert not [bar for bar in list(tqdm._instances) if bar.desc == "distilling"]


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


def test_a_reused_corpus_says_how_many_molecules_it_skipped(tmp_path, capsys):
    """The build's line on skipped molecules came once; a run that found the corpus cached said
    only its path, and nothing told it molecules were missing (found by an audit)."""
    mols = tmp_path / "some.smi"
    mols.write_text("CCO\nF[Xe]F xenon_difluoride\n")
    cfg = tiny()
    cfg.distill = _cfg(mols, tmp_path, samples=0)
    cfg.distill.teacher = "sevenn:SevenNet-0"
    path = build_corpus(cfg.distill, CountingLJ(), progress=False)  # cached under the teacher's name
    capsys.readouterr()
    assert use_distilled_corpus(cfg) == path
    assert capsys.readouterr().err == (
        f"distilled corpus: {path} (1 of 2 molecules skipped, listed in {path.with_suffix('.json')})\n"
    )


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
    mols.write_text("CCO\nF[Xe]F xenon\nC methane\n")
    path = build_corpus(_cfg(mols, tmp_path, samples=0), CountingLJ(), progress=False)
    assert len(read(path, index=":")) == 1
    assert json.loads(path.with_suffix(".json").read_text())["skipped"] == [
        {"line": 2, "smiles": "F[Xe]F", "reason": "MMFF94 has no parameters for it"},
        {"line": 3, "smiles": "C", "reason": "RDKit could not embed a 3D conformer"},
    ]
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "distillation: 2 of 3 molecules were skipped (line 2 'F[Xe]F': MMFF94 has no parameters for it; "
        f"line 3 'C': RDKit could not embed a 3D conformer; all in {path.with_suffix('.json')})"
    )


def test_ions_and_single_atoms_are_skipped_with_their_reason(tmp_path):
    """A teacher takes no charge: [Na+] and acetate were labelled as the neutral atom and radical;
    a lone atom has no geometry, and pre-training dropped its frames without a word (found by an
    audit). Each is skipped, naming why; a neutral molecule is kept."""
    mols = tmp_path / "ions.smi"
    mols.write_text("CCO ethanol\n[Na+] sodium\nCC(=O)[O-] acetate\n[Ar] argon\n")
    path = build_corpus(_cfg(mols, tmp_path, samples=0), CountingLJ(), progress=False)
    assert len(read(path, index=":")) == 1
    assert json.loads(path.with_suffix(".json").read_text())["skipped"] == [
        {"line": 2, "smiles": "[Na+]", "reason": "a net charge of +1, which the teacher cannot be told"},
        {"line": 3, "smiles": "CC(=O)[O-]", "reason": "a net charge of -1, which the teacher cannot be told"},
        {"line": 4, "smiles": "[Ar]", "reason": "a single atom"},
    ]


def test_a_molecule_given_again_in_any_spelling_is_skipped_naming_its_first_line(tmp_path):
    """CCO on two lines was labelled twice and weighed twice in the fit (found by an audit); OCC is
    the same molecule spelt otherwise. The first line keeps it; the repeats are skipped, naming it."""
    mols = tmp_path / "twice.smi"
    mols.write_text("CCO ethanol\nCN methylamine\nCCO again\nOCC respelt\n")
    teacher = CountingLJ()
    path = build_corpus(_cfg(mols, tmp_path, samples=0), teacher, progress=False)
    assert sorted({a.info["smiles"] for a in read(path, index=":")}) == ["CCO", "CN"]
    assert json.loads(path.with_suffix(".json").read_text())["skipped"] == [
        {"line": 3, "smiles": "CCO", "reason": "the molecule of line 1 again"},
        {"line": 4, "smiles": "OCC", "reason": "the molecule of line 1 again"},
    ]


def test_a_file_where_every_molecule_is_skipped_leaves_no_cache_entry(tmp_path, no_teacher):
    """Refused naming the SMILES file, not an empty corpus that the next run would find again."""
    allbad = tmp_path / "allbad.smi"
    allbad.write_text("F[Xe]F\nFS(F)(F)(F)(F)F\n")
    cfg = _cfg(allbad, tmp_path, teacher="sevenn:SevenNet-0")
    expected = (
        f"{allbad}: every molecule was skipped (line 1 'F[Xe]F': MMFF94 has no parameters for it; "
        "line 2 'FS(F)(F)(F)(F)F': MMFF94 has no parameters for it); expected neutral molecules of two or "
        "more atoms that RDKit can embed in 3D and MMFF94 has parameters for"
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
    return _relaxed("C=O")


def _relaxed(smiles: str):
    """An MMFF94-relaxed conformer of ``smiles`` and its atoms' masses."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
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
    _, values = normal_modes(hessian, masses, mol.GetConformer().GetPositions(), min_frequency=0.0)
    assert _wavenumbers(values) == pytest.approx(
        [1095.87, 1157.59, 1659.77, 1698.94, 2870.50, 2958.34], abs=0.1
    )


def test_the_frequency_floor_is_in_wavenumbers():
    """min_frequency is in cm^-1: with a floor of 1500 cm^-1 formaldehyde's two softest modes
    (1095.9 and 1157.6 cm^-1) are raised to exactly 1500 cm^-1 and the four stiffer ones kept."""
    mol, masses = _formaldehyde()
    hessian = mmff_hessian(mol, 0)
    x0 = mol.GetConformer().GetPositions()
    _, free = normal_modes(hessian, masses, x0, min_frequency=0.0)
    _, floored = normal_modes(hessian, masses, x0, min_frequency=1500.0)
    assert _wavenumbers(floored)[:2] == pytest.approx([1500.0, 1500.0], rel=1e-9)
    assert floored[2:] == pytest.approx(free[2:], rel=1e-12)
    assert _wavenumbers(free)[:2] == pytest.approx([1095.9, 1157.6], abs=0.1)


@pytest.mark.parametrize(
    "setting, expected",
    [
        ({"conformers": 0}, "distill.conformers: expected a positive integer, got 0"),
        (
            {"temperatures": [300.0, 0.0]},
            "distill.temperatures: expected temperatures > 0 K, got [300.0, 0.0]",
        ),
        ({"temperatures": []}, "distill.temperatures: expected temperatures > 0 K, got []"),
        ({"strain": 0.5}, "distill.strain: expected a strain in [0, 0.5), got 0.5"),
        ({"strain": -0.01}, "distill.strain: expected a strain in [0, 0.5), got -0.01"),
        ({"min_frequency": 0.0}, "distill.min_frequency: expected a frequency > 0 cm^-1, got 0.0"),
        ({"min_distance": 0.0}, "distill.min_distance: expected a distance > 0 Angstrom, got 0.0"),
        ({"max_molecules": 0}, "distill.max_molecules: expected a positive integer, got 0"),
    ],
)
def test_settings_at_the_edge_of_their_range_are_refused(setting, expected):
    """A zero temperature or frequency floor would give copies of the conformer or atoms flung apart
    by a free mode; the first bad value is named with what was expected."""
    with pytest.raises(ConfigError) as err:
        validate(DistillConfig(teacher="sevenn:SevenNet-0", smiles="x.smi", **setting))
    assert str(err.value) == expected


def test_settings_at_the_edge_of_their_range_are_accepted():
    """samples 0 (the relaxed conformers only), strain 0, one conformer and one molecule are all
    documented as valid: refusing them would stop a user's run."""
    validate(
        DistillConfig(
            teacher="sevenn:SevenNet-0", smiles="x.smi", conformers=1, samples=0, strain=0.0, max_molecules=1
        )
    )


def test_a_teacher_without_a_model_name_is_refused():
    """'sevenn:' names no model: refused before any file is read, not when the weights are loaded."""
    with pytest.raises(UserError) as err:
        validate(DistillConfig(teacher="sevenn:", smiles="x.smi"))
    assert (
        str(err.value)
        == "--teacher: unknown teacher 'sevenn:' (expected sevenn:MODEL (e.g. sevenn:SevenNet-0))"
    )


def test_a_diatomic_keeps_its_one_vibration():
    """Two atoms joined by a spring k along x: five zero modes (3 translations, 2 rotations) and one
    vibration of eigenvalue k (1/m1 + 1/m2); dropping six modes would leave a diatomic unsampled."""
    masses = np.array([1.0, 16.0])
    k = 5.0  # eV / Angstrom^2
    hessian = np.zeros((6, 6))
    hessian[np.ix_([0, 3], [0, 3])] = k * np.array([[1.0, -1.0], [-1.0, 1.0]])
    vectors, values = normal_modes(
        hessian, masses, np.array([[0.0, 0.0, 0.0], [1.1, 0.0, 0.0]]), min_frequency=1e-6
    )
    assert vectors.shape == (6, 1)
    assert values == pytest.approx([k * (1 / 1.0 + 1 / 16.0)], rel=1e-12)


def test_water_keeps_three_vibrations():
    """A bent triatomic has 3N - 6 = 3 vibrations (a bend and two stretches, all above 1000 cm^-1):
    keeping a seventh-smallest (zero) mode would add a spurious mode floored at min_frequency."""
    mol, masses = _relaxed("O")
    vectors, values = normal_modes(
        mmff_hessian(mol, 0), masses, mol.GetConformer().GetPositions(), min_frequency=0.0
    )
    assert vectors.shape == (9, 3)
    assert _wavenumbers(values).min() > 1000.0


def test_a_linear_molecule_keeps_both_of_its_bends():
    """CO2 has 3N - 5 = 4 vibrations: two degenerate bends (484 cm^-1 with MMFF94), the symmetric
    and the antisymmetric stretch; with one bend dropped its samples only ever bend in one plane."""
    mol, masses = _relaxed("O=C=O")
    _, values = normal_modes(
        mmff_hessian(mol, 0), masses, mol.GetConformer().GetPositions(), min_frequency=0.0
    )
    assert len(values) == 4
    assert _wavenumbers(values)[:2] == pytest.approx([483.8, 483.8], abs=0.5)
    # acetylene: 3N - 5 = 7, both pairs of degenerate bends kept; a bent molecule still drops six
    assert rigid_body_modes(np.array([[0.0, 0, 0], [1.2, 0, 0], [-1.06, 0, 0], [2.26, 0, 0]])) == 5
    assert rigid_body_modes(np.array([[0.0, 0, 0], [1.2, 0, 0], [2.4, 0.01, 0]])) == 6
    assert rigid_body_modes(np.array([[0.0, 0, 0]])) == 3


def test_temperatures_are_cycled_over_the_samples(smiles, tmp_path):
    """The docstring's 'cycled': sample s is at temperatures[s % len]; with more samples than
    temperatures the list starts again, rather than repeating its last (hottest) value."""
    cfg = _cfg(smiles, tmp_path, samples=5, temperatures=[300.0, 500.0])
    frames = molecule_structures("C=O", 0, cfg, "x")
    assert [f.info["temperature_K"] for f in frames] == [0.0, 300.0, 500.0, 300.0, 500.0, 300.0]


def test_a_distortion_is_a_symmetric_strain_within_the_strain_setting(smiles, tmp_path):
    """At a near-zero temperature the sample is the conformer strained by I + (eps + eps^T)/2 about
    its centre, eps_ab ~ U(-s, s): recovered by least squares, the matrix is symmetric, its entries
    lie within [-s, s], and they take both signs."""
    s = 0.04
    cfg = _cfg(smiles, tmp_path, samples=4, temperatures=[1e-6], distort_above=1e-6, strain=s)
    conformer, *samples = molecule_structures("CCO", 0, cfg, "x")
    x0 = conformer.positions - conformer.positions.mean(axis=0)
    strains = []
    for frame in samples:
        assert frame.info["config_type"] == "distorted"
        x = frame.positions - frame.positions.mean(axis=0)
        a, *_ = np.linalg.lstsq(x0, x, rcond=None)
        np.testing.assert_allclose(a, a.T, atol=1e-3)
        strains.append(a - np.eye(3))
    strains = np.array(strains)
    assert np.abs(strains).max() <= s + 1e-3
    assert strains.max() > s / 4 and strains.min() < -s / 4


def test_a_sample_with_atoms_too_close_is_drawn_again_up_to_20_times(smiles, tmp_path, monkeypatch):
    """A rejected draw is retried (19 rejections still give the sample), and after 20 rejections
    the sample is left out rather than drawn forever."""
    calls = []

    def closest(rejections):
        def fake(positions):
            calls.append(1)
            return 0.0 if len(calls) <= rejections else np.inf

        return fake

    cfg = _cfg(smiles, tmp_path, samples=1)
    monkeypatch.setattr(distill, "_min_distance", closest(19))
    assert [f.info["config_type"] for f in molecule_structures("C=O", 0, cfg, "x")] == [
        "conformer",
        "thermal",
    ]
    assert len(calls) == 20
    calls.clear()
    monkeypatch.setattr(distill, "_min_distance", closest(10**6))
    assert [f.info["config_type"] for f in molecule_structures("C=O", 0, cfg, "x")] == ["conformer"]
    assert len(calls) == 20


def test_a_non_finite_energy_from_the_teacher_is_refused():
    """A NaN energy with finite forces must not reach the corpus: it would poison every loss."""
    from ase import Atoms
    from ase.calculators.calculator import Calculator

    from sciPT.domains.molecules.distill import label

    class NaNEnergy(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=None, system_changes=None):
            super().calculate(atoms, properties, system_changes)
            self.results = {"energy": float("nan"), "forces": np.zeros((len(atoms), 3))}

    atoms = Atoms("CO", positions=[[0, 0, 0], [0, 0, 1.2]])
    atoms.info["smiles"] = "[C-]#[O+]"
    with pytest.raises(DataError) as err:
        label([atoms], NaNEnergy())
    assert str(err.value) == "teacher: non-finite energy or forces for [C-]#[O+]"


def test_non_finite_forces_from_the_teacher_are_refused():
    """A finite energy with a NaN force (a teacher blowing up on one atom) must not reach the
    corpus either: one NaN force poisons every force loss of the pre-training."""
    from ase import Atoms
    from ase.calculators.calculator import Calculator

    from sciPT.domains.molecules.distill import label

    class NaNForce(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=None, system_changes=None):
            super().calculate(atoms, properties, system_changes)
            forces = np.zeros((len(atoms), 3))
            forces[1, 2] = np.nan
            self.results = {"energy": -1.0, "forces": forces}

    atoms = Atoms("CO", positions=[[0, 0, 0], [0, 0, 1.2]])
    atoms.info["smiles"] = "[C-]#[O+]"
    with pytest.raises(DataError) as err:
        label([atoms], NaNForce())
    assert str(err.value) == "teacher: non-finite energy or forces for [C-]#[O+]"


def test_a_molecule_is_named_by_the_second_column_only(tmp_path):
    """The name is the word after the SMILES (the documented second column), whatever follows it;
    a line without one is named by its number."""
    path = tmp_path / "named.smi"
    path.write_text("CCO ethanol gas phase\nC#N\n")
    assert read_smiles_lines(path) == [(1, "CCO", "ethanol"), (2, "C#N", "line 2")]


def test_a_smiles_file_in_utf16_or_gzip_is_read_and_other_bytes_are_one_line(tmp_path):
    """Excel's "Unicode Text" (UTF-16 with a byte-order mark) and a gzip file gave a traceback
    (UnicodeDecodeError, exit 1; found by an audit): both are read as the plain file is; bytes that
    are no UTF-8 text are refused in one line naming the byte."""
    import gzip

    text = "CCO ethanol\nC#N\n"
    expected = [(1, "CCO", "ethanol"), (2, "C#N", "line 2")]
    (tmp_path / "u16.smi").write_bytes(text.encode("utf-16"))
    (tmp_path / "z.smi.gz").write_bytes(gzip.compress(text.encode()))
    assert read_smiles_lines(tmp_path / "u16.smi") == expected
    assert read_smiles_lines(tmp_path / "z.smi.gz") == expected
    (tmp_path / "latin1.smi").write_bytes("CCO \xe9thanol\n".encode("latin-1"))
    with pytest.raises(DataError) as err:
        read_smiles_lines(tmp_path / "latin1.smi")
    assert str(err.value) == (
        f"{tmp_path / 'latin1.smi'}: not UTF-8 text (byte 0xe9 at offset 4); expected SMILES, one "
        "molecule per line"
    )


def test_max_molecules_takes_the_first_lines(smiles, tmp_path):
    """--distill.max-molecules 2: only the first two molecules are labelled, and the summary says 2."""
    cfg = _cfg(smiles, tmp_path, max_molecules=2)
    teacher = CountingLJ()
    path = build_corpus(cfg, teacher, progress=False)
    frames = read(path, index=":")
    assert [f.info["molecule"] for f in frames] == ["formaldehyde"] * 3 + ["line 3"] * 3
    assert teacher.calls == 6
    assert json.loads(path.with_suffix(".json").read_text())["molecules"] == 2


@pytest.mark.parametrize(
    "change",
    [
        {"conformers": 2},
        {"samples": 3},
        {"temperatures": [300.0]},
        {"distort_above": 900.0},
        {"strain": 0.05},
        {"min_frequency": 100.0},
        {"min_distance": 0.5},
        {"max_molecules": 2},
        {"seed": 1},
    ],
)
def test_every_generation_setting_names_its_own_corpus(change, smiles, tmp_path):
    """A changed setting gives other frames: finding the old corpus would silently train on them."""
    assert corpus_path(_cfg(smiles, tmp_path, **change)) != corpus_path(_cfg(smiles, tmp_path))


def test_device_and_cache_folder_do_not_change_the_corpus_name(smiles, tmp_path):
    """Labelling on a GPU gives the frames a CPU gives: the corpus built on one is found on the other."""
    cfg = _cfg(smiles, tmp_path)
    assert corpus_path(_cfg(smiles, tmp_path, device="cuda")) == corpus_path(cfg)
    moved = corpus_path(_cfg(smiles, tmp_path, cache_dir=str(tmp_path / "elsewhere")))
    assert moved == tmp_path / "elsewhere" / corpus_path(cfg).name


def test_a_resumed_build_says_how_many_molecules_were_already_labelled(smiles, tmp_path, capsys):
    """After a kill in the third molecule, the rerun reports the two molecules it did not redo."""
    cfg = _cfg(smiles, tmp_path)
    with pytest.raises(RuntimeError, match="teacher killed"):
        build_corpus(cfg, CountingLJ(fail_after=7), progress=False)
    capsys.readouterr()
    build_corpus(cfg, CountingLJ(), progress=False)
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "distillation: resumed, 2 of 3 molecules were already labelled"
    )


def test_a_skip_left_by_an_older_version_is_listed_with_the_generic_reason(smiles, tmp_path, capsys):
    """An empty part without a reason file (written before skips had reasons) counts as a skipped,
    finished molecule: not relabelled, listed in the summary with the generic reason."""
    cfg = _cfg(smiles, tmp_path)
    parts = corpus_path(cfg).with_suffix(".parts")
    parts.mkdir(parents=True)
    (parts / "000001.xyz").write_text("")
    teacher = CountingLJ()
    path = build_corpus(cfg, teacher, progress=False)
    assert teacher.calls == 6
    assert [f.info["molecule"] for f in read(path, index=":")[::3]] == ["formaldehyde", "line 4"]
    assert json.loads(path.with_suffix(".json").read_text())["skipped"] == [
        {"line": 3, "smiles": "CCO", "reason": "RDKit could not embed it, or MMFF94 has no parameters for it"}
    ]
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "distillation: resumed, 1 of 3 molecules were already labelled"
    )


def test_one_skipped_molecule_is_reported_and_summarised(tmp_path, capsys):
    """The .json summary names the teacher, the file, how many molecules it held and the settings;
    a single skip is still announced."""
    mols = tmp_path / "two.smi"
    mols.write_text("CCO\nF[Xe]F xenon\n")
    cfg = _cfg(mols, tmp_path, samples=0)
    path = build_corpus(cfg, CountingLJ(), progress=False)
    summary = json.loads(path.with_suffix(".json").read_text())
    assert summary["teacher"] == "fake:lj" and summary["smiles"] == str(mols)
    assert summary["molecules"] == 2 and summary["settings"]["samples"] == 0
    assert summary["skipped"] == [
        {"line": 2, "smiles": "F[Xe]F", "reason": "MMFF94 has no parameters for it"}
    ]
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "distillation: 1 of 2 molecules were skipped (line 2 'F[Xe]F': MMFF94 has no parameters for it; "
        f"all in {path.with_suffix('.json')})"
    )


def test_the_skip_message_lists_five_and_counts_the_rest(tmp_path, capsys):
    """Seven skipped molecules: the message names the first five and says '2 more' (the .json holds
    all seven), so a long list does not flood the terminal."""
    mols = tmp_path / "many.smi"
    # seven molecules MMFF94 has no parameters for
    lacking = ["F[Xe]F", "FS(F)(F)(F)(F)F", "FB(F)F", "F[Se]F", "O=[Xe]=O", "F[Te]F", "ClB(Cl)Cl"]
    mols.write_text("CCO\n" + "".join(f"{m}\n" for m in lacking))
    path = build_corpus(_cfg(mols, tmp_path, samples=0), CountingLJ(), progress=False)
    assert len(json.loads(path.with_suffix(".json").read_text())["skipped"]) == 7
    listed = "; ".join(
        f"line {n} '{m}': MMFF94 has no parameters for it" for n, m in zip(range(2, 7), lacking)
    )
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"distillation: 7 of 8 molecules were skipped ({listed}; 2 more; all in {path.with_suffix('.json')})"
    )
