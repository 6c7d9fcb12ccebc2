"""The molecules domain: E(3)-equivariant interatomic potentials pre-trained on DFT frames.

Registered through the ``sciPT.domains`` entry point ``molecules`` like any third-party plugin.
``scipt pretrain molecules --data FRAMES.xyz`` trains :class:`.model.EquivariantPotential` on
energies and forces (or, with ``--objective.kind denoise``, on unlabelled structures); the exported
model holds its element table and reference energies in ``model/config.json``.

Modules: :mod:`.data` (reading, SMILES conformers, graphs), :mod:`.dataset` (preparation and
sampling), :mod:`.model` (the potential; layers in :mod:`.radial`, :mod:`.tensor_product`,
:mod:`.linear`, :mod:`.interaction`), :mod:`.objectives`, :mod:`.presets`; :mod:`.ewc` (the EWC
Fisher stored with the export), :mod:`.calculator` (the ASE calculator), :mod:`.md` (``scipt md``).
"""

from __future__ import annotations

from sciPT.config import from_dict, to_dict
from sciPT.data import StepDataModule
from sciPT.registry import Domain, PretrainSetup

from .dataset import FrameDataset, collate, prepare
from .ewc import fisher_hook, validate as validate_fisher
from .model import EquivariantPotential, PotentialConfig, validate_architecture
from .objectives import build_objective
from .presets import PRESETS, MoleculesConfig

__all__ = ["MoleculesDomain", "MoleculesConfig", "EquivariantPotential", "PotentialConfig", "domain"]


class MoleculesDomain(Domain):
    name = "molecules"
    summary = "E(3)-equivariant interatomic potentials (NequIP family) on DFT energies and forces"
    config_class = MoleculesConfig

    def presets(self):
        return PRESETS

    def flag_aliases(self):
        return {"data": "data.paths"}

    def build_pretraining(self, cfg: MoleculesConfig) -> PretrainSetup:
        # architecture and objective first: a typo must not wait for the data to be read
        validate_architecture(cfg.model)
        validate_fisher(cfg.fisher)
        objective = build_objective(cfg.objective)
        prepared = prepare(cfg.data, cfg.model, labelled=cfg.objective.kind == "energy_forces",
                           seed=cfg.train.seed)
        backbone = EquivariantPotential(prepared.model)
        train = FrameDataset(prepared.train, seed=cfg.train.seed)
        val = FrameDataset(prepared.val, shuffle=False) if prepared.val else None
        report = prepared.report()
        return PretrainSetup(
            backbone=backbone, objective=objective,
            datamodule=StepDataModule(train, val, collate, cfg.train),
            export_config=self.export_config(prepared.model,
                                             references=prepared.references_method),
            corpus=prepared.corpus, report=report, embed=backbone.embed,
            export_extras=fisher_hook(prepared.train, cfg.fisher, cfg.objective, cfg.train.seed),
        )

    def export_config_from(self, cfg: MoleculesConfig) -> dict:
        """The export config of a pre-training run from its resolved ``config.yaml``: the first
        half of :meth:`export_from`."""
        return self.export_from(cfg)[0]

    def export_from(self, cfg: MoleculesConfig):
        """What ``scipt export RUN`` writes beside a run's checkpoint weights (for example of a run
        stopped before its end), from the run's resolved ``config.yaml``: ``(export config, EWC
        Fisher hook)``, the hook ``None`` where the run computed no Fisher (``fisher.frames = 0``).

        The data-derived fields of the model (element table, reference energies, energy shift and
        scale, average neighbours) are not in ``config.yaml``: they are recomputed from the run's
        data files and seed, exactly as pre-training computed them, so the files must be the ones
        the run trained on (``config.yaml`` records their SHA-256 under ``corpus``). The Fisher
        hook uses the same frames and seed as :meth:`build_pretraining`'s, so the same weights get
        the same Fisher.
        """
        validate_architecture(cfg.model)
        validate_fisher(cfg.fisher)
        prepared = prepare(cfg.data, cfg.model, labelled=cfg.objective.kind == "energy_forces",
                           seed=cfg.train.seed)
        return (self.export_config(prepared.model, references=prepared.references_method),
                fisher_hook(prepared.train, cfg.fisher, cfg.objective, cfg.train.seed))

    def export_config(self, model: PotentialConfig, **extra) -> dict:
        """``model/config.json`` content besides provenance (units are always eV and Angstrom)."""
        return {"domain": self.name, "model": to_dict(model),
                "units": {"energy": "eV", "length": "Angstrom"}, **extra}

    def load_backbone(self, export_config: dict) -> EquivariantPotential:
        return EquivariantPotential(
            from_dict(PotentialConfig, export_config["model"], "config.json: model"))


domain = MoleculesDomain()
