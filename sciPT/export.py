"""``scipt export``: a run's Lightning checkpoint -> ``model/`` (safetensors + config.json)."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .config import from_dict
from .errors import UserError
from .runconfig import CHECKPOINT_FREE_KEYS


def export_run(args: argparse.Namespace) -> int:
    from .checkpoint import export_model, load_lightning_checkpoint
    from .run import open_run

    run, domain = open_run(args.run)
    if not hasattr(domain, "export_config_from"):
        raise UserError(f"{run.path}: export works on pre-training runs")
    saved = run.read_config()
    cfg = from_dict(domain.config_class, {k: v for k, v in saved.items() if k not in CHECKPOINT_FREE_KEYS},
                    str(run.config))
    ckpt = load_lightning_checkpoint(args.checkpoint or run.last_checkpoint)
    # a domain that stores more than weights beside them (the molecules' EWC Fisher) says how,
    # from the same data it reads for the config
    export_cfg, hook = (domain.export_from(cfg) if hasattr(domain, "export_from")
                        else (domain.export_config_from(cfg), None))
    export_cfg = {**export_cfg, "pretrained_on": saved.get("corpus", [])}
    backbone = domain.load_backbone(export_cfg)
    prefix = "backbone."
    backbone.load_state_dict({k[len(prefix):]: v for k, v in ckpt["state_dict"].items()
                              if k.startswith(prefix)})
    out = export_model(args.out or run.model, backbone, {**export_cfg, "sciPT_version": __version__},
                       extra_tensors=hook(backbone) if hook is not None else None)
    print(f"exported step {ckpt.get('global_step')} to {out}", file=sys.stderr)
    return 0
