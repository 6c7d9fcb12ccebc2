"""Data loading against model speed: can the corpus sampler keep a training step fed?

The corpus is the four shipped genomes (``data_recipes/dna``: E. coli and the first 1% of every
chromosome of A. thaliana, C. elegans, D. melanogaster) with the ``genomes`` preset's curation
(temperature 2, exact + near-duplicate tiles, N runs, low-complexity tiles removed). For the ``tiny``
and ``small`` DNA presets on that corpus the script measures, on the same threads:

- the one-off curation of the corpus (first build, then the cached read);
- the sampler + collate alone: windows per second of ``RandomWindows[g]`` for consecutive ``g``
  followed by the tokenizer's batch (what one DataLoader process does, ``num_workers = 0``);
- a training step (masked-model forward, backward, AdamW) on those batches: steps per second, and
  the windows per second it consumes (``steps/s x batch size``).

The ratio of the two is the loader's headroom: above 1, one process loads faster than the model
trains. Raw numbers go to ``benchmarks/results/corpus_throughput.json`` (with provenance);
:func:`render` turns them into the RESULTS.md block (importing this module imports no torch).

Run::

    OMP_NUM_THREADS=1 python benchmarks/corpus_throughput.py --seconds 10 --steps 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure_loader(train, collate, batch_size: int, seconds: float) -> dict:
    n, g, started = 0, 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        collate([train[i] for i in range(g, g + batch_size)])
        g += batch_size
        n += 1
    elapsed = time.perf_counter() - started
    return {"batches": n, "seconds": elapsed, "windows_per_s": n * batch_size / elapsed}


def measure_steps(setup, cfg, steps: int, warmup: int = 1) -> dict:
    import torch

    params = [*setup.backbone.parameters(), *setup.objective.parameters()]
    optimizer = torch.optim.AdamW(params, lr=cfg.train.lr)
    train, collate = setup.datamodule.train_set, setup.datamodule.collate
    setup.backbone.train()
    times = []
    for step in range(warmup + steps):
        g = step * cfg.train.batch_size
        batch = collate([train[i] for i in range(g, g + cfg.train.batch_size)])
        started = time.perf_counter()
        loss, _ = setup.objective(setup.backbone, batch, generator=torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - started)
    step_s = statistics.median(times)
    return {"steps": steps, "step_s": step_s, "times": times, "windows_per_s": cfg.train.batch_size / step_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--presets", nargs="+", default=["tiny", "small"], help="DNA presets (default: tiny small)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="loader timing per preset (default: 10)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per preset (default: 5)")
    args = parser.parse_args(argv)
    os.environ["SCIPT_CACHE"] = tempfile.mkdtemp(prefix="scipt-bench-")  # the curation is timed cold
    import torch

    sys.path.insert(0, str(HERE))
    from provenance import finish, provenance, write_results

    from sciPT.curation import CurationOptions, curate
    from sciPT.registry import domains
    from sciPT.sequences import Corpus

    dna = domains.get("dna")
    corpus_cfg = dna.presets()["genomes"]().data
    started = time.perf_counter()
    corpus = Corpus(corpus_cfg.paths, dna.spec)
    read_s = time.perf_counter() - started
    options = CurationOptions.of(corpus_cfg)
    curation_s = []
    for _ in range(2):  # cold, then cached
        started = time.perf_counter()
        cur = curate(
            corpus, options, val_fraction=corpus_cfg.val_fraction, val_mode=dna.val_mode, progress=False
        )
        curation_s.append(time.perf_counter() - started)
    rows = []
    for name in args.presets:
        cfg = dna.presets()[name]()
        window = cfg.data.window
        cfg.data = corpus_cfg
        cfg.data.window = window  # the preset's window, the genomes preset's corpus and curation
        torch.manual_seed(0)
        started = time.perf_counter()
        setup = dna.build_pretraining(cfg)
        build_s = time.perf_counter() - started
        loader = measure_loader(
            setup.datamodule.train_set, setup.datamodule.collate, cfg.train.batch_size, args.seconds
        )
        model = measure_steps(setup, cfg, args.steps)
        rows.append(
            {
                "preset": name,
                "window": window,
                "tokens": setup.report["tokens_per_sample"],
                "batch_size": cfg.train.batch_size,
                "parameters": sum(p.numel() for p in setup.backbone.parameters()),
                "build_s": build_s,
                "loader": loader,
                "model": model,
                "headroom": loader["windows_per_s"] / model["windows_per_s"],
            }
        )
        print(
            f"{name}: loader {loader['windows_per_s']:,.0f} windows/s, training "
            f"{1 / model['step_s']:.2f} steps/s = {model['windows_per_s']:,.0f} windows/s",
            file=sys.stderr,
        )
    record = {
        "provenance": provenance(),
        "corpus": {
            "files": [f.path.name for f in corpus.files],
            "residues": int(corpus.lengths.sum()),
            "read_s": read_s,
            "curation_s": curation_s,
            "removed_fraction": cur.metrics()["data_removed_fraction"],
            "temperature": corpus_cfg.temperature,
        },
        "threads": torch.get_num_threads(),
        "rows": rows,
    }
    path = write_results("corpus_throughput", finish(record))
    print(f"wrote {path}", file=sys.stderr)
    return 0


def render(results: dict, name: str = "corpus_throughput") -> str:
    """The RESULTS.md block from ``results[name]`` (the JSON this script writes)."""
    sys.path.insert(0, str(HERE))  # report.py is beside this file
    from report import provenance_line

    record = results[name]
    c = record["corpus"]
    cold, cached = c["curation_s"]
    lines = [
        f"Measured by {provenance_line(record)}",
        f"Corpus: {', '.join(c['files'])} ({c['residues']:,} residues), temperature {c['temperature']:g}; "
        f"curation removed {100 * c['removed_fraction']:.1f}% of the residues in {cold:.1f} s "
        f"once ({cached:.3f} s from the cache). {record['threads']} thread(s).",
        "",
        "| preset | window | tokens | batch | parameters | loader windows/s | training steps/s "
        "| training windows/s | loader headroom |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in record["rows"]:
        lines.append(
            f"| {r['preset']} | {r['window']} | {r['tokens']} | {r['batch_size']} | {r['parameters']:,} "
            f"| {r['loader']['windows_per_s']:,.0f} | {1 / r['model']['step_s']:.2f} "
            f"| {r['model']['windows_per_s']:,.0f} | {r['headroom']:.0f}x |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
