"""Sharded, streamed corpora against model speed: does one rank's own-shard loader keep up?

DNA: the E. coli genome cut into records of 50 kb dealt into 8 gzip shards
(:func:`sciPT.streaming.split_fasta`), read as a folder (streaming on). Rank 0 of a world of 2 is
simulated: ``ShardedWindows.for_rank(0, 2)`` opens and normalises its 4 shards (``open_s``, cold
cache), then the sampler + collate alone are timed (windows/s, one process, ``num_workers = 0``)
against a training step of the ``tiny`` and ``small`` presets (masked-model forward, backward,
AdamW: windows/s it consumes = batch size / step time). Molecules: the shipped ethanol training
frames cut into 8 extended XYZ shards; rank 0's streamed frames (offset, read, graph per frame)
against the in-memory path (graphs built in advance) and a ``tiny`` potential's training step
(energy + forces). The ratio loader / model is the headroom: above 1, one loading process is enough.

Raw numbers go to ``benchmarks/results/streaming_throughput.json`` (with provenance); :func:`render`
turns them into the RESULTS.md block (importing this module imports no torch).

Run::

    OMP_NUM_THREADS=1 python benchmarks/streaming_throughput.py --seconds 5 --steps 3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent


def _setup_for(setup, dataset):
    """``setup`` with its training set replaced by a resolved (per-rank) dataset."""
    datamodule = SimpleNamespace(train_set=dataset, collate=setup.datamodule.collate)
    return SimpleNamespace(backbone=setup.backbone, objective=setup.objective, datamodule=datamodule)


def dna_rows(folder: Path, presets: list[str], seconds: float, steps: int) -> list[dict]:
    import torch
    from corpus_throughput import measure_loader, measure_steps

    from sciPT.registry import domains

    dna, rows = domains.get("dna"), []
    for name in presets:
        cfg = dna.presets()[name]()
        cfg.data.paths = [str(folder)]
        torch.manual_seed(0)
        setup = dna.build_pretraining(cfg)
        started = time.perf_counter()
        own = setup.datamodule.train_set.for_rank(0, 2)
        open_s = time.perf_counter() - started
        loader = measure_loader(own, setup.datamodule.collate, cfg.train.batch_size, seconds)
        model = measure_steps(_setup_for(setup, own), cfg, steps)
        rows.append(
            {
                "preset": name,
                "window": cfg.data.window,
                "tokens": setup.report["tokens_per_sample"],
                "batch_size": cfg.train.batch_size,
                "rank_shards": setup.report["rank_shards"],
                "rank_residues": setup.report["rank_residues"],
                "open_s": open_s,
                "loader": loader,
                "model": model,
                "headroom": loader["windows_per_s"] / model["windows_per_s"],
            }
        )
        print(
            f"dna {name}: loader {loader['windows_per_s']:,.0f} windows/s, model {model['windows_per_s']:,.0f}",
            file=sys.stderr,
        )
    return rows


def molecule_row(folder: Path, seconds: float, steps: int) -> dict:
    import torch
    from corpus_throughput import measure_loader, measure_steps

    from sciPT.domains.molecules.dataset import FrameDataset, collate, to_graphs
    from sciPT.domains.molecules.streaming import read_frame_at
    from sciPT.registry import domains

    molecules = domains.get("molecules")
    cfg = molecules.presets()["tiny"]()
    cfg.data.paths = [str(folder)]
    torch.manual_seed(0)
    setup = molecules.build_pretraining(cfg)
    started = time.perf_counter()
    own = setup.datamodule.train_set.for_rank(0, 2)
    open_s = time.perf_counter() - started
    streamed = measure_loader(own, collate, cfg.train.batch_size, seconds)
    frames = [read_frame_at(p, o, n, k, own.cfg, own.factors, True) for p, o, n, k in own.frames]
    memory = FrameDataset(to_graphs(frames, own.cutoff), seed=0)
    in_memory = measure_loader(memory, collate, cfg.train.batch_size, seconds)
    model = measure_steps(_setup_for(setup, own), cfg, steps)
    print(
        f"molecules tiny: streamed {streamed['windows_per_s']:,.0f} frames/s, in memory "
        f"{in_memory['windows_per_s']:,.0f}, model {model['windows_per_s']:,.0f}",
        file=sys.stderr,
    )
    return {
        "preset": "tiny",
        "batch_size": cfg.train.batch_size,
        "rank_frames": len(own),
        "open_s": open_s,
        "streamed_frames_per_s": streamed["windows_per_s"],
        "in_memory_frames_per_s": in_memory["windows_per_s"],
        "model": model,
        "model_frames_per_s": model["windows_per_s"],
        "headroom": streamed["windows_per_s"] / model["windows_per_s"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--presets", nargs="+", default=["tiny", "small"], help="DNA presets (default: tiny small)"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="loader timing per row (default: 5)")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per row (default: 3)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="scipt-stream-"))
    os.environ["SCIPT_CACHE"] = str(work / "cache")  # the shards are opened cold
    import torch

    sys.path.insert(0, str(HERE))
    from provenance import finish, provenance, write_results

    from sciPT.files import resolve_data_path
    from sciPT.streaming import split_fasta

    genome = "data_recipes/dna/ecoli_k12_mg1655.fna.gz"
    shards = split_fasta(genome, work / "dna", 8, 50_000)
    xyz = resolve_data_path("data_recipes/molecules/ethanol/train.xyz").read_text().splitlines(keepends=True)
    per = len(xyz) // 8 // 11 * 11  # whole 9-atom frames (11 lines each)
    (work / "xyz").mkdir()
    for s in range(8):
        (work / "xyz" / f"part-{s}.xyz").write_text("".join(xyz[s * per : (s + 1) * per]))
    record = {
        "provenance": provenance(),
        "dna_corpus": {
            "source": Path(genome).name,
            "shards": len(shards),
            "bytes": sum(p.stat().st_size for p in shards),
        },
        "molecule_corpus": {"source": "ethanol/train.xyz", "shards": 8, "frames_per_shard": per // 11},
        "world_size": 2,
        "threads": torch.get_num_threads(),
        "dna": dna_rows(work / "dna", args.presets, args.seconds, args.steps),
        "molecules": molecule_row(work / "xyz", args.seconds, args.steps),
    }
    path = write_results("streaming_throughput", finish(record))
    print(f"wrote {path}", file=sys.stderr)
    return 0


def render(results: dict, name: str = "streaming_throughput") -> str:
    """The RESULTS.md block from ``results[name]`` (the JSON this script writes)."""
    sys.path.insert(0, str(HERE))  # report.py is beside this file
    from report import provenance_line

    record = results[name]
    d, m = record["dna_corpus"], record["molecules"]
    lines = [
        f"Measured by {provenance_line(record)}",
        f"Rank 0 of {record['world_size']}, {record['threads']} thread(s). DNA: {d['source']} in "
        f"{d['shards']} gzip shards ({d['bytes']:,} bytes); open: the rank's own shards opened and "
        "normalised (cold for the first preset, from the cache after).",
        "",
        "| preset | window | tokens | batch | rank shards | rank residues | open (s) | loader windows/s "
        "| training windows/s | loader headroom |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in record["dna"]:
        lines.append(
            f"| dna {r['preset']} | {r['window']} | {r['tokens']} | {r['batch_size']} | {r['rank_shards']} "
            f"| {r['rank_residues']:,} | {r['open_s']:.2f} | {r['loader']['windows_per_s']:,.0f} "
            f"| {r['model']['windows_per_s']:,.0f} | {r['headroom']:.0f}x |"
        )
    c = record["molecule_corpus"]
    lines += [
        "",
        f"Molecules: {c['source']} in {c['shards']} extended XYZ shards of {c['frames_per_shard']} frames; "
        f"rank 0 holds {m['rank_frames']} training frames (its shards opened in {m['open_s']:.2f} s). "
        "Streamed: each frame read from its byte offset and graphed when drawn; in memory: graphs built "
        "in advance, as the in-memory path does.",
        "",
        "| preset | batch | streamed frames/s | in-memory frames/s | training frames/s | streamed headroom |",
        "|---|--:|--:|--:|--:|--:|",
        f"| molecules {m['preset']} | {m['batch_size']} | {m['streamed_frames_per_s']:,.0f} "
        f"| {m['in_memory_frames_per_s']:,.0f} | {m['model_frames_per_s']:,.0f} | {m['headroom']:.1f}x |",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
