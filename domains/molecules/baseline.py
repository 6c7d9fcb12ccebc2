"""The reference-only predictor and its validation loss: what pre-training must beat.

A potential's energy is :math:`E = \\sum_i (E^{ref}_{Z_i} + \\mu + \\sigma \\varepsilon(h_i))`
(:mod:`.model`). Its *reference-only* part, the per-element reference energies :math:`E^{ref}_Z`
(isolated atoms or a least-squares fit to the training energies, :mod:`.references`) plus the
per-atom shift :math:`\\mu` measured on the training frames (:mod:`.dataset`), is fixed before
training; what training adds is :math:`\\sigma \\varepsilon`. :class:`ReferenceOnlyPotential`
predicts with that part alone:

.. math::

    \\hat E_g = \\sum_{i \\in g} (E^{ref}_{Z_i} + \\mu), \\qquad \\hat F = 0, \\qquad \\hat\\sigma = 0,

which is also the best any per-element constant can do on a composition the references were fitted
on (least squares), with no knowledge of the geometry. :func:`reference_only_val_loss` scores it
with the run's own objective (so its weights, its per-atom normalisation of the energy term, its
force and stress terms, or the denoising loss with the validation's own noise) on the exact
validation batches the run validates on, combined across batches as validation combines them
(:class:`sciPT.module.ValidationMeans`). For energy + forces that is

.. math::

    \\mathcal{L}_{ref} = \\frac{\\sum_b G_b \\mathcal{L}_b}{\\sum_b G_b}, \\quad
    \\mathcal{L}_b = w_E \\frac{1}{G_b} \\sum_{g \\in b}
        \\Big(\\frac{E_g - \\sum_{i \\in g} (E^{ref}_{Z_i} + \\mu)}{N_g}\\Big)^2
      + w_F \\frac{1}{3 N_b} \\sum_{i \\in b, \\alpha} F_{i\\alpha}^2
      + w_S \\frac{1}{9 G_{S,b}} \\sum_{g \\in b \\cap S} \\|\\sigma_g\\|^2,

over the ``val_batches`` batches of ``batch_size`` frames of every process (the validation frames
cycled in order when there are fewer), :math:`G_b` frames in batch :math:`b`. A validation loss
that is not below it means the network has learnt nothing the per-element reference energies did
not already give (the pre-training report says so).

Not for denoising (``objective.kind: denoise``): energies play no part there, and zero forces
score the mean square of the centred noise, about :math:`1 - 1/N` per component, which an untrained
network's small random forces already lower by chance (0.2 % at a learning rate of 1e-12): the
comparison would call such a run trained. The domain computes none for it.

The validation frames of a streamed corpus's shards (:mod:`.streaming`, no ``data.val_paths``) are
each rank's own and read only once the ranks are known: no reference-only loss is computed for them.
"""

from __future__ import annotations

import types

import torch
from torch import nn

from .model import element_table, species_index
from .potential_config import PotentialConfig

# what the pre-training report and the loss figure call it (sciPT.pretrain, ``loss_baseline``)
REPORT_KEY = "reference_only_val_loss"
LABEL = "reference-only loss (per-element reference energies, zero forces)"
MEANING = "per-element reference energies"
LEGEND = "reference energies only"


class ReferenceOnlyPotential(nn.Module):
    """The potential without its learned part (module docstring): energies
    :math:`\\sum_i (E^{ref}_{Z_i} + \\mu)`, zero forces and stresses, called as
    :class:`.model.EquivariantPotential` is.

    Args:
        cfg: the model config whose elements, reference energies and energy shift (and scale, which
            the denoising loss divides forces by) the trained potential starts from.
    """

    def __init__(self, cfg: PotentialConfig):
        super().__init__()
        refs = list(cfg.reference_energies) or [0.0] * len(cfg.elements)
        self.elements = list(cfg.elements)
        self.register_buffer("z_to_index", element_table(cfg.elements), persistent=False)
        self.register_buffer("reference_energies", torch.tensor(refs, dtype=torch.float64))
        self.register_buffer("energy_shift", torch.tensor(float(cfg.energy_shift), dtype=torch.float64))
        self.register_buffer("energy_scale", torch.tensor(float(cfg.energy_scale), dtype=torch.float64))

    def forward(self, data, *, forces: bool = True, stress: bool = False, **_) -> dict[str, torch.Tensor]:
        z = data.z
        n_atoms = z.shape[0]
        graph = getattr(data, "batch", None)
        if graph is None:
            graph = torch.zeros(n_atoms, dtype=torch.long, device=z.device)
        n_graphs = int(data.num_graphs) if hasattr(data, "num_graphs") else 1
        atomic = self.reference_energies[species_index(self.z_to_index, z, self.elements)] + self.energy_shift
        energy = torch.zeros(n_graphs, dtype=torch.float64, device=z.device).index_add(0, graph, atomic)
        out = {"energy": energy, "atomic_energies": atomic}
        if forces:
            out["forces"] = torch.zeros(n_atoms, 3, dtype=torch.float64, device=z.device)
        if stress:
            out["stress"] = torch.zeros(n_graphs, 3, 3, dtype=torch.float64, device=z.device)
        return out


def validation_processes(train) -> int:
    """The processes that validate (``train.devices`` per node times ``train.num_nodes``), as
    Lightning resolves them: ``auto`` or ``-1`` is every GPU when the run uses CUDA, else one."""
    devices = str(train.devices)
    if devices.isdigit():
        per_node = int(devices)
    elif train.accelerator != "cpu" and torch.cuda.is_available():
        per_node = torch.cuda.device_count()
    else:
        per_node = 1
    return max(per_node, 1) * max(int(train.num_nodes), 1)


def reference_only_val_loss(
    val_set, objective: nn.Module, model: PotentialConfig, train, collate
) -> float | None:
    """The validation loss of :class:`ReferenceOnlyPotential` (module docstring): ``objective``
    on the batches :class:`sciPT.data.StepDataModule` validates on (``train.val_batches`` of
    ``train.batch_size`` samples of ``val_set`` per process, :func:`validation_processes`), with the
    noise generators validation draws from, weighted across batches as validation weighs them.
    ``None`` without a validation set, or for one held out of streamed shards (``RankSharded``)."""
    from sciPT.data import StepBatchSampler
    from sciPT.module import PretrainModule, ValidationMeans, examples, metric_counts
    from sciPT.streaming import RankSharded

    if val_set is None or isinstance(val_set, RankSharded) or len(val_set) == 0:
        return None
    if train.val_batches < 1 or train.batch_size < 1:
        return None
    baseline = ReferenceOnlyPotential(model)
    means = ValidationMeans()
    world = validation_processes(train)
    with torch.no_grad():
        for rank in range(world):
            # the generator of validation batch b on this rank (PretrainModule.validation_step)
            module = types.SimpleNamespace(train_cfg=train, global_rank=rank)
            sampler = StepBatchSampler(train.batch_size, train.val_batches, rank, world)
            for b, indices in enumerate(sampler):
                batch = collate([val_set[g] for g in indices])
                generator = PretrainModule._generator(module, 1, b)
                loss, _ = objective(baseline, batch, generator=generator)
                means.add({"loss": loss}, metric_counts(objective, batch), examples(batch))
    if not means.counts.get("loss"):
        return None
    return means.sums["loss"] / means.counts["loss"]


def loss_baseline() -> dict:
    """The ``loss_baseline`` entry of the pre-training report (:mod:`sciPT.pretrain`): which of its
    numbers the validation loss is compared with, drawn as, and what not beating it means."""
    return {"key": REPORT_KEY, "label": LABEL, "meaning": MEANING, "legend": LEGEND}
