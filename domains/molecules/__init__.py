"""The molecules domain: E(3)-equivariant interatomic potentials pre-trained on DFT frames.

Registered through the ``sciPT.domains`` entry point ``molecules`` like any third-party plugin.
``scipt pretrain molecules --data FRAMES.xyz`` trains :class:`.model.EquivariantPotential` on
energies and forces (or, with ``--objective.kind denoise``, on unlabelled structures); the exported
model holds its element table and reference energies in ``model/config.json``.

Modules: :mod:`.data` (reading; :mod:`.xyz` says where a structure file is malformed, :mod:`.smiles`
makes conformers of SMILES), :mod:`.graphs` (radius graphs),
:mod:`.references` (element table, reference energies), :mod:`.dataset` (preparation and sampling),
:mod:`.model` (the potential; its config in :mod:`.potential_config`, layers in :mod:`.heads`,
:mod:`.radial`, :mod:`.tensor_product`, :mod:`.linear`, :mod:`.interaction`), :mod:`.objectives`,
:mod:`.presets`, :mod:`.baseline` (the reference-only validation loss a run must beat);
:mod:`.ewc` (the EWC Fisher stored with the export; its config in :mod:`.fisher_config`),
:mod:`.calculator` (the ASE calculator), :mod:`.md` (``scipt md``), :mod:`.evaluate`
(``scipt evaluate RUN --data FRAMES.xyz``: energy, force and stress errors, parity plots;
``scipt predict RUN --input FRAMES --output OUT.xyz``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sciPT.config import from_dict, to_dict
from sciPT.files import resolve_data_path
from sciPT.registry import Domain, PretrainSetup
from sciPT.run import say

from .data import ETHANOL_ISOLATED, head_name, streams
from .fisher_config import validate as validate_fisher
from .objectives import build_objective, unfitted_stress
from .potential_config import PotentialConfig, check_precision, validate_architecture
from .presets import PRESETS, MoleculesConfig

if TYPE_CHECKING:
    from .model import EquivariantPotential

__all__ = ["MoleculesDomain", "MoleculesConfig", "EquivariantPotential", "PotentialConfig", "domain"]


def __getattr__(name: str):
    # the network (e3nn) and the graphs (torch-geometric) load when a run is built: the options,
    # presets and checks answer without them
    if name == "EquivariantPotential":
        from .model import EquivariantPotential

        return EquivariantPotential
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def drop_preset_isolated_atoms(data) -> None:
    """Forget the presets' isolated atoms (the shipped ethanol ones) when ``--data`` replaced the
    shipped ethanol frames: they are energies of that level of theory, read with the user's keys
    and units, so they would be refused (other keys) or silently wrong (other units, another level).
    The references then come as ``data.references`` says from the user's own data. A file named
    explicitly by another spelling of its path (absolute, say) is kept."""
    if data.isolated_atoms != ETHANOL_ISOLATED or not data.paths:
        return
    shipped = resolve_data_path(ETHANOL_ISOLATED).resolve().parent
    if all(resolve_data_path(p).resolve().parent == shipped for p in [*data.paths, *data.val_paths]):
        return
    data.isolated_atoms = None
    say(
        f"data.isolated_atoms: the preset's {ETHANOL_ISOLATED} belongs to the shipped ethanol frames, "
        "not to --data; not used (name a file of your own level of theory to use isolated atoms)"
    )


class MoleculesDomain(Domain):
    name = "molecules"
    summary = "E(3)-equivariant interatomic potentials (NequIP family) on DFT energies and forces"
    config_class = MoleculesConfig
    corpus_words = {"records": "frames", "residues": "atoms"}
    # energy and force errors (or the denoising error), squared and weighted: not nats
    loss_label = "loss (weighted mean squared error)"

    def presets(self):
        return PRESETS

    def flag_aliases(self):
        return {"data": "data.paths", "teacher": "distill.teacher", "smiles": "distill.smiles"}

    def build_pretraining(self, cfg: MoleculesConfig) -> PretrainSetup:
        # architecture and objective first: a typo must not wait for the data to be read, nor for
        # the network's and the graphs' libraries (seconds of imports) to load
        validate_architecture(cfg.model)
        check_precision(cfg.train.precision)
        validate_fisher(cfg.fisher)
        objective = build_objective(cfg.objective)

        from .baseline import REPORT_KEY, loss_baseline, reference_only_val_loss
        from .dataset import collate, prepare
        from .evaluate import reading

        # the EWC Fisher is fine-tuning machinery (it loads Lightning): imported here, so that the
        # ASE calculator and the model load without it
        from .ewc import fisher_hook
        from .model import EquivariantPotential
        from .streaming import prepare_streaming, training_sets

        if line := unfitted_stress(cfg.data.stress_key, cfg.objective):
            say(line)
        if cfg.distill.teacher is not None or cfg.distill.smiles is not None:
            from .distill import use_distilled_corpus

            use_distilled_corpus(cfg)  # --teacher/--smiles: the labelled frames replace data.paths
        drop_preset_isolated_atoms(cfg.data)
        # a folder of shards: each rank streams its own (.streaming)
        prepared = (prepare_streaming if streams(cfg.data) else prepare)(
            cfg.data, cfg.model, labelled=cfg.objective.kind == "energy_forces", seed=cfg.train.seed
        )
        prepared.model.head = head_name(cfg.data)  # the level of theory the first head learns
        backbone = EquivariantPotential(prepared.model)
        train, val = training_sets(prepared, cfg.train.seed)
        report = prepared.report()
        # what the run must beat: its own loss with the references alone, on its validation batches
        reference_only = None
        if cfg.objective.kind == "energy_forces":  # not denoising: see .baseline
            reference_only = reference_only_val_loss(val, objective, prepared.model, cfg.train, collate)
        if reference_only is not None:
            report |= {REPORT_KEY: reference_only, "loss_baseline": loss_baseline()}
        from sciPT.data import StepDataModule  # Lightning: imported when a run is built, not to list options

        return PretrainSetup(
            backbone=backbone,
            objective=objective,
            datamodule=StepDataModule(train, val, collate, cfg.train),
            # how the corpus was read (units, keys, frames, split) and split (seed) travels with the
            # export: replay reads the same frames the same way from a model folder outside its run
            export_config=self.export_config(
                prepared.model,
                references=prepared.references_method,
                pretraining_data=to_dict(cfg.data),
                pretraining_seed=cfg.train.seed,
                # how frames at the head's level of theory are read (evaluate --head, a fine-tune's --eval)
                head_data={prepared.model.head: reading(cfg.data)},
                # the validation files, never trained on: not in pretrained_on (the corpus)
                validated_on=prepared.validated_on,
            ),
            corpus=prepared.corpus,
            report=report,
            embed=backbone.embed,
            export_extras=fisher_hook(prepared.train, cfg.fisher, cfg.objective, cfg.train.seed),
        )

    def export_config(self, model: PotentialConfig, **extra) -> dict:
        """``model/config.json`` content besides provenance (units are always eV and Angstrom)."""
        return {
            "domain": self.name,
            "model": to_dict(model),
            "units": {"energy": "eV", "length": "Angstrom"},
            **extra,
        }

    def load_backbone(self, export_config: dict) -> EquivariantPotential:
        from .model import EquivariantPotential

        potential = EquivariantPotential(
            from_dict(PotentialConfig, export_config["model"], "config.json: model")
        )
        # a fine-tune records the head it trained, which need not be the newest (a run that fine-tunes
        # an older head again): predictions without --head use that one
        trained = export_config.get("head")
        if trained in potential.head_names:
            potential.default_head = potential.head = trained
        return potential

    # evaluate ------------------------------------------------------------------------------
    def add_evaluate_arguments(self, parser) -> None:
        from .evaluate import add_reading_arguments

        add_reading_arguments(parser)

    def evaluate(self, run, args):
        """Energy and force errors of the pre-trained potential on ``args.data`` (:mod:`.evaluate`)."""
        from sciPT.checkpoint import from_pretrained

        from .evaluate import evaluate_run

        model = from_pretrained(run.path, domain=self.name).model
        kind = (run.read_config().get("objective") or {}).get("kind", "energy_forces")
        notes = [f"Pre-trained potential (objective: {kind})."]
        if kind == "denoise":
            notes[0] += (
                " It was pre-trained by denoising, without energy labels: its energies and "
                "forces are not fitted to any level of theory, so large errors are expected."
            )
        return evaluate_run(run, args, model, notes=notes)

    # predict -------------------------------------------------------------------------------
    def add_predict_arguments(self, parser) -> None:
        from .evaluate import add_reading_arguments

        # predictions need no labels: key flags would be accepted and do nothing
        add_reading_arguments(parser, keys=False)

    def predict(self, run, args):
        """Energies, forces and stresses of the pre-trained potential on ``args.input``, the
        force-field task's prediction (:func:`.predict.predict_run`)."""
        from sciPT.checkpoint import from_pretrained

        from .predict import predict_run

        return predict_run(run, args, from_pretrained(run.path, domain=self.name).model)


domain = MoleculesDomain()
