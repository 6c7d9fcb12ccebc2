"""Helpers for tests and plugin authors: symmetry checks and finite differences.

E(3) and permutations. A model of atoms ``fn(positions, numbers, cell) -> {name: tensor}`` should
satisfy, for every orthogonal matrix :math:`Q` (rotation, :math:`\\det Q = 1`, or rotation with
reflection, :math:`\\det Q = -1`), translation :math:`t` and permutation :math:`\\pi` of the atoms,

.. math::

    x_i' = Q x_{\\pi(i)} + t, \\quad Z_i' = Z_{\\pi(i)}, \\quad \\text{cell rows } a_k' = Q a_k
    \\;\\Longrightarrow\\;
    E' = E, \\quad F_i' = Q F_{\\pi(i)}, \\quad \\sigma' = Q \\sigma Q^\\top

(energies invariant, forces equivariant, stress a rank-2 tensor). :func:`assert_equivariant` applies
each transformation, and all of them at once, and fails with a message naming the output, the
transformation and the largest deviation. Random draws come from a ``torch.Generator`` (seed 0
unless one is given) so a failure reproduces.

All functions work in float64 and return plain tensors; they know no domain.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

TRANSFORMS = ("rotation", "reflection", "translation", "permutation", "combined")


# command-line flags for a sequence pre-training run of a few seconds (tests, demos of the CLI)
FAST_SEQUENCE_FLAGS = (
    "--max-steps",
    "4",
    "--batch-size",
    "4",
    "--val-every",
    "2",
    "--val-batches",
    "1",
    "--warmup-steps",
    "1",
    "--window",
    "32",
    "--model.max-len",
    "32",
)


# flags shared by the multi-process sequence runs of the tests (DDP, FSDP2, two nodes): tiny
# batches and windows, validation and a checkpoint every 2 steps, so a run stopped at an even step
# resumes; the test adds the launch flags and the step count
MULTIPROCESS_SEQUENCE_FLAGS = (
    "--accelerator",
    "cpu",
    "--batch-size",
    "4",
    "--val-every",
    "2",
    "--val-batches",
    "1",
    "--checkpoint-every",
    "2",
    "--window",
    "32",
    "--model.max-len",
    "32",
)


def stop_at(step: int):
    """A Lightning callback that stops training once ``global_step`` reaches ``step`` (an
    interrupted run, for resume tests). Lightning is imported only when one is made."""
    import lightning.pytorch as pl

    class StopAt(pl.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step >= step:
                trainer.should_stop = True

    return StopAt()


def _generator(generator: torch.Generator | None) -> torch.Generator:
    return generator if generator is not None else torch.Generator().manual_seed(0)


def random_rotation(
    generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """A uniformly random proper rotation ``(3, 3)``, ``det = +1`` (QR of a Gaussian matrix with
    the sign convention that makes the distribution Haar)."""
    g = _generator(generator)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.to(dtype)


def random_reflection(
    generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """A random improper orthogonal matrix ``(3, 3)``, ``det = -1``: a rotation times a mirror."""
    mirror = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    return (random_rotation(generator) @ mirror).to(dtype)


def random_translation(
    generator: torch.Generator | None = None, scale: float = 10.0, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """A translation ``(3,)`` with components uniform in ``[-scale, scale]``."""
    g = _generator(generator)
    return ((2 * torch.rand(3, generator=g, dtype=torch.float64) - 1) * scale).to(dtype)


def random_permutation(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random permutation of ``n`` atoms that moves at least two of them (when ``n > 1``)."""
    g = _generator(generator)
    while True:
        perm = torch.randperm(n, generator=g)
        if n < 2 or not torch.equal(perm, torch.arange(n)):
            return perm


def draw_transform(
    kind: str, n_atoms: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(Q, t, perm)`` of one of :data:`TRANSFORMS` (identity for the parts it leaves alone)."""
    if kind not in TRANSFORMS:
        raise ValueError(f"unknown transformation '{kind}' (expected one of: {', '.join(TRANSFORMS)})")
    g = _generator(generator)
    q, t, perm = torch.eye(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64), torch.arange(n_atoms)
    if kind == "rotation":
        q = random_rotation(g)
    elif kind == "reflection":
        q = random_reflection(g)
    elif kind == "translation":
        t = random_translation(g)
    elif kind == "permutation":
        perm = random_permutation(n_atoms, g)
    else:
        q, t, perm = random_reflection(g), random_translation(g), random_permutation(n_atoms, g)
    return q, t, perm


def _max_deviation(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual.double() - expected.double()).abs().max()) if actual.numel() else 0.0


ROUNDING_ULPS = 16
"""How many units in the last place of an output's dtype, at the output's magnitude, rounding
alone may move a symmetric output (summation order changes with a permutation, and so on)."""


def _eps(tensor) -> float:
    dtype = tensor.dtype
    return torch.finfo(dtype).eps if dtype.is_floating_point else 0.0


def assert_equivariant(
    fn: Callable[..., dict[str, torch.Tensor]],
    positions: torch.Tensor,
    numbers: torch.Tensor,
    cell: torch.Tensor | None = None,
    *,
    invariant: Iterable[str] = ("energy",),
    vectors: Iterable[str] = ("forces",),
    per_atom: Iterable[str] = (),
    tensors: Iterable[str] = (),
    transforms: Iterable[str] = TRANSFORMS,
    generator: torch.Generator | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> dict[str, dict[str, float]]:
    """Check ``fn`` under rotations, reflections, translations and permutations of the atoms.

    Args:
        fn: ``fn(positions (N, 3), numbers (N,), cell (3, 3) or None) -> {name: tensor}``.
        positions, numbers, cell: the reference structure (cell rows are lattice vectors).
        invariant: outputs that must not change (energies, any per-structure scalar).
        vectors: per-atom vectors ``(N, 3)`` (forces): rotate and follow the permutation.
        per_atom: per-atom scalars ``(N,)`` (atomic energies): follow the permutation.
        tensors: per-structure rank-2 tensors ``(..., 3, 3)`` (stress): :math:`Q \\sigma Q^T`.
        transforms: which of :data:`TRANSFORMS` to apply.
        generator: source of the random transformations.
        atol, rtol: tolerance on the largest deviation: ``atol + rtol * max|expected|`` for
            ``vectors`` and ``tensors``. An energy's zero is arbitrary (a DFT total energy, atomic
            reference energies), so a relative tolerance would let an offset of the energy hide a
            violation: ``invariant`` and ``per_atom`` outputs get ``atol`` plus only what rounding
            in their own dtype can move at their magnitude (:data:`ROUNDING_ULPS` units in the last
            place: 2e-3 for a float32 energy of -1000, 2e-12 for a float64 one).

    Returns:
        ``{transform: {output: largest absolute deviation}}``.

    Raises:
        AssertionError: ``"<output> is not <invariant|equivariant> under <transform>: max
        |difference| <d> > tolerance <tol>"``.
    """
    g = _generator(generator)
    positions = positions.detach().double()
    reference = fn(positions, numbers, None if cell is None else cell.double())
    report: dict[str, dict[str, float]] = {}
    for kind in transforms:
        q, t, perm = draw_transform(kind, positions.shape[0], g)
        moved_cell = None if cell is None else cell.double() @ q.T
        out = fn((positions @ q.T + t)[perm], numbers[perm], moved_cell)
        expected = {}
        for name in invariant:
            expected[name] = reference[name]
        for name in vectors:
            expected[name] = (reference[name].double() @ q.T)[perm]
        for name in per_atom:
            expected[name] = reference[name][perm]
        for name in tensors:
            expected[name] = q @ reference[name].double() @ q.T
        report[kind] = {}
        for name, want in expected.items():
            deviation = _max_deviation(out[name], want)
            symmetry = "invariant" if name in invariant or name in per_atom else "equivariant"
            magnitude = float(want.double().abs().max()) if want.numel() else 0.0
            if symmetry == "invariant":
                tolerance = atol + ROUNDING_ULPS * _eps(want) * magnitude
            else:
                tolerance = atol + rtol * magnitude
            report[kind][name] = deviation
            if not math.isfinite(deviation):
                where = "on the reference structure" if not torch.isfinite(want).all() else f"under {kind}"
                raise AssertionError(f"{name} is not finite {where}: NaN or infinity")
            if not deviation <= tolerance:
                raise AssertionError(
                    f"{name} is not {symmetry} under {kind}: max |difference| "
                    f"{deviation:.3g} > tolerance {tolerance:.3g}"
                )
    return report


def finite_difference_gradient(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, h: float = 1e-5
) -> torch.Tensor:
    """Central differences :math:`(f(x + h e_k) - f(x - h e_k)) / 2h` of a scalar ``fn`` for every
    component of ``x`` (float64). Error :math:`O(h^2)`; use a float64 ``fn``."""
    # zeros_like keeps the strides of a transposed x, which view(-1) cannot flatten; and the
    # writes through ``flat`` must reach ``grad``, so a copying reshape would not do
    x = x.detach().double().contiguous()
    grad = torch.zeros_like(x)
    flat = grad.view(-1)
    for k in range(x.numel()):
        step = torch.zeros_like(x).view(-1)
        step[k] = h
        step = step.view_as(x)
        flat[k] = (float(fn(x + step)) - float(fn(x - step))) / (2 * h)
    return grad


# --- strand symmetry (nucleic acids) ---------------------------------------------------------------
def assert_strand_symmetric(predict, sequences, complement, *, atol: float = 1e-6) -> None:
    """Assert ``predict(seqs) == predict(reverse_complement(seqs))`` elementwise.

    Args:
        predict: ``list of code arrays -> array [N]`` (e.g. a classifier's probabilities).
        sequences: residue-code arrays (``uint8``).
        complement: ``complement[code]`` is the code of the paired base (an array or a list).
        atol: absolute tolerance.

    A failure reads ``"not strand-symmetric: max |difference| <d> at sequence <i>"``; a NaN or an
    infinity, which compares with nothing, fails as ``"predictions are not finite: ..."``.
    """
    import numpy as np

    complement = np.asarray(complement)
    forward = np.asarray(predict(list(sequences)), dtype=float)
    backward = np.asarray(predict([complement[np.asarray(s)[::-1]] for s in sequences]), dtype=float)
    finite = np.isfinite(forward) & np.isfinite(backward)
    if not finite.all():
        i = int(np.argmin(finite))
        raise AssertionError(
            f"predictions are not finite: {forward[i]:.3g} for sequence {i}, {backward[i]:.3g} for its "
            "reverse complement"
        )
    diff = np.abs(forward - backward)
    if diff.size and diff.max() > atol:
        raise AssertionError(
            f"not strand-symmetric: max |difference| {diff.max():.3g} at sequence {int(diff.argmax())}"
        )


RC_ROUNDING_ULPS = 64
"""The default tolerance of :func:`assert_rc_equivariant`, in units in the last place of the hidden
states' dtype at their largest magnitude: rounding alone moved a float32 encoder of width 256 and 4
layers by about 4 of them, of width 512 and 8 layers by 5, and bfloat16 by 2; a real violation is
some 10^7 of them in float32 (180 in bfloat16)."""


def assert_rc_equivariant(
    encoder, input_ids, attention_mask, complement_ids, *, atol: float | None = None
) -> None:
    """Assert that ``encoder`` is reverse-complement equivariant on a right-padded batch: its hidden
    states on the reverse complement of each row equal the reverse complement (positions reversed
    within the row, channels reversed) of its hidden states on the row, at every real token.

    Args:
        encoder: ``(input_ids, attention_mask) -> [B, L, D]``, in eval mode.
        input_ids, attention_mask: ``[B, L]`` (``True`` = real token, real tokens first).
        complement_ids: ``[vocab]`` token id of each token's reverse complement.
        atol: absolute tolerance. By default it follows the dtype: :data:`RC_ROUNDING_ULPS` times
            the machine epsilon of the hidden states' dtype times their largest magnitude at a real
            token (2.8e-5 for float32 states reaching 3.6, 5e-14 for float64 ones). The two
            strands' passes round differently, and a fixed 1e-6 failed a truly equivariant float32
            encoder of width 256.

    A failure reads ``"not reverse-complement equivariant: max |difference| <d> at sequence <i>"``;
    a NaN or an infinity at a real token, which compares with nothing, fails as ``"hidden states are
    not finite: ..."``.
    """
    from .nn.strands import reverse_complement_hidden, reverse_complement_ids

    complement_ids = torch.as_tensor(complement_ids)
    with torch.no_grad():
        forward = encoder(input_ids, attention_mask)
        backward = encoder(reverse_complement_ids(input_ids, attention_mask, complement_ids), attention_mask)
    real = attention_mask.bool()[..., None]
    for states, which in ((forward, "sequence"), (backward, "reverse complement of sequence")):
        # padding may hold anything: only real tokens count
        broken = (~torch.isfinite(states) & real).flatten(1).any(1)
        if broken.any():
            raise AssertionError(
                f"hidden states are not finite: NaN or infinity at a real token of the {which} "
                f"{int(broken.float().argmax())}"
            )
    if atol is None:
        magnitude = float(torch.where(real, forward.abs(), 0).max()) if forward.numel() else 0.0
        atol = RC_ROUNDING_ULPS * _eps(forward) * magnitude
    diff = (reverse_complement_hidden(forward, attention_mask) - backward).abs()
    diff = torch.where(real, diff, 0).flatten(1).amax(1)
    if diff.numel() and float(diff.max()) > atol:
        raise AssertionError(
            f"not reverse-complement equivariant: max |difference| {float(diff.max()):.3g} > "
            f"tolerance {atol:.3g} at sequence {int(diff.argmax())}"
        )


def random_dna(n: int, seed: int, alphabet: str = "ACGT") -> str:
    """``n`` letters drawn uniformly from ``alphabet`` with numpy's generator seeded by ``seed``: a
    sequence with no structure for a model to learn, the same on every machine."""
    import numpy as np

    return "".join(np.random.default_rng(seed).choice(list(alphabet), n))


# --- tiny ESM folders in the Hugging Face format (sciPT.hf) ------------------------------------
def nucleotide_transformer_vocab() -> list[str]:
    """The vocabulary layout of the first Nucleotide Transformer models: six specials, the 4096
    6-mers over ``A T C G``, then the single nucleotides ``A T C G N`` (the fallback)."""
    import itertools

    specials = ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"]
    return specials + ["".join(w) for w in itertools.product("ATCG", repeat=6)] + list("ATCGN")


ESM2_VOCAB = (
    "<cls> <pad> <eos> <unk> L A G V S E R T I D P K Q N F Y M H W C X B U Z O . - <null_1> <mask>"
).split()
"""ESM-2's 33 tokens, in its order."""


def tiny_esm_folder(path, kind: str = "dna", seed: int = 0, **config):
    """Save a small random ``EsmForMaskedLM`` and its ``EsmTokenizer`` into ``path``; returns it.

    ``kind="dna"``: Nucleotide-Transformer-like (6-mer vocabulary with single-nucleotide fallback,
    learned absolute positions, ``<cls>`` only); ``kind="protein"``: ESM-2-like (rotary positions,
    token dropout, ``<cls>`` and ``<eos>``). Hidden size 32, 2 layers, 4 heads unless ``config``
    says otherwise (any ``EsmConfig`` field). Needs ``transformers``.
    """
    from pathlib import Path

    from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if kind == "dna":
        vocab = nucleotide_transformer_vocab()
        base = dict(position_embedding_type="absolute", max_position_embeddings=130, token_dropout=False)
        base.update(pad_token_id=1, mask_token_id=2, layer_norm_eps=1e-12)
        special = {"eos_token": None}
    elif kind == "protein":
        vocab = list(ESM2_VOCAB)
        base = dict(position_embedding_type="rotary", max_position_embeddings=1026, token_dropout=True)
        base.update(pad_token_id=1, mask_token_id=32, layer_norm_eps=1e-5)
        special = {}
    else:
        raise ValueError(f"kind: expected 'dna' or 'protein', got {kind!r}")
    (path / "vocab.txt").write_text("\n".join(vocab))
    shape = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    shape.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, emb_layer_norm_before=False)
    cfg = EsmConfig(vocab_size=len(vocab), **{**base, **shape, **config})
    torch.manual_seed(seed)
    model = EsmForMaskedLM(cfg)
    with torch.no_grad():  # transformers' init leaves the biases and norms plain: make them count
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(path)
    EsmTokenizer(str(path / "vocab.txt"), **special).save_pretrained(path)
    return path


def fake_distribution(folder, name: str, modules: dict[str, str], entry_points: str) -> list:
    """The entry points of a plugin distribution ``name`` (version 0.1) made in ``folder``, as
    :mod:`importlib.metadata` reads them, without installing it: each of ``modules`` (module name
    -> source) is written there beside a dist-info whose ``entry_points.txt`` is ``entry_points``
    (``[group]`` lines and ``name = module:attribute`` lines). Put ``folder`` on ``sys.path``
    (``monkeypatch.syspath_prepend``) before the entry points are loaded."""
    from importlib.metadata import PathDistribution
    from pathlib import Path

    folder = Path(folder)
    for module, source in modules.items():
        (folder / f"{module}.py").write_text(source)
    info = folder / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    return list(PathDistribution(info).entry_points)


def modules_loaded_by(module: str, watched: Iterable[str]) -> list[str]:
    """Which of ``watched`` (module names) a fresh interpreter holds after ``import module``,
    sorted: how a test says that model code loads without the trainer or Lightning."""
    import subprocess
    import sys

    code = f"import sys, {module}; print('\\n'.join(m for m in {sorted(watched)!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def terminate_when(
    command: list[str], ready: Callable[[], bool], *, env=None, wait: float = 120.0, signum: int | None = None
):
    """Start ``command``, send it SIGTERM (or ``signum``: SIGINT is Ctrl-C) once ``ready()`` holds
    (a batch system's time limit arriving mid-run), and return ``(returncode, stderr)``; fails if the
    command ends first or ``ready`` does not hold within ``wait`` seconds, and never leaves the
    process behind."""
    import signal
    import subprocess
    import time

    signum = signal.SIGTERM if signum is None else signum

    def default_handlers():  # a shell's background job starts with Ctrl-C ignored; a terminal's does not
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=default_handlers,
    )
    try:
        deadline = time.time() + wait
        while not ready():
            assert process.poll() is None, process.communicate()
            assert time.time() < deadline, f"not ready in {wait:g} s"
            time.sleep(0.1)
        process.send_signal(signum)
        _, err = process.communicate(timeout=wait)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, err


def run_session(command: list[str], *, env=None, timeout: float, cwd=None):
    """``subprocess.run(command, capture_output=True, text=True)`` for a command that starts
    processes of its own (Lightning's rank launcher, torchrun, a script spawning ranks): it runs in a
    session of its own, and on a timeout every process of that session is killed and an
    ``AssertionError`` names the timeout. Killing only the command, as ``subprocess.run`` does, leaves
    its ranks holding the output pipes, and the caller waits until they end (gloo waits 30 minutes
    for a rank that is gone)."""
    import subprocess

    process = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_session(process)
        out, err = process.communicate()
        raise AssertionError(
            f"{command[0]} still running after {timeout:g} s (hung?); its session was killed; "
            f"stderr:\n{err[-3000:]}"
        ) from None
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def kill_session(process) -> None:
    """SIGKILL every process of the session that ``process`` (a ``subprocess.Popen`` started with
    ``start_new_session=True``) leads; nothing if it has ended."""
    import os
    import signal

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
