"""The helpers of sciPT.testing: the symmetry checks pass what is symmetric and catch what is not;
the session runner kills a hung launcher's ranks."""

import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sciPT.testing import (
    assert_equivariant,
    assert_rc_equivariant,
    assert_strand_symmetric,
    draw_transform,
    finite_difference_gradient,
    random_dna,
    random_permutation,
    random_reflection,
    random_rotation,
    random_translation,
    run_session,
    stop_at,
    terminate_when,
)


def _structure(n=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=torch.float64) * 2, torch.arange(1, n + 1)


def pair_model(pos, numbers, cell):
    """A Morse-like pair energy weighted by the two atomic numbers: E(3) and permutation symmetric."""
    pos = pos.clone().requires_grad_(True)
    i, j = torch.triu_indices(len(pos), len(pos), 1)
    r = (pos[i] - pos[j]).norm(dim=1)
    pair = numbers[i] * numbers[j] * (1 - torch.exp(-(r - 1.5))) ** 2
    atomic = torch.zeros(len(pos), dtype=pos.dtype).index_add(0, i, pair / 2).index_add(0, j, pair / 2)
    energy = atomic.sum()
    (grad,) = torch.autograd.grad(energy, pos)
    return {"energy": energy.detach(), "forces": -grad, "atomic_energies": atomic.detach()}


def test_random_matrices_are_orthogonal_with_the_right_determinant():
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        rot, ref = random_rotation(g), random_reflection(g)
        for m, det in ((rot, 1.0), (ref, -1.0)):
            torch.testing.assert_close(m @ m.T, torch.eye(3, dtype=torch.float64))
            assert float(torch.linalg.det(m)) == pytest.approx(det)


def test_draws_are_reproducible_and_permutations_move_atoms():
    a = draw_transform("combined", 6, torch.Generator().manual_seed(7))
    b = draw_transform("combined", 6, torch.Generator().manual_seed(7))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(random_permutation(6, torch.Generator().manual_seed(0)), torch.arange(6))


def test_a_symmetric_model_passes_every_transformation():
    pos, z = _structure()
    report = assert_equivariant(pair_model, pos, z, per_atom=("atomic_energies",), atol=1e-10, rtol=1e-10)
    assert set(report) == {"rotation", "reflection", "translation", "permutation", "combined"}
    assert max(d for r in report.values() for d in r.values()) < 1e-10


def test_a_model_of_absolute_positions_fails_translation():
    pos, z = _structure()

    def origin_spring(p, n, cell):
        return {"energy": (p**2).sum(), "forces": -2 * p}

    with pytest.raises(
        AssertionError,
        match=r"^energy is not invariant under translation: "
        r"max \|difference\| ",
    ):
        assert_equivariant(origin_spring, pos, z)


def test_a_chiral_model_fails_reflection_only():
    pos, z = _structure()

    def triple_product(p, n, cell):
        e = torch.dot(p[1] - p[0], torch.linalg.cross(p[2] - p[0], p[3] - p[0]))
        return {"energy": e}

    assert_equivariant(triple_product, pos, z, vectors=(), transforms=("rotation", "translation"))
    with pytest.raises(AssertionError, match="^energy is not invariant under reflection"):
        assert_equivariant(triple_product, pos, z, vectors=(), transforms=("reflection",))


def test_order_dependent_model_fails_permutation():
    pos, z = _structure()

    def ordered(p, n, cell):
        return {"energy": ((p - p[0]).norm(dim=1) * torch.arange(len(p))).sum()}

    with pytest.raises(AssertionError, match="^energy is not invariant under permutation"):
        assert_equivariant(ordered, pos, z, vectors=(), transforms=("permutation",))


def test_forces_that_do_not_rotate_are_caught():
    pos, z = _structure()

    def fixed_forces(p, n, cell):
        return {"energy": torch.tensor(0.0), "forces": torch.ones_like(p)}

    with pytest.raises(AssertionError, match="^forces is not equivariant under rotation"):
        assert_equivariant(fixed_forces, pos, z, transforms=("rotation",))


def test_stress_transforms_as_a_rank_two_tensor():
    pos, z = _structure()
    cell = torch.diag(torch.tensor([4.0, 5.0, 6.0], dtype=torch.float64))

    def cell_tensor(p, n, c):
        return {"energy": torch.tensor(0.0), "stress": c.T @ c}

    assert_equivariant(cell_tensor, pos, z, cell, vectors=(), tensors=("stress",), atol=1e-12)

    def wrong(p, n, c):
        return {"energy": torch.tensor(0.0), "stress": c @ c.T}

    with pytest.raises(AssertionError, match="^stress is not equivariant under rotation"):
        assert_equivariant(wrong, pos, z, cell, vectors=(), tensors=("stress",), transforms=("rotation",))


def test_finite_difference_gradient_of_a_cubic():
    x = torch.tensor([[0.3, -1.2, 2.0]], dtype=torch.float64)
    grad = finite_difference_gradient(lambda y: (y**3).sum() + y[0, 0] * y[0, 1], x, h=1e-4)
    exact = torch.tensor([[3 * 0.09 - 1.2, 3 * 1.44 + 0.3, 12.0]], dtype=torch.float64)
    torch.testing.assert_close(grad, exact, atol=1e-7, rtol=0)


def test_modules_loaded_by_reports_what_an_import_pulls_in():
    from sciPT.testing import modules_loaded_by

    # the fit loop is Lightning's; the trainer's config module is not
    assert modules_loaded_by("sciPT.classification", ("lightning", "no.such.module")) == ["lightning"]
    assert modules_loaded_by("sciPT.errors", ("lightning", "torch")) == []


def test_finite_difference_gradient_of_a_transposed_input():
    x = torch.tensor([[0.3, -1.2, 2.0], [1.0, 0.5, -0.7]], dtype=torch.float64).T
    grad = finite_difference_gradient(lambda y: (y**2).sum(), x, h=1e-4)
    torch.testing.assert_close(grad, 2 * x, atol=1e-8, rtol=0)


@pytest.mark.parametrize("offset", [0.0, -1000.0])
def test_an_energy_offset_does_not_hide_a_broken_symmetry(offset):
    # a DFT total energy sits near -1000: a tolerance relative to it let this 0.06 violation pass
    pos = torch.randn(6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2

    def tilted(p, n, cell):
        return {"energy": torch.cdist(p, p).sum() + 0.03 * torch.tanh(p[0, 0]) + offset}

    with pytest.raises(AssertionError) as err:
        assert_equivariant(tilted, pos, torch.ones(6, dtype=torch.long), vectors=())
    assert (
        str(err.value)
        == "energy is not invariant under reflection: max |difference| 0.0599 > tolerance 1e-05"
    )


def test_a_symmetric_float32_energy_far_from_zero_passes_its_rounding():
    pos = torch.randn(6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2

    def atomic_sum(p, n, cell):
        # per-atom energies near -170 n in float32: a permutation changes the order of the sum
        return {"energy": (torch.cdist(p, p).sum(1) * n - 1000.0 / 6 * n).float().sum()}

    report = assert_equivariant(atomic_sum, pos, torch.tensor([1, 6, 8, 1, 6, 8]), vectors=())
    assert report["combined"]["energy"] > 1e-5  # rounding alone went past atol, and it passed


def test_a_nan_energy_fails():
    pos, z = _structure()

    def nan(p, n, cell):
        return {"energy": torch.tensor(float("nan")), "forces": torch.zeros_like(p)}

    with pytest.raises(AssertionError) as err:
        assert_equivariant(nan, pos, z)
    assert str(err.value) == "energy is not finite on the reference structure: NaN or infinity"


COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)  # A C G T N


def _sequences():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 4, size=n).astype(np.uint8) for n in (10, 13, 7)]


def test_strand_symmetry_passes_a_symmetric_model_with_a_list_complement():
    w = np.array([0.3, -1.2, 0.7, 2.0, 0.0])
    assert_strand_symmetric(
        lambda ss: [float((w[s] + w[COMPLEMENT[s]]).sum()) for s in ss], _sequences(), [3, 2, 1, 0, 4]
    )


def test_a_nan_prediction_is_not_strand_symmetric():
    calls = []

    def nan_forward(ss):
        calls.append(1)
        return [float("nan") if len(calls) == 1 and i == 1 else 0.5 for i in range(len(ss))]

    with pytest.raises(AssertionError) as err:
        assert_strand_symmetric(nan_forward, _sequences(), COMPLEMENT)
    assert str(err.value) == "predictions are not finite: nan for sequence 1, 0.5 for its reverse complement"


def _dna_encoder(rc: bool, dtype=torch.float32, d_model=256, n_layers=4):
    from sciPT.domains.dna.data import DNA_SPEC
    from sciPT.nn import TransformerConfig, TransformerEncoder
    from sciPT.tokenizers import SequenceTokenizer

    tok = SequenceTokenizer(DNA_SPEC.alphabet, k=1)
    complement = tok.complement_ids(DNA_SPEC.complement_codes())
    torch.manual_seed(0)
    cfg = TransformerConfig(
        vocab_size=tok.vocab_size,
        pad_id=tok.pad_id,
        d_model=d_model,
        n_layers=n_layers,
        n_heads=4,
        d_ff=4 * d_model,
        max_len=64,
        rc_equivariant=rc,
        complement_ids=complement if rc else None,
    )
    batch = tok.batch([*_sequences(), np.random.default_rng(1).integers(0, 4, 60).astype(np.uint8)])
    return TransformerEncoder(cfg).to(dtype).eval(), batch, complement


def test_rc_equivariance_default_tolerance_follows_the_dtype():
    # width 256, 4 layers in float32: rounding alone differs by ~1.6e-6 between the strands
    encoder, batch, complement = _dna_encoder(rc=True)
    assert_rc_equivariant(encoder, batch["input_ids"], batch["attention_mask"], complement)
    # what a fixed 1e-6 made of it (the digits of rounding vary with the machine's BLAS)
    rounding = r"^not reverse-complement equivariant: max \|difference\| \d\.\d+e-06 > tolerance 1e-06 at"
    with pytest.raises(AssertionError, match=rounding):
        assert_rc_equivariant(encoder, batch["input_ids"], batch["attention_mask"], complement, atol=1e-6)
    plain, batch, complement = _dna_encoder(rc=False)
    with pytest.raises(AssertionError) as err:
        assert_rc_equivariant(plain, batch["input_ids"], batch["attention_mask"], complement)
    assert str(err.value) == (
        "not reverse-complement equivariant: max |difference| 5.38 > tolerance 2.84e-05 at sequence 0"
    )


def test_nan_hidden_states_are_not_rc_equivariant():
    _, batch, complement = _dna_encoder(rc=True, d_model=16, n_layers=1)

    def nan_encoder(ids, mask):
        return torch.full((*ids.shape, 4), float("nan"))

    with pytest.raises(AssertionError) as err:
        assert_rc_equivariant(nan_encoder, batch["input_ids"], batch["attention_mask"], complement)
    assert str(err.value) == "hidden states are not finite: NaN or infinity at a real token of the sequence 0"


# a command whose child outlives it holding its output pipe, as a rank of a hung launcher does
LEAVES_A_CHILD = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    open(sys.argv[1], "w").write(str(child.pid))
    time.sleep(120)
    """
)


def _running(pid: int, wait: float = 10.0) -> bool:
    """Whether ``pid`` still runs ``wait`` seconds on: a killed process closes its files (the end of
    the pipe the test waited for) before it is gone, so for a moment it may still show."""
    deadline = time.monotonic() + wait
    while True:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return False
        state = status.split("\nState:\t", 1)[1][:1]
        if state in ("Z", "X"):  # dead, or a zombie waiting for its parent to read its status
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)


def test_run_session_returns_what_the_command_wrote_and_its_status():
    done = run_session([sys.executable, "-c", "import sys; print('out'); sys.exit(3)"], timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "")


def test_run_session_kills_the_command_and_its_children_at_the_timeout(tmp_path):
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    with pytest.raises(AssertionError, match="still running after 3 s"):
        run_session([sys.executable, "-c", LEAVES_A_CHILD, str(pid_file)], timeout=3)
    # subprocess.run's kill leaves the child holding the pipe: it waited the child's 120 s
    assert time.monotonic() - started < 30
    assert not _running(int(pid_file.read_text()))


# --- the draws themselves: a helper that draws the identity passes every model --------------------
def test_translations_reach_both_signs_up_to_the_scale():
    # all-positive shifts would still move atoms, but a model broken only for one direction would pass
    g = torch.Generator().manual_seed(0)
    t = torch.stack([random_translation(g, scale=2.0) for _ in range(200)])
    assert float(t.abs().max()) <= 2.0
    assert float(t.min()) < -1.5 and float(t.max()) > 1.5


def test_a_permutation_of_two_atoms_always_swaps_them():
    # two atoms have one non-trivial permutation; drawing the identity would test nothing
    for seed in range(20):
        assert random_permutation(2, torch.Generator().manual_seed(seed)).tolist() == [1, 0]


def test_the_combined_transformation_reflects_translates_and_permutes():
    # "combined" is the check a plugin author runs alone: it must hold every part, the mirror included
    for seed in range(5):
        q, t, perm = draw_transform("combined", 6, torch.Generator().manual_seed(seed))
        assert float(torch.linalg.det(q)) == pytest.approx(-1.0)
        assert float(t.abs().max()) > 0 and not torch.equal(perm, torch.arange(6))
    pos, z = _structure()

    def triple_product(p, n, cell):
        return {"energy": torch.dot(p[1] - p[0], torch.linalg.cross(p[2] - p[0], p[3] - p[0]))}

    with pytest.raises(AssertionError, match="^energy is not invariant under combined"):
        assert_equivariant(triple_product, pos, z, vectors=(), transforms=("combined",))


def test_an_unknown_transformation_is_refused():
    # a typo in transforms= must not silently run another check
    with pytest.raises(ValueError) as err:
        draw_transform("rotatoin", 3)
    assert str(err.value) == (
        "unknown transformation 'rotatoin' (expected one of: rotation, reflection, translation, "
        "permutation, combined)"
    )


def test_per_atom_outputs_must_follow_the_permutation_with_an_absolute_tolerance():
    # per-atom energies that ignore the atoms' order are as wrong as forces that do not rotate
    pos = torch.randn(6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2

    def sorted_atomic(p, n, cell):
        i, j = torch.triu_indices(len(p), len(p), 1)
        r = (p[i] - p[j]).norm(dim=1)
        atomic = torch.zeros(len(p), dtype=p.dtype).index_add(0, i, r / 2).index_add(0, j, r / 2)
        return {"energy": atomic.sum(), "atomic_energies": atomic.sort().values}

    assert_equivariant(
        sorted_atomic, pos, torch.ones(6, dtype=torch.long), vectors=(), transforms=("rotation",)
    )
    with pytest.raises(AssertionError) as err:
        assert_equivariant(
            sorted_atomic,
            pos,
            torch.ones(6, dtype=torch.long),
            vectors=(),
            per_atom=("atomic_energies",),
            transforms=("permutation",),
        )
    assert str(err.value).startswith("atomic_energies is not invariant under permutation: max |difference| ")
    assert str(err.value).endswith(" > tolerance 1e-05")


def test_a_float32_energy_far_from_zero_gets_only_its_rounding_as_slack():
    # in float32 at -860, 16 units in the last place are 1.6e-3: a 0.06 violation must still fail
    pos = torch.randn(6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2

    def tilted(p, n, cell):
        return {"energy": (torch.cdist(p, p).sum() + 0.03 * torch.tanh(p[0, 0]) - 1000.0).float()}

    energy = abs(float(tilted(pos, None, None)["energy"]))
    tolerance = 1e-5 + 16 * 2.0**-23 * energy  # float32's machine epsilon is 2^-23
    with pytest.raises(AssertionError) as err:
        assert_equivariant(tilted, pos, torch.ones(6, dtype=torch.long), vectors=())
    assert str(err.value) == (
        f"energy is not invariant under reflection: max |difference| 0.0599 > tolerance {tolerance:.3g}"
    )


def test_a_nan_under_a_transformation_only_is_named_as_such():
    # finite on the structure given, NaN once rotated: the message must point at the rotation
    pos, z = _structure()

    def nan_when_moved(p, n, cell):
        e = torch.tensor(0.0 if torch.equal(p, pos) else float("nan"), dtype=torch.float64)
        return {"energy": e}

    with pytest.raises(AssertionError) as err:
        assert_equivariant(nan_when_moved, pos, z, vectors=(), transforms=("rotation",))
    assert str(err.value) == "energy is not finite under rotation: NaN or infinity"


def _codes(*seqs):
    return [np.array(["ACGT".index(c) for c in s], dtype=np.uint8) for s in seqs]


@pytest.mark.parametrize(
    "predict,message",
    [
        # the fraction of A: order does not matter, but AAC's reverse complement GTT has none
        (
            lambda ss: [float(np.mean(s == 0)) for s in ss],
            "not strand-symmetric: max |difference| 0.667 at sequence 1",
        ),
        # whether the first base is A or T: the complement keeps it, the reversal reads the last base
        (
            lambda ss: [float(s[0] in (0, 3)) for s in ss],
            "not strand-symmetric: max |difference| 1 at sequence 1",
        ),
    ],
)
def test_a_model_that_is_not_strand_symmetric_is_caught(predict, message):
    # a check that passes a model reading one strand would certify a broken classifier
    with pytest.raises(AssertionError) as err:
        assert_strand_symmetric(predict, _codes("ACGT", "AAC", "AACG"), COMPLEMENT)
    assert str(err.value) == message


def test_random_dna_is_reproducible_and_uses_the_whole_alphabet():
    # benchmarks and tests pin their inputs by the seed; every base must occur
    a = random_dna(400, 0)
    assert len(a) == 400 and set(a) == set("ACGT") and a == random_dna(400, 0)
    assert a != random_dna(400, 1)
    assert set(random_dna(50, 0, alphabet="AC")) == {"A", "C"}


WAITS_FOR_A_SIGNAL = "import sys, time; open(sys.argv[1], 'w').close(); time.sleep(60)"


def test_terminate_when_sends_sigterm_by_default(tmp_path):
    # a batch system's time limit is SIGTERM; the Ctrl-C path is tested apart with signum=SIGINT
    import signal

    flag = tmp_path / "ready"
    status, err = terminate_when([sys.executable, "-c", WAITS_FOR_A_SIGNAL, str(flag)], flag.exists, wait=30)
    assert status == -signal.SIGTERM and err == ""


def test_terminate_when_fails_at_once_when_the_command_ends_first():
    # a run that crashed before it was ready must fail with its output, not after the whole wait
    started = time.monotonic()
    command = [sys.executable, "-c", "import sys; print('crashed early'); sys.exit(4)"]
    with pytest.raises(AssertionError, match="crashed early"):
        terminate_when(command, lambda: False, wait=30)
    assert time.monotonic() - started < 15


def test_stop_at_stops_once_the_step_is_reached():
    # a resume test stopped at step 3 must resume from step 3's checkpoint, not step 4
    from types import SimpleNamespace

    callback = stop_at(3)
    for step, stops in ((2, False), (3, True), (4, True)):
        trainer = SimpleNamespace(global_step=step, should_stop=False)
        callback.on_train_batch_end(trainer)
        assert trainer.should_stop is stops


def test_rc_equivariance_reads_only_the_real_tokens():
    # padding may hold anything, NaN or huge values: it must neither fail a model nor widen the tolerance
    _, batch, complement = _dna_encoder(rc=True, d_model=16, n_layers=1)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert not mask.all()  # the batch is padded

    def padded_with(value, real_states):
        def encoder(i, m):
            return torch.where(m[..., None].bool(), real_states(i), value)

        return encoder

    zeros = padded_with(float("nan"), lambda i: torch.zeros(*i.shape, 4))
    assert_rc_equivariant(zeros, ids, mask, complement)
    # the token id as a state is not complement-aware; 1e6 in the padding would make the default
    # tolerance 64 * 2^-23 * 1e6 = 7.6 and hide it
    token = padded_with(1e6, lambda i: 0.01 * i[..., None].float().expand(*i.shape, 4))
    with pytest.raises(AssertionError, match="^not reverse-complement equivariant: max"):
        assert_rc_equivariant(token, ids, mask, complement)


# --- tolerances at their boundary: a helper that loosens them passes a model that is wrong --------
def test_draws_follow_the_generator_given_and_default_to_seed_0():
    # a failure reproduces with the seed it names: no generator is seed 0, and another seed or the
    # next draw of the same generator is another transformation (else a check tests one rotation)
    assert torch.equal(random_rotation(), random_rotation(torch.Generator().manual_seed(0)))
    g = torch.Generator().manual_seed(0)
    first, second = random_rotation(g), random_rotation(g)
    assert not torch.allclose(first, second)
    assert not torch.allclose(random_rotation(torch.Generator().manual_seed(1)), first)


def test_an_energy_violation_just_above_atol_fails_and_just_below_passes():
    # E = sum of distances + c * sum of x: a translation t moves it by exactly c * N * t_x (by hand),
    # made negative here so that only |difference| can see it
    pos, z = _structure()
    (t_x, *_) = draw_transform("translation", len(pos), torch.Generator().manual_seed(0))[1]
    c = -0.01 if t_x > 0 else 0.01
    shift = abs(c * len(pos) * float(t_x))

    def drifting(p, n, cell):
        return {"energy": torch.cdist(p, p).sum() + c * p[:, 0].sum()}

    assert_equivariant(drifting, pos, z, vectors=(), transforms=("translation",), atol=1.02 * shift)
    with pytest.raises(AssertionError) as err:
        assert_equivariant(drifting, pos, z, vectors=(), transforms=("translation",), atol=0.98 * shift)
    energy = abs(float(drifting(pos, z, None)["energy"]))
    tolerance = 0.98 * shift + 16 * 2.0**-52 * energy  # float64's machine epsilon is 2^-52
    assert str(err.value) == (
        f"energy is not invariant under translation: max |difference| {shift:.3g} > tolerance {tolerance:.3g}"
    )


def test_forces_get_the_default_relative_tolerance_of_their_magnitude():
    # forces 1000 x + delta (1, 1, 1): the 1000 x part rotates, the constant part does not, so a
    # rotation Q leaves delta * max_j |1 - sum_k Q_jk| of difference (by hand); the default tolerance
    # is 1e-5 + 1e-4 * max |expected forces|: a tenth of it passes, ten times it fails
    pos, z = _structure()
    q = draw_transform("rotation", len(pos), torch.Generator().manual_seed(0))[0]
    per_delta = float((1 - q.sum(1)).abs().max())
    scale = 1e-4 * float((1000 * pos @ q.T).abs().max()) / per_delta

    def leaning(delta):
        def fn(p, n, cell):
            return {"forces": 1000 * p + delta}

        return fn

    assert_equivariant(leaning(0.1 * scale), pos, z, invariant=(), transforms=("rotation",))
    delta = 10 * scale
    with pytest.raises(AssertionError) as err:
        assert_equivariant(leaning(delta), pos, z, invariant=(), transforms=("rotation",))
    tolerance = 1e-5 + 1e-4 * float(((1000 * pos + delta) @ q.T).abs().max())
    assert str(err.value) == (
        f"forces is not equivariant under rotation: max |difference| {delta * per_delta:.3g} > "
        f"tolerance {tolerance:.3g}"
    )


def test_finite_difference_gradient_default_step_is_accurate():
    # central differences with the default h = 1e-5: the error of x^3 is h^2 = 1e-10 by hand, and
    # a coarse step would leave it at h^2 (1e-4 for h = 1e-2)
    x = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    grad = finite_difference_gradient(lambda y: (y**3).sum(), x)
    torch.testing.assert_close(grad, 3 * x**2, atol=1e-8, rtol=0)


def test_a_small_strand_asymmetry_fails_the_default_tolerance():
    # a score of 1e-5 times the first base's code: AAC reads 0, its reverse complement GTT reads
    # G = 2, so sequence 1 differs by 2e-5 (ACGT is its own reverse complement); the default
    # atol 1e-6 catches it, and a hundredth of that asymmetry (2e-7) passes
    def first_base(scale):
        return lambda ss: [scale * float(s[0]) for s in ss]

    with pytest.raises(AssertionError) as err:
        assert_strand_symmetric(first_base(1e-5), _codes("ACGT", "AAC"), COMPLEMENT)
    assert str(err.value) == "not strand-symmetric: max |difference| 2e-05 at sequence 1"
    assert_strand_symmetric(first_base(1e-7), _codes("ACGT", "AAC"), COMPLEMENT)


def test_a_nan_on_the_reverse_complement_only_is_not_strand_symmetric():
    # NaN compares with nothing: a check that only looked at the forward strand would pass this
    calls = []

    def nan_backward(ss):
        calls.append(1)
        return [float("nan") if len(calls) == 2 and i == 2 else 0.5 for i in range(len(ss))]

    with pytest.raises(AssertionError) as err:
        assert_strand_symmetric(nan_backward, _sequences(), COMPLEMENT)
    assert str(err.value) == "predictions are not finite: 0.5 for sequence 2, nan for its reverse complement"


def test_nan_hidden_states_on_the_reverse_complement_only_are_named():
    # the forward pass is finite, the reverse-complement pass is NaN at a real token of row 2 only
    _, batch, complement = _dna_encoder(rc=True, d_model=16, n_layers=1)
    calls = []

    def nan_backward(ids, mask):
        calls.append(1)
        states = torch.zeros(*ids.shape, 4)
        if len(calls) == 2:
            states[2, 0] = float("nan")
        return states

    with pytest.raises(AssertionError) as err:
        assert_rc_equivariant(nan_backward, batch["input_ids"], batch["attention_mask"], complement)
    assert str(err.value) == (
        "hidden states are not finite: NaN or infinity at a real token of the reverse complement of sequence 2"
    )
