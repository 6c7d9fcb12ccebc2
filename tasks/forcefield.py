"""Force-field fitting: fine-tune an equivariant potential on new DFT frames without forgetting.

::

    scipt finetune forcefield --init RUN|none --train FRAMES.xyz [--val FILE ...] [--test FILE ...]
                              [--eval FILE ...] --out RUN [--strategy full|freeze|l2sp|ewc|replay]
                              [--data.head NAME] [--eval-head NAME] [--replay]
    scipt evaluate RUN --data FRAMES.xyz [--head NAME] [--references model|pretrained] [--stress-key KEY]
    scipt predict RUN --input FRAMES.xyz --output PREDICTED.xyz [--head NAME]
    scipt md RUN --structure FILE --steps N --temperature T --output traj.xyz [--head NAME]
    scipt demo forcefield

Preset. ``tiny`` by default; with a ``--max-time`` budget of 2.5 minutes or more and no
``--preset``, ``small`` (:meth:`ForcefieldTask.default_preset`): at equal time the larger model's
fewer steps learn more (``benchmarks/RESULTS_forcefield.md``, section 4).

Start. ``--init RUN`` loads a pre-trained potential (``scipt pretrain molecules``; its ``model/``
folder or the run), whose element table is then enforced: a frame with an element the model never
saw is refused, naming the file, the frame and the element. ``--init none`` trains the ``model``
architecture of the config from scratch.

Strategies (:mod:`sciPT.finetune`): ``full``; ``freeze`` (the element embedding and the first
``finetune.freeze_layers`` interaction blocks); ``l2sp``; ``ewc`` with the Fisher diagonal stored
with the pre-trained model (:mod:`sciPT.domains.molecules.ewc`; the report gives ``lambda`` in
units of its natural scale ``lambda_0``: 1 for the default Gauss-Newton Fisher, ``1 / (2 x mean
pre-training loss)`` for the empirical one); ``replay``, which mixes
``finetune.replay_fraction`` of every batch from the frames the model was pre-trained on (at most
``replay_frames`` of them: the training files of the ``--init`` run, read with its keys and units
and split as pre-training split them, so its validation frames are never replayed; for a bare
``model/`` folder, the files recorded in ``pretrained_on``).

Heads, one per level of theory (:mod:`sciPT.domains.molecules.model`). The training frames name
their level of theory (``--data.head NAME``; by default the ``head`` entry of the first frame's
extended-XYZ info line, else the first training file's stem, e.g. ``train_300K``:
:func:`sciPT.domains.molecules.data.head_name`). If the pre-trained model has no head of that
name, fine-tuning adds one, a copy of the head named by ``eval_head`` (default: the model's newest),
and trains it with the shared blocks; by default the first head added to a model owns the last
interaction block as well as the readout (``head_blocks``, ``--head-blocks``: the old head keeps its
copy of that block untouched; 0 makes heads readouts only); every other head is frozen, and the ``--eval`` sets (the old
task) are evaluated through ``eval_head``, with its own references. ``ewc`` and ``l2sp`` then anchor
the shared blocks only (:func:`sciPT.domains.molecules.ewc.head_strategy`); replayed frames go
through the old head. If the model has a head of that name, that head is fine-tuned (from a
single-head model, the behaviour before heads existed: pass ``--data.head`` with the model's head,
``default`` for exports older than heads). ``scipt evaluate``, ``predict``, ``md`` and the ASE
calculator take ``--head`` (default: the head fine-tuned last, which the export records; the newest
head for a pre-training export).

Reference energies (``references``). A new data set often comes from another level of theory, whose
total energies differ from the old by a nearly constant amount per element. ``refit`` (the default
from a pre-trained model) keeps the network and moves only the per-element references (of the
trained head): it adds to
the pre-trained references the least-squares per-element correction of the pre-trained model's
energy errors on the training frames, so no weight has to change to absorb an offset (which EWC
would resist and the old task would pay for). ``keep`` leaves the pre-trained references, ``data``
takes the new data's (isolated atoms, else least squares, as pre-training does, and a named
isolated-atoms file lacking an element is refused; the default from scratch). When one head is fine-tuned on a new level of theory, frames of the
old level (``--eval`` sets, replayed frames) are compared under the pre-trained references: the
replayed energies are shifted by the change of references, and the ``--eval`` sets are evaluated
with the pre-trained references swapped in. (With a new head, the old head keeps its references.)

Replay with any strategy: ``--replay`` (``replay: true``) mixes ``finetune.replay_fraction`` of pre-training frames
into every batch whatever the strategy (``ewc`` + replay); strategy ``replay`` is ``full`` with it.

Frames without forces. A training set may mix frames with forces (AIMD) and frames with an energy
alone (single points at a higher level: the forces key absent): the latter are fitted on their
energies (and stresses), as MACE and NequIP weigh missing forces to zero, and one line at loading
counts them; force errors, in the logs and every evaluation, are over the frames that have forces
(``*_forces_frames`` counts them when some have none), and the EWC Fisher and learning without
forgetting leave their labels out alike (the old head's own forces are kept for every frame). A
training set in which no frame has forces is refused, naming its first frame: a mistyped
``--forces-key`` must not train energies alone (``--forces-key null`` says the data has no forces).
``--test`` and ``--eval`` files may hold energies alone.

Evaluation, after training and, from a pre-trained model, also before it (``*_before_*``):
validation frames, every ``--test`` file (same level of theory as the training data) and every
``--eval`` file (the old task: forgetting). Energy MAE/RMSE per atom and per frame (meV), force
MAE/RMSE (meV/Angstrom), per element, and, over the frames with a cell volume and a stress under
``data.stress_key``, stress MAE/RMSE over Voigt components (eV/Angstrom^3); parity plots; a
before/after bar chart. Files in ``--test`` and ``--eval`` are read with the ``data`` keys and units.

``scipt predict`` writes each input frame with the predictions as its ASE results (``energy``,
``energies``, ``forces``, ``stress``) beside the input's own info keys and per-atom arrays; those
under ASE's property names (its reference ``energy`` and ``forces``, say) become ``input_energy``,
``input_forces`` (:func:`sciPT.domains.molecules.predict.predict_run`).

``scipt evaluate RUN --data FILE`` writes its own folder, ``RUN/evaluations/<file name>/`` (or
``--out DIR``): ``metrics.json``, parity plots and ``report.md``
(:func:`sciPT.domains.molecules.evaluate.evaluate_run`, which also evaluates pre-training runs);
fine-tuning's ``metrics.json`` is left as measured. ``--references pretrained`` evaluates frames of
the old level of theory.

Which strategy. From ethanol + methanol to acetylacetone (``benchmarks/RESULTS_forgetting.md``),
replay of one pre-training frame per batch of 8 kept the ethanol error rise a small fraction of
naive fine-tuning's at a few per cent on acetylacetone. EWC did not, with one head or on the shared
blocks of readout-only heads: every strength that protected ethanol cost acetylacetone far more
than 10%, because the weights the new level of theory needs to move are ones whose diagonal Fisher
at the pre-trained point says little of how the old level depends on them (the radial MLPs). A new
head alone, without old frames, forgets more than one shared head: the frozen old head cannot
follow the shared features. When the old frames are at hand, replay them (``--replay``, with a new
head or one). Without them, a new head that owns its last interaction block (``head_blocks``, the
default) and trains alone for the first third of the steps (``--head-warmup 0.333``, LP-FT: the shared
blocks then join on a learning-rate ramp) before ``--strategy ewc`` anchors the shared blocks trades
best: over three seeds 0.21 x naive's rise for 9 % on the new molecule at ``ewc_lambda`` = 0.01
lambda_0 (without the warm-up, 0.43 x at 0.1 lambda_0). ``--old-head-distillation MU`` with a new
head (learning without forgetting, :mod:`sciPT.domains.molecules.lwf`) keeps the old head's predictions on the new frames: 0.6 x
naive's rise at ``MU = 1`` for about 19 %; with ``--strategy ewc`` on top, 0.4 x for 33 %.
``--finetune.ewc-online-every K`` adds to the Fisher at the pre-trained point the running mean of
the old head's Fisher re-estimated every K steps on the new frames (:mod:`sciPT.finetune.online`);
on the same benchmark it traded slightly worse than the Fisher at the pre-trained point alone
(0.23 x for 8.5 % against 0.21 x for 8.8 %, more ethanol rise at every matched cost), so it is off.

The fine-tuned potential is exported to ``RUN/model`` (safetensors + config.json), so
:func:`sciPT.checkpoint.from_pretrained` and :class:`sciPT.domains.molecules.calculator.SciPTCalculator`
load it. It carries no Fisher: one computed on the pre-training data would no longer describe it.
"""

from __future__ import annotations

from sciPT.registry import Command, Task
from sciPT.run import command_line

# the task's options and checks; the fitting, evaluating and MD code (Lightning, e3nn,
# torch-geometric: seconds of imports) loads in the command that runs it
from .forcefield_config import SMALL_FROM_S, ForcefieldConfig, small, tiny, validate


# --- the task ---------------------------------------------------------------------------------
class ForcefieldTask(Task):
    name = "forcefield"
    summary = (
        "fit a force field: fine-tune an equivariant potential on DFT frames (full, freeze, "
        "L2-SP, EWC, replay), evaluate, predict, run MD"
    )
    config_class = ForcefieldConfig

    def presets(self):
        return {"tiny": tiny, "small": small}

    def default_preset(self, max_time_s: float | None) -> str:
        """``small`` for a ``--max-time`` budget of at least :data:`SMALL_FROM_S`, else ``tiny``."""
        return "small" if max_time_s is not None and max_time_s >= SMALL_FROM_S else "tiny"

    def flag_aliases(self):
        return {
            "train": "data.paths",
            "val": "data.val_paths",
            "isolated-atoms": "data.isolated_atoms",
            "energy-key": "data.energy_key",
            "forces-key": "data.forces_key",
            "strategy": "finetune.strategy",
            "ddp-strategy": "train.strategy",
            "ewc-lambda": "finetune.ewc_lambda",
            "head-warmup": "finetune.head_warmup",
            "l2sp-alpha": "finetune.l2sp_alpha",
            "replay-fraction": "finetune.replay_fraction",
            "energy-weight": "objective.energy_weight",
            "forces-weight": "objective.forces_weight",
        }

    def add_finetune_arguments(self, parser):
        from sciPT.runconfig import add_run_arguments

        parser.set_defaults(table=add_run_arguments(parser, self, "runs/forcefield"))

    def finetune(self, args):
        from sciPT.runconfig import resolve_config

        cfg = resolve_config(self, args, args.table)
        validate(cfg)  # before the fitting code is imported: a wrong value answers in seconds
        from .forcefield_train import run_finetune

        return run_finetune(cfg, args.out, resume=args.resume, command=command_line())

    def add_evaluate_arguments(self, parser):
        from sciPT.domains.molecules.evaluate import add_reading_arguments

        add_reading_arguments(parser)
        parser.add_argument(
            "--references",
            choices=["model", "pretrained"],
            default="model",
            help="reference energies for the energies: the fine-tuned model's, or the "
            "pre-trained model's (frames of the old level of theory; default: model)",
        )

    def evaluate(self, run, args):
        from .forcefield_eval import evaluate_run

        evaluate_run(run, args)
        return 0

    def add_predict_arguments(self, parser):
        from sciPT.domains.molecules.evaluate import add_reading_arguments

        # predictions need no labels: key flags would be accepted and do nothing
        add_reading_arguments(parser, keys=False)

    def predict(self, run, args):
        from .forcefield_eval import predict_run

        return predict_run(run, args)

    def commands(self):
        from sciPT.domains.molecules import md

        return [
            Command(
                "md",
                "molecular dynamics with a molecules model through ASE (NVE or NVT)",
                md.add_arguments,
                md.run_command,
            )
        ]

    def demo(self, args):
        from .forcefield_demo import demo

        return demo(args)


task = ForcefieldTask()
