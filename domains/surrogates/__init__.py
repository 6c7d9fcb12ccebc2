"""The surrogates domain: physics-structured heat-transfer surrogates with a pre-trained prior.

A surrogate is a power law ``Nu = C Re^a Pr^b prod g_i^c_i`` (:mod:`.model`) whose parameters carry
a Gaussian prior learnt from textbook correlations of simple systems (:mod:`.correlations`,
:mod:`.pretrain`), calibrated on a few measurements by closed-form Bayesian regression in log space
(:mod:`.objectives`, :mod:`.calibrate`). The task ``surrogate`` (``scipt finetune surrogate``) is
the user pipeline.

Pre-training here is a closed-form fit, not a Lightning loop: :meth:`SurrogatesDomain.pretrain`
writes the run directory itself (``config.yaml``, ``model/``, ``metrics.json``, ``plots/``,
``report.md``), and ``scipt finetune surrogate --init all|flat-plate|smooth-pipe`` builds the same
prior on the fly in well under a second.

Registered through the ``sciPT.domains`` entry point ``surrogates`` like any third-party plugin.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np

from sciPT import __version__
from sciPT.config import to_dict
from sciPT.errors import ConfigError, UserError
from sciPT.registry import Domain
from sciPT.run import RunDir
from sciPT.runconfig import refuse_unused_train_keys
from sciPT.trainer import TrainConfig, validate

from . import plots
from .correlations import EXCLUDED
from .law import law_dict, law_string
from .objectives import NoisePrior, Posterior, fit
from .presets import PRESETS, SurrogatePretrainConfig
from .pretrain import learn_prior, source_lines, validity_box
from .recalibration import for_library


def export_surrogate(
    directory: Path, posterior: Posterior, groups: list[str], config: dict, correction=None
) -> Path:
    """Write a surrogate (law + parameter distribution) as ``config.json`` + ``model.safetensors``."""
    from sciPT.checkpoint import export_model

    from .model import PowerLaw

    model = PowerLaw.from_posterior(posterior, groups, correction)
    p = len(model.names)
    return export_model(
        directory,
        model,
        {
            "domain": "surrogates",
            **model.export_config(),
            "law": law_dict(posterior.mean[:p], posterior.cov[:p, :p], model.names),
            "sciPT_version": __version__,
            **config,
        },
    )


def prior_posterior(prior, noise: NoisePrior | None = None) -> Posterior:
    """The prior as a distribution fitted to zero points (what a pre-trained model stores)."""
    p = len(prior.names)
    return fit(np.zeros((0, p)), np.zeros(0), prior, noise, kappa=1.0)


class SurrogatesDomain(Domain):
    name = "surrogates"
    summary = "physics-structured heat-transfer surrogates: power-law prior learnt from textbook correlations"
    config_class = SurrogatePretrainConfig
    # a closed-form fit: of the training keys only the seed is read (pretrain refuses the others)
    unused_train_keys = tuple(f.name for f in fields(TrainConfig) if f.name != "seed")
    resume_refusal = "surrogates pre-train in closed form, in seconds; run it again"

    def presets(self):
        return dict(PRESETS)

    def flag_aliases(self) -> dict[str, str]:
        return {"seed": "train.seed"}

    def build_pretraining(self, cfg):
        raise UserError(
            "surrogates pre-train in closed form, not with Lightning: use "
            "SurrogatesDomain.pretrain, or 'scipt finetune surrogate --init all' "
            "(or flat-plate, smooth-pipe), which builds the 'small' preset's prior on the fly"
        )

    def load_backbone(self, export_config: dict):
        from .model import PowerLaw  # torch, imported when a model is built, not to list options

        model = PowerLaw(
            export_config.get("groups", []),
            export_config.get("n_sigma", 72),
            export_config.get("correction_width", 0),
        )
        if export_config.get("interval_level_map") is not None:
            model.level_map = np.asarray(export_config["interval_level_map"], float)
        return model

    def add_evaluate_arguments(self, parser) -> None:
        from .evaluate import add_level_argument

        add_level_argument(parser)

    def evaluate(self, run, args):
        """The pre-trained prior's predictions on measured points (:mod:`.evaluate`)."""
        from .evaluate import evaluate_run

        return evaluate_run(run, args)

    def add_predict_arguments(self, parser) -> None:
        from .evaluate import add_level_argument

        add_level_argument(parser)

    def predict(self, run, args):
        """The pre-trained prior's predictions and intervals (:func:`.evaluate.predict_run`)."""
        from .evaluate import predict_run

        return predict_run(run, args)

    def pretrain(
        self,
        cfg: SurrogatePretrainConfig,
        out: str | Path,
        *,
        resume: bool = False,
        command: str | None = None,
        callbacks: list | None = None,
    ) -> RunDir:
        """Learn the prior of ``cfg`` and write the run directory ``out`` (closed form, seconds;
        no Lightning loop, so ``callbacks`` are not used, and ``resume`` and every training key
        but ``seed`` are refused rather than recorded as if they had been)."""
        if resume:
            raise ConfigError(f"--resume: {self.resume_refusal}")
        refuse_unused_train_keys(
            self,
            cfg.train,
            SurrogatePretrainConfig().train,
            "pretrain surrogates, a closed-form fit with no training loop (of the training keys only "
            "--seed is used)",
        )
        validate(cfg.train)
        if cfg.points_per_system < 4:
            raise UserError(f"points_per_system: expected at least 4, got {cfg.points_per_system}")
        if not 0 <= cfg.noise < np.inf:  # written so that nan fails too
            raise ConfigError(f"noise: expected a relative scatter >= 0, got {cfg.noise}")
        if not 0 < cfg.group_sd < np.inf:
            raise ConfigError(f"group_sd: expected a standard deviation > 0, got {cfg.group_sd}")
        prior, fits = learn_prior(cfg)
        recalibration = None
        if len({f.correlation.family for f in fits}) > 1:  # one family leaves none to hold out
            noise = NoisePrior()
            learnt = for_library(cfg, "gaussian", "exponents", noise)
            recalibration = {
                **learnt.as_dict(),
                "transfer": "exponents",
                "noise_prior": {"s0": noise.s0, "nu0": noise.nu0},
            }
        run = RunDir.create(out, resumable=False)
        with run.all_or_nothing():
            run.write_config({"domain": self.name, **to_dict(cfg)})
            boxes = validity_box(fits)
            export_surrogate(
                run.model,
                prior_posterior(prior),
                [],
                {
                    "kind": "prior",
                    "systems": [f.as_dict() for f in fits],
                    "validity": {"systems": boxes},
                    "pretrain": to_dict(cfg),
                    "interval_recalibration": recalibration,
                },
            )
            sd = np.sqrt(np.diag(prior.cov))
            metrics = {
                "systems": len(fits),
                "prior_log_C": prior.mean[0],
                "prior_a": prior.mean[1],
                "prior_b": prior.mean[2],
                "prior_log_C_sd": sd[0],
                "prior_a_sd": sd[1],
                "prior_b_sd": sd[2],
            }
            run.write_metrics(metrics)
            figure = systems_plot(run.plot_path("prior.png"), fits, prior)
            run.write_report(prior_report(cfg, fits, prior, figure, command))
        print(f"run written to {run.path}", file=sys.stderr)
        return run


def systems_plot(path: Path, fits, prior, pr: float = 0.7) -> Path:
    """Every pre-training system's fitted law over its range, and the prior's mean law, at ``pr``."""
    curves = []
    for f in fits:
        re = np.geomspace(*f.correlation.re_range, 50)
        curves.append(
            plots.Curve(
                f.correlation.key,
                re,
                np.exp(f.theta @ [np.ones_like(re), np.log(re), np.full_like(re, np.log(pr))]),
            )
        )
    re = np.geomspace(1e3, 1e8, 80)
    x = np.column_stack([np.ones_like(re), np.log(re), np.full_like(re, np.log(pr))])
    sd = np.sqrt(np.einsum("ma,ab,mb->m", x, prior.cov[:3, :3], x))
    mean = x @ prior.mean[:3]
    curves.append(
        plots.Curve(
            "prior mean", re, np.exp(mean), "--", "k", np.exp(mean - 1.645 * sd), np.exp(mean + 1.645 * sd)
        )
    )
    return plots.nu_vs_re(path, curves, [], title=f"pre-training systems at Pr = {pr} and the prior (90 %)")


def prior_report(cfg, fits, prior, figure: Path, command: str | None) -> str:
    names = prior.names[:3]
    sd = np.sqrt(np.diag(prior.cov))
    corr = prior.cov[:3, :3] / np.outer(sd[:3], sd[:3])
    lines = [
        "# surrogates pre-training (closed-form prior)",
        "",
        f"Written {dt.datetime.now().isoformat(timespec='seconds')} by sciPT {__version__}.",
    ]
    if command:
        lines += ["", "Command:", "", f"    {command}"]
    lines += [
        "",
        "## Systems",
        "",
        f"Each correlation sampled at {cfg.points_per_system} points, log-uniform over its validity "
        f"range (Pr capped at 100), with {cfg.noise:.0%} log-normal scatter, and fitted by least "
        "squares in log space.",
        "",
        "| system | family | form | Re range | Pr range | C | a | b | residual sd | weight w |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    total = sum(f.weight for f in fits)
    for f in fits:
        d = f.as_dict()
        lines.append(
            f"| {d['key']} | {d['family']} | `{d['form']}` | {d['re_range'][0]:g}-{d['re_range'][1]:g} "
            f"| {d['pr_range'][0]:g}-{d['pr_range'][1]:g} | {d['C']:.4g} | {d['a']:.3f} | "
            f"{d['b']:.3f} | {d['residual_sd']:.3f} | {f.weight / total:.4f} |"
        )
    lines += [
        "",
        "## Sources",
        "",
        "Each correlation (a rough one is sampled at several e/D) and its source:",
        "",
    ]
    lines += source_lines([f.as_dict() for f in fits])
    lines += [
        "",
        "Left out, as they would contaminate any evaluation on ribbed channels (the project's "
        "contamination rule for laws; a library holding a correlation fitted on ribbed ducts is "
        "refused):",
        "",
        *(f"- {key}: {why}" for key, why in EXCLUDED.items()),
    ]
    lines += [
        "",
        "## Prior",
        "",
        "Weighted mean of the per-system fits, every correlation weighted alike (its roughness values, "
        "or a tube-bank source's two arrangements, share its weight: the systems' column w); covariance "
        "= their weighted spread / (1 - sum of w^2) + the weighted mean of the fits' covariances.",
        "",
        f"Mean law: `{law_string(prior.mean[:3], names)}`",
        "",
        "| parameter | mean | sd |",
        "|---|---|---|",
    ]
    lines += [f"| {n} | {m:.4f} | {s:.4f} |" for n, m, s in zip(names, prior.mean, sd)]
    lines += [
        "",
        "Correlation matrix (log C, a, b):",
        "",
        "```",
        np.array2string(corr, precision=3),
        "```",
        "",
        f"![systems and prior](plots/{figure.name})",
        "",
        "## Configuration",
        "",
        "```json",
        json.dumps(to_dict(cfg), indent=1),
        "```",
        "",
    ]
    return "\n".join(lines)


domain = SurrogatesDomain()
