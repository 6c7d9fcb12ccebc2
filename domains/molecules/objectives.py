"""Pre-training objectives of the potential, and the error metrics of energies and forces.

Energy + forces (+ stress), for labelled frames. For a batch of :math:`G` frames with
:math:`N_g` atoms each,

.. math::

    \\mathcal{L} = w_E \\frac{1}{G} \\sum_g \\Big(\\frac{\\hat E_g - E_g}{N_g}\\Big)^2
                 + w_F \\frac{1}{3 N} \\sum_{i, \\alpha} (\\hat F_{i\\alpha} - F_{i\\alpha})^2
                 + w_S \\frac{1}{9 G_S} \\sum_{g \\in S} \\| \\hat\\sigma_g - \\sigma_g \\|^2,

in eV and Angstrom: a per-atom energy MSE (so large and small structures weigh alike), a force
component MSE over the :math:`N` atoms of the frames of the batch that carry forces, and a stress MSE
over the :math:`G_S` frames that carry a stress. A frame without forces (an energy-only single point
beside AIMD frames, :mod:`.data`) adds its energy and stress terms only, as a frame without a stress
adds no stress term; a batch of such frames has no force term and computes no forces. Forces come
from the energy by autograd, so the force term trains through a double backward.

Coordinate denoising, for unlabelled structures (SMILES conformers, MD snapshots without DFT):
atoms are displaced by :math:`\\sigma \\epsilon`, :math:`\\epsilon \\sim \\mathcal{N}(0, 1)` centred per
frame, and the model's forces in units of its force scale :math:`s` are trained to point back,
:math:`\\mathcal{L} = \\frac{1}{3N} \\| \\hat F(x + \\sigma\\epsilon) / s + \\epsilon \\|^2`: the
denoising pre-training of Zaidi et al., "Pre-training via denoising for molecular property
prediction" (ICLR 2023), whose target is the score of the noised structure distribution and so a
force field of a smoothed potential. The noise is centred because the model's forces sum to zero
(translation invariance): an uncentred target would leave an error no model can remove. Edges are
those of the clean structure; with :math:`\\sigma` well below the cut-off that changes only pairs at
the cut-off, where the envelope is already zero.

Metrics, in meV: energy MAE and RMSE per atom and per frame; force MAE and RMSE over the Cartesian
components of the atoms of the frames that carry forces (meV/Angstrom), also per element in
:class:`ErrorAccumulator`, which also gives stress MAE and RMSE over Voigt components (eV/Angstrom^3)
of the frames that carry a stress (as does :class:`EnergyForceLoss` when it fits stresses, so
validation logs them). Each objective's ``metric_counts(batch)`` gives the number of
values each of a batch's metrics is a mean over (frames, force components, stress entries), which
validation weighs them by across batches and ranks (:class:`sciPT.module.ValidationMeans`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Literal

import torch
from ase.data import chemical_symbols
from torch import nn

from sciPT.errors import ConfigError

VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])  # rows and columns of xx, yy, zz, yz, xz, xy


@dataclass
class ObjectiveConfig:
    """``kind``: ``energy_forces`` (labelled frames) or ``denoise`` (unlabelled structures).

    ``energy_weight``, ``forces_weight``, ``stress_weight``: :math:`w_E, w_F, w_S` (see the module
    docstring; eV units). The default weighs energies as much as forces (NequIP's choice). On the
    shipped ethanol + methanol frames, 1,500 steps of the ``tiny`` model (batch 8, lr 5e-3, seed 0,
    validation frames), run twice with different initialisations, gave energy MAEs of 5.5 and 6.6
    meV/atom with weights 2 : 1 against 23 and 8.5 meV/atom with 1 : 10, at force RMSEs of 160 and
    169 against 152 and 167 meV/A: forces barely pay for much better energies.
    ``noise_std``: :math:`\\sigma` of the denoising noise, Angstrom.

    Attributes:
        kind: ``energy_forces`` (fit the labelled energies, forces and stresses) or ``denoise``
            (unlabelled structures: the forces learn to undo random displacements).
        energy_weight: :math:`w_E`, weight of the MSE of the energies per atom (in eV/atom).
        forces_weight: :math:`w_F`, weight of the MSE of the force components (in eV/Angstrom).
        stress_weight: :math:`w_S`, weight of the MSE of the stresses (in eV/Angstrom^3), over the
            frames that have one (0: stresses are not fitted).
        noise_std: ``denoise``: standard deviation of the Gaussian displacement of each
            coordinate, Angstrom.
    """

    kind: Literal["energy_forces", "denoise"] = "energy_forces"
    energy_weight: float = 1.0
    forces_weight: float = 1.0
    stress_weight: float = 0.0
    noise_std: float = 0.05


def validate(cfg: ObjectiveConfig) -> None:
    for key in ("energy_weight", "forces_weight", "stress_weight"):
        if getattr(cfg, key) < 0:
            raise ConfigError(f"objective.{key}: expected a weight >= 0, got {getattr(cfg, key)}")
    if cfg.kind == "energy_forces" and cfg.energy_weight == cfg.forces_weight == cfg.stress_weight == 0:
        raise ConfigError("objective: every loss weight is zero")
    if cfg.noise_std <= 0:
        raise ConfigError(f"objective.noise_std: expected a positive length, got {cfg.noise_std}")


def _natoms(batch) -> torch.Tensor:
    return batch.natoms.reshape(-1)


def force_frames(batch) -> torch.Tensor:
    """``(G,)`` bool: the frames that carry forces (``has_forces``, :func:`.graphs.frame_to_graph`;
    a graph made without that flag has forces when it has a ``forces`` field)."""
    if "has_forces" in batch:
        return batch.has_forces.reshape(-1)
    return torch.full((_natoms(batch).numel(),), "forces" in batch, device=batch.z.device)


def force_atoms(batch) -> torch.Tensor:
    """``(N,)`` bool: the atoms of the frames that carry forces (:func:`force_frames`)."""
    graph = getattr(batch, "batch", None)
    if graph is None:
        graph = torch.zeros(batch.z.shape[0], dtype=torch.long, device=batch.z.device)
    return force_frames(batch)[graph]


def _forces(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # indexing copies: skipped in the usual batch where every frame has forces
    return values if bool(mask.all()) else values[mask]


def error_counts(batch) -> dict[str, int]:
    """The number of values each metric of :func:`error_metrics` averages in ``batch``: its frames
    for the energies, the Cartesian force components of the atoms of its frames with forces (0 when
    none has forces: the batch has no force metrics)."""
    frames = int(_natoms(batch).numel())
    components = 3 * int(force_atoms(batch).sum())
    return {
        "energy_mae_meV_per_atom": frames,
        "energy_rmse_meV_per_atom": frames,
        "energy_mae_meV": frames,
        "energy_rmse_meV": frames,
        "forces_mae_meV_per_A": components,
        "forces_rmse_meV_per_A": components,
    }


def error_metrics(pred: dict[str, torch.Tensor], batch) -> dict[str, torch.Tensor]:
    """Energy (per atom and per frame, meV) and force (meV/Angstrom) MAE and RMSE of one batch."""
    metrics = {}
    if "energy" in batch:
        err = (pred["energy"].detach() - batch.energy.reshape(-1)) * 1000.0
        per_atom = err / _natoms(batch)
        metrics.update(
            {
                "energy_mae_meV_per_atom": per_atom.abs().mean(),
                "energy_rmse_meV_per_atom": per_atom.pow(2).mean().sqrt(),
                "energy_mae_meV": err.abs().mean(),
                "energy_rmse_meV": err.pow(2).mean().sqrt(),
            }
        )
    mask = force_atoms(batch)
    if "forces" in pred and bool(mask.any()):
        err = (_forces(pred["forces"].detach().double(), mask) - _forces(batch.forces, mask)) * 1000.0
        metrics["forces_mae_meV_per_A"] = err.abs().mean()
        metrics["forces_rmse_meV_per_A"] = err.pow(2).mean().sqrt()
    return metrics


class EnergyForceLoss(nn.Module):
    """Weighted per-atom energy, force and stress MSE (module docstring), with error metrics;
    a quantity the data does not have (``data.forces_key: null``) drops out of the loss, and the
    force and stress terms count only the frames that carry them.

    Args:
        cfg: weights.

    Shapes:
        ``batch.energy`` (G,), ``batch.forces`` (N, 3) with ``batch.has_forces`` (G,),
        ``batch.stress`` (G, 3, 3) with ``batch.has_stress`` (G,) -> scalar loss.
    """

    def __init__(self, cfg: ObjectiveConfig):
        super().__init__()
        self.cfg = cfg

    def forward(self, backbone: nn.Module, batch, generator: torch.Generator | None = None):
        cfg = self.cfg
        want_stress = cfg.stress_weight > 0 and bool(batch.has_stress.any())
        mask = force_atoms(batch)
        want_forces = bool(mask.any())
        pred = backbone(batch, forces=want_forces, stress=want_stress)
        terms = {}
        if cfg.energy_weight > 0 and "energy" in batch:
            per_atom = (pred["energy"] - batch.energy.reshape(-1)) / _natoms(batch)
            terms["energy"] = cfg.energy_weight * per_atom.pow(2).mean()
        if cfg.forces_weight > 0 and want_forces:
            error = _forces(pred["forces"], mask) - _forces(batch.forces, mask).to(pred["forces"].dtype)
            terms["forces"] = cfg.forces_weight * error.pow(2).mean()
        if want_stress and "stress" in pred:
            framed = batch.has_stress.reshape(-1)
            diff = pred["stress"][framed] - batch.stress.reshape(-1, 3, 3)[framed].to(pred["stress"].dtype)
            terms["stress"] = cfg.stress_weight * diff.pow(2).mean()
            voigt = diff.detach()[:, VOIGT[0], VOIGT[1]].double()
            stress_metrics = {
                "stress_mae_eV_per_A3": voigt.abs().mean(),
                "stress_rmse_eV_per_A3": voigt.pow(2).mean().sqrt(),
            }
        # a batch whose frames lack every weighted label (energy weight 0, no forces among them)
        # still returns a loss the optimizer can step on: zero, with zero gradients
        loss = sum(terms.values()) if terms else 0.0 * pred["energy"].sum()
        metrics = {f"loss_{k}": v.detach() for k, v in terms.items()}
        metrics.update(error_metrics(pred, batch))
        if "stress" in terms:
            metrics.update(stress_metrics)
        return loss, metrics

    def metric_counts(self, batch) -> dict[str, int]:
        """The number of values each metric of ``forward`` averages in ``batch``
        (:mod:`sciPT.module`): the loss terms' frames, force components and stress entries (9 per
        frame with a stress; the stress errors, 6 Voigt components), and :func:`error_counts`."""
        counts = error_counts(batch)
        stressed = int(batch.has_stress.sum()) if "has_stress" in batch else 0
        return {
            "loss_energy": counts["energy_mae_meV"],
            "loss_forces": counts["forces_mae_meV_per_A"],
            "loss_stress": 9 * stressed,
            "stress_mae_eV_per_A3": 6 * stressed,
            "stress_rmse_eV_per_A3": 6 * stressed,
            **counts,
        }


def unfitted_stress(stress_key: str | None, cfg: ObjectiveConfig) -> str | None:
    """The warning for stresses read but not fitted, or ``None``: a ``--data.stress-key`` with the
    stress weight at 0 reads every periodic frame's stress and refuses a frame without one, and
    fits none (said before the data are read, by whoever holds both settings)."""
    if not stress_key or cfg.kind != "energy_forces" or cfg.stress_weight > 0:
        return None
    return (
        f"warning: stresses are read (--data.stress-key {stress_key}) and required of every periodic "
        "frame, but not fitted: --objective.stress-weight is 0 (a weight > 0 fits them)"
    )


class DenoisingLoss(nn.Module):
    """Coordinate denoising through the model's forces (module docstring).

    Args:
        noise_std: :math:`\\sigma`, Angstrom.

    Shapes:
        ``batch.pos`` (N, 3), ``batch.batch`` (N,) (absent for one frame), ``batch.natoms``
        (G,); noise and forces (N, 3) -> scalar loss.
    """

    def __init__(self, noise_std: float):
        super().__init__()
        self.noise_std = noise_std

    def forward(self, backbone: nn.Module, batch, generator: torch.Generator | None = None):
        pos = batch.pos
        # noise drawn on the CPU, where the (reproducible) validation generator lives
        eps = torch.randn(pos.shape, generator=generator, dtype=torch.float64)
        graph = (
            batch.batch.cpu()
            if getattr(batch, "batch", None) is not None
            else torch.zeros(pos.shape[0], dtype=torch.long)
        )
        natoms = _natoms(batch).cpu().double()
        mean = torch.zeros(len(natoms), 3, dtype=torch.float64).index_add(0, graph, eps)
        eps = (eps - (mean / natoms[:, None])[graph]).to(device=pos.device)
        noisy = copy.copy(batch)
        noisy.pos = pos + self.noise_std * eps.to(pos.dtype)
        forces = backbone(noisy, forces=True)["forces"]
        scaled = forces / backbone.energy_scale
        loss = (scaled + eps.to(scaled)).pow(2).mean()
        return loss, {"denoise_rmse": loss.detach().sqrt()}

    def metric_counts(self, batch) -> dict[str, int]:
        """The loss and ``denoise_rmse`` are over every coordinate of ``batch`` (:mod:`sciPT.module`)."""
        components = 3 * int(batch.pos.shape[0])
        return {"loss": components, "denoise_rmse": components}


class ErrorAccumulator:
    """Exact MAE and RMSE over many batches (sums of absolute and squared errors), per element too.

    ``update(pred, batch)`` after each forward; ``compute()`` returns the metrics of
    :func:`error_metrics` over everything seen, plus ``forces_mae_meV_per_A_<El>`` and
    ``forces_rmse_meV_per_A_<El>`` per element (forces over the atoms of the frames that carry them,
    ``has_forces``; :attr:`frames_with_forces` and :attr:`frames` count those frames and all) and,
    when ``pred`` holds a stress and frames of the batch carry one (``has_stress``),
    ``stress_mae_eV_per_A3`` and ``stress_rmse_eV_per_A3`` over their 6 Voigt components (``xx,
    yy, zz, yz, xz, xy``, eV/Angstrom^3, ASE's sign convention); :attr:`frames_with_stress` counts
    those frames.
    """

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.frames = 0
        self.frames_with_forces = 0
        self.frames_with_stress = 0

    def _add(self, name: str, errors: torch.Tensor) -> None:
        errors = errors.detach().double().reshape(-1)
        for kind, value in (("abs", errors.abs().sum()), ("sq", errors.pow(2).sum())):
            self.sums[f"{name}:{kind}"] = self.sums.get(f"{name}:{kind}", 0.0) + float(value)
        self.counts[name] = self.counts.get(name, 0) + errors.numel()

    def update(self, pred: dict[str, torch.Tensor], batch) -> None:
        self.frames += int(_natoms(batch).numel())
        if "energy" in batch:
            err = (pred["energy"].detach().cpu() - batch.energy.reshape(-1).cpu()) * 1000.0
            self._add("energy_meV", err)
            self._add("energy_meV_per_atom", err / _natoms(batch).cpu())
        mask = force_atoms(batch).cpu()
        if "forces" in pred and bool(mask.any()):
            err = (pred["forces"].detach().cpu().double()[mask] - batch.forces.cpu()[mask]) * 1000.0
            self._add("forces_meV_per_A", err)
            z = batch.z.cpu()[mask]
            for number in torch.unique(z).tolist():
                self._add(f"forces_meV_per_A_{chemical_symbols[number]}", err[z == number])
            self.frames_with_forces += int(force_frames(batch).sum())
        if "stress" in pred and "has_stress" in batch and bool(batch.has_stress.any()):
            mask = batch.has_stress.reshape(-1).cpu()
            err = pred["stress"].detach().cpu().double()[mask] - batch.stress.reshape(-1, 3, 3).cpu()[mask]
            # the 6 Voigt components the ASE calculator reports, so shear is not counted twice
            self._add("stress_eV_per_A3", err[:, VOIGT[0], VOIGT[1]])
            self.frames_with_stress += int(mask.sum())

    def compute(self) -> dict[str, float]:
        out = {}
        for name, n in self.counts.items():
            mae, rmse = self.sums[f"{name}:abs"] / n, math.sqrt(self.sums[f"{name}:sq"] / n)
            quantity, _, unit = name.partition("_")
            out[f"{quantity}_mae_{unit}"] = mae
            out[f"{quantity}_rmse_{unit}"] = rmse
        return out


def build_objective(cfg: ObjectiveConfig) -> nn.Module:
    validate(cfg)
    if cfg.kind == "denoise":
        return DenoisingLoss(cfg.noise_std)
    return EnergyForceLoss(cfg)
