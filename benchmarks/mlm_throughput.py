"""Masked-model training throughput and peak memory: sciPT's encoder against Hugging Face BERT.

Both models have the shape of the ``small`` DNA preset: overlapping 6-mer tokens (4096 k-mers +
5 specials = 4101), width 256, 4 layers, 4 heads, FFN 1024, 512 tokens, dropout 0. They train on
the same batches (windows of the phage lambda genome, the same masks from the same seeded
generator), fp32, with the same AdamW settings; a step is forward, backward and optimiser step.

Peak memory: each model trains (warm-up plus two steps) in a fresh subprocess that first imports
the same libraries (torch, transformers, sciPT), so the peak resident memory (``ru_maxrss``) of one
model is not polluted by the other and all start from the same baseline.

Throughput: the models train in one process, one step each in turn (the order rotating every
step), so that on a shared machine they all see the same background load; each model's median
step time is reported. sciPT's timed step includes its own masking (it masks on the fly); BERT
gets its corrupted batches prepared outside the timer, as a data collator would.

Training FLOPs per step (matmuls only; backward = 2 x forward), with N = B * L tokens,
W = 4 D^2 + 2 D F the weights of one block's matmuls (QKV, output, FFN), S the selected tokens:

    BERT:  3 * [ 2 N n_layers W  +  4 n_layers B L^2 D  +  2 N (D^2 + D V) ]
    sciPT: 3 * [ 2 N (n_layers - 1) W  +  4 (n_layers - 1) B L^2 D           (full blocks)
                 + 2 N 2D^2 + 2 S (2 D^2 + 2 D F) + 4 S L D                  (last block: K, V
                 + 2 S (D^2 + D V) ]                                            of all, rest at S)

(the attention term counts Q K^T and A V). Achieved FLOP/s is compared with a 2048^3 fp32
matmul on the same threads, timed between the steps (its median is reported, so it also records
the machine's state during the run).

Run::

    python benchmarks/mlm_throughput.py --steps 10 --batch-size 8 --seq-len 512
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

VOCAB, K, N_SPECIAL = 4101, 6, 5          # [PAD]=0 [CLS]=1 [SEP]=2 [MASK]=3 [UNK]=4, then k-mers
PAD, CLS, SEP, MASK = 0, 1, 2, 3
D, LAYERS, HEADS, FF = 256, 4, 4, 1024
REPO = Path(__file__).resolve().parents[1]
GENOMES = [REPO / "data_recipes" / "dna" / "phage_lambda.fa"]
MODELS = ("sciPT", "sciPT-compiled", "sciPT-no-subset", "bert-sdpa", "bert-eager")


def read_genome(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return "".join(line.strip().upper() for line in fh if not line.startswith(">"))


def kmer_windows(seq: str, n: int, seq_len: int):
    """``n`` windows of ``[CLS] kmer ... kmer [SEP]`` (overlapping 6-mers), as an int64 tensor."""
    import torch

    code = {"A": 0, "C": 1, "G": 2, "T": 3}
    digits = torch.tensor([code.get(c, 0) for c in seq], dtype=torch.long)
    weights = 4 ** torch.arange(K - 1, -1, -1)
    kmers = digits.unfold(0, K, 1) @ weights + N_SPECIAL
    body = seq_len - 2
    stride = max(1, (len(kmers) - body) // max(1, n))
    cls, sep = torch.tensor([CLS]), torch.tensor([SEP])
    rows = [torch.cat([cls, kmers[i * stride : i * stride + body], sep]) for i in range(n)]
    return torch.stack(rows)


def make_objective(hidden_size: int):
    from sciPT.objectives import MaskedConfig, MaskedLM

    return MaskedLM(MaskedConfig(), hidden_size, VOCAB, mask_id=MASK, pad_id=PAD,
                    special_ids=[PAD, CLS, SEP, MASK, 4], normal_ids=range(N_SPECIAL, VOCAB))


def build(name: str, seq_len: int):
    """``(model, step_fn)``: ``step_fn(batch, generator, prepared)`` returns the loss."""
    import torch

    if name.startswith("sciPT"):
        from sciPT.nn import TransformerConfig, TransformerEncoder

        cfg = TransformerConfig(vocab_size=VOCAB, d_model=D, n_layers=LAYERS, n_heads=HEADS,
                                d_ff=FF, dropout=0.0, max_len=seq_len, position="rotary",
                                pad_id=PAD)
        backbone = TransformerEncoder(cfg)
        objective = make_objective(D)
        model = torch.nn.ModuleDict({"backbone": backbone, "objective": objective})
        if name == "sciPT-compiled":
            backbone = torch.compile(backbone)
        elif name == "sciPT-no-subset":
            # Ablation: hide supports_select, so the last block runs at every position (the head
            # still runs at the selected ones only).
            inner = backbone

            def backbone(input_ids, attention_mask=None):
                return inner(input_ids, attention_mask)

        def step(batch, generator, prepared):
            return objective(backbone, batch, generator=generator)[0]

        return model, step

    from transformers import BertConfig, BertForMaskedLM

    cfg = BertConfig(vocab_size=VOCAB, hidden_size=D, num_hidden_layers=LAYERS,
                     num_attention_heads=HEADS, intermediate_size=FF, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, max_position_embeddings=seq_len,
                     pad_token_id=PAD, attn_implementation=name.split("-")[1])
    model = BertForMaskedLM(cfg)

    def step(batch, generator, prepared):
        corrupted, labels = prepared
        return model(input_ids=corrupted, attention_mask=batch["attention_mask"],
                     labels=labels).loss

    return model, step


class Trainer:
    """One model, its optimiser, and the batches it sees (the same for every model)."""

    def __init__(self, name: str, data: "Data"):
        import torch

        self.name, self.data = name, data
        self.model, self.step_fn = build(name, data.seq_len)
        self.model.train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4, weight_decay=0.01)
        self.params = sum(p.numel() for p in self.model.parameters())

    def step(self, i: int) -> float:
        import torch

        self.optimizer.zero_grad(set_to_none=True)
        loss = self.step_fn(self.data.batches[i], torch.Generator().manual_seed(i),
                            self.data.prepared[i])
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


class Data:
    """``n`` batches of k-mer windows and, for BERT, their corruption: the masks of batch ``i``
    come from a generator seeded with ``i``, the one sciPT's objective uses for step ``i``."""

    def __init__(self, genome: str, n: int, batch_size: int, seq_len: int):
        import torch

        self.seq_len = seq_len
        ids = kmer_windows(read_genome(Path(genome)), n * batch_size, seq_len)
        mask = torch.ones(batch_size, seq_len, dtype=torch.bool)
        self.batches = [{"input_ids": ids[i * batch_size : (i + 1) * batch_size],
                         "attention_mask": mask} for i in range(n)]
        masker = make_objective(D)
        self.prepared = [masker.corrupt(b["input_ids"], mask, torch.Generator().manual_seed(i))
                         for i, b in enumerate(self.batches)]
        self.selected = [int((t != -100).sum()) for _, t in self.prepared]


def memory_worker(args) -> dict:
    """Runs in a fresh process: peak resident memory of training ``args.worker``."""
    import torch
    import transformers  # noqa: F401  (same imports in every worker: same memory baseline)

    import sciPT.nn  # noqa: F401

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = Data(args.genome, args.warmup + 2, args.batch_size, args.seq_len)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trainer = Trainer(args.worker, data)
    for i in range(args.warmup + 2):
        trainer.step(i)
    return {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "baseline_rss_mib": baseline}


def throughput(models: list[str], args) -> tuple[list[dict], list[float]]:
    """Train all ``models`` in this process, interleaved step by step; also time the matmul."""
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = Data(args.genome, args.warmup + args.steps, args.batch_size, args.seq_len)
    trainers, warmup = [], {}
    for name in models:
        trainer = Trainer(name, data)
        t = time.perf_counter()
        for i in range(args.warmup):
            trainer.step(i)
        warmup[name] = time.perf_counter() - t
        trainers.append(trainer)
    times = {name: [] for name in models}
    losses = {name: [] for name in models}
    matmul = []
    for k, i in enumerate(range(args.warmup, args.warmup + args.steps)):
        print(f"step {k + 1}/{args.steps}", file=sys.stderr, flush=True)
        shift = k % len(trainers)
        for trainer in trainers[shift:] + trainers[:shift]:
            t = time.perf_counter()
            losses[trainer.name].append(trainer.step(i))
            times[trainer.name].append(time.perf_counter() - t)
        matmul.append(matmul_flops(args.threads, repeats=2))
    selected = sum(data.selected[args.warmup:]) / args.steps
    tokens = args.batch_size * args.seq_len
    results = []
    for trainer in trainers:
        step_s = statistics.median(times[trainer.name])
        results.append({
            "model": trainer.name,
            "params": trainer.params,
            "step_s": step_s,
            "step_min_s": min(times[trainer.name]),
            "tokens_per_s": tokens / step_s,
            "flops_per_step": train_flops(
                args.batch_size, args.seq_len, selected,
                sparse_head=trainer.name.startswith("sciPT"),
                last_layer_subset=trainer.name in ("sciPT", "sciPT-compiled")),
            "warmup_s": warmup[trainer.name],
            "first_loss": losses[trainer.name][0],
            "times": times[trainer.name],
        })
    return results, matmul


def train_flops(batch: int, seq_len: int, selected: float, sparse_head: bool,
                last_layer_subset: bool) -> float:
    """The formulas of the module docstring: BERT (neither option) or sciPT (both, or only the
    head at the selected positions for the ``sciPT-no-subset`` ablation)."""
    tokens = batch * seq_len
    block = 4 * D * D + 2 * D * FF
    attention = 4 * batch * seq_len**2 * D
    head = 2 * (selected if sparse_head else tokens) * (D * D + D * VOCAB)
    if not last_layer_subset:
        return 3 * (2 * tokens * LAYERS * block + LAYERS * attention + head)
    full = 2 * tokens * (LAYERS - 1) * block + (LAYERS - 1) * attention
    last = (2 * tokens * 2 * D * D + 2 * selected * (2 * D * D + 2 * D * FF)
            + 4 * selected * seq_len * D)
    return 3 * (full + last + head)


def matmul_flops(threads: int, n: int = 2048, repeats: int = 10) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - t)


def run_memory_worker(name: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--warmup", str(args.warmup),
           "--batch-size", str(args.batch_size), "--seq-len", str(args.seq_len),
           "--threads", str(args.threads), "--genome", args.genome]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"memory worker {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: list[dict], peak: float, reference: dict) -> str:
    lines = [
        "| model | params | step (s), median | min | tokens/s | vs best BERT | peak RSS (MiB) "
        "| RSS over baseline (MiB) | GFLOP/step | achieved GFLOP/s | of matmul | warm-up (s) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        gflops = r["flops_per_step"] / r["step_s"] / 1e9
        lines.append(
            f"| {r['model']} | {r['params'] / 1e6:.2f} M | {r['step_s']:.3f} "
            f"| {r['step_min_s']:.3f} | {r['tokens_per_s']:,.0f} "
            f"| {r['tokens_per_s'] / reference['tokens_per_s']:.2f}x "
            f"| {r['peak_rss_mib']:.0f} | {r['peak_rss_mib'] - r['baseline_rss_mib']:.0f} "
            f"| {r['flops_per_step'] / 1e9:.1f} | {gflops:.1f} | {100 * gflops * 1e9 / peak:.0f} % "
            f"| {r['warmup_s']:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="sciPT,bert-sdpa,bert-eager",
                        help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--genome", default=next((str(p) for p in GENOMES if p.exists()), None),
                        help="FASTA the k-mer batches are cut from (default: phage lambda)")
    parser.add_argument("--worker", choices=MODELS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.genome is None or not Path(args.genome).is_file():
        where = args.genome or ", ".join(map(str, GENOMES))
        parser.error(f"--genome: FASTA file not found ({where})")
    if min(args.steps, args.batch_size, args.threads) < 1 or args.warmup < 0 or args.seq_len < 3:
        parser.error("--steps, --batch-size, --threads must be >= 1, --warmup >= 0, "
                     "--seq-len >= 3")
    if args.worker:
        print(json.dumps(memory_worker(args)))
        return
    models = args.models.split(",")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"--models: unknown model '{unknown[0]}' "
                     f"(expected some of {', '.join(MODELS)})")
    import torch

    load_before = os.getloadavg()
    memory = {}
    for name in models:
        print(f"peak memory of {name} (fresh process) ...", file=sys.stderr, flush=True)
        memory[name] = run_memory_worker(name, args)
    print("throughput (all models, interleaved) ...", file=sys.stderr, flush=True)
    results, matmul = throughput(models, args)
    load_after = os.getloadavg()
    for r in results:
        r.update(memory[r["model"]])
    peak = statistics.median(matmul)
    berts = [r for r in results if r["model"].startswith("bert")]
    reference = max(berts, key=lambda r: r["tokens_per_s"]) if berts else results[0]
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, {args.threads} threads, torch "
          f"{torch.__version__}; batch {args.batch_size} x {args.seq_len} tokens, {args.warmup} "
          f"warm-up + {args.steps} timed steps per model, interleaved")
    print(f"# fp32 2048^3 matmul between steps: median {peak / 1e9:.1f} GFLOP/s "
          f"(min {min(matmul) / 1e9:.1f}, max {max(matmul) / 1e9:.1f}); load average "
          f"before/after {load_before[0]:.2f}/{load_after[0]:.2f}")
    print(table(results, peak, reference))
    for r in results:
        if r is not reference:
            # Steps run back to back share the machine's load: the ratio least hurt by it.
            ratios = [b / a for a, b in zip(r["times"], reference["times"])]
            print(f"# {r['model']} vs {reference['model']}, step by step: median "
                  f"{statistics.median(ratios):.2f}x (range {min(ratios):.2f}-{max(ratios):.2f}x)")


if __name__ == "__main__":
    main()
