"""Masked-model training throughput and peak memory: sciPT's encoder against Hugging Face BERT.

The models (``--models``, see ``DESCRIPTIONS``): sciPT (its MLM head and last block computed at
the masked positions only), the ablation ``sciPT-no-subset`` (head at the masked positions only,
last block everywhere), the stock ``BertForMaskedLM`` (``bert-sdpa``, ``bert-eager``: the head at
every position, the loss at the masked ones), and the fair baseline ``bert-sdpa-masked`` (also
``bert-eager-masked``): the same BertForMaskedLM module, its encoder (``BertModel``) run in full
and its MLM head (``BertOnlyMLMHead``) applied only to the hidden states gathered at the masked
positions. The stock and masked-head BERTs compute the same loss; the script asserts it (the loss
and every gradient on batch 0, the stock model's weights copied into the masked-head one). So the
speed-up splits into design (stock BERT -> masked-head BERT: work skipped), implementation
(masked-head BERT -> sciPT-no-subset) and the last-layer subset (-> sciPT: work skipped).

All have the shape of the ``small`` DNA preset: overlapping 6-mer tokens (4096 k-mers +
5 specials = 4101), width 256, 4 layers, 4 heads, FFN 1024, 512 tokens, dropout 0. They train on
the same batches (windows of the phage lambda genome, the same masks from the same seeded
generator), fp32, with the same AdamW settings, each initialised after ``torch.manual_seed(--seed)``
(so the BERT variants start from the same weights); a step is forward, backward and optimiser step.

Peak memory: each model trains (warm-up plus two steps) in a fresh subprocess that first imports
the same libraries (torch, transformers, sciPT), so the peak resident memory (``ru_maxrss``) of one
model is not polluted by the other and all start from the same baseline. The workers run first,
while the parent is small (Linux carries a parent's peak RSS over fork + exec into the child's
``ru_maxrss``); each also records its own ``VmHWM``, which exec resets, as a cross-check.

Throughput: the models train in one process, one step each in turn (the order rotating every
step), so that on a shared machine they all see the same background load; each model's median
step time is reported. sciPT's timed step includes its own masking (it masks on the fly); BERT
gets its corrupted batches prepared outside the timer, as a data collator would.

Training FLOPs per step (matmuls only; backward = 2 x forward), with N = B * L tokens,
W = 4 D^2 + 2 D F the weights of one block's matmuls (QKV, output, FFN), S the selected tokens:

    BERT:  3 * [ 2 N n_layers W  +  4 n_layers B L^2 D  +  2 N (D^2 + D V) ]
    masked-head BERT, sciPT-no-subset: the same with 2 S (D^2 + D V) for the head
    sciPT: 3 * [ 2 N (n_layers - 1) W  +  4 (n_layers - 1) B L^2 D           (full blocks)
                 + 2 N 2D^2 + 2 S (2 D^2 + 2 D F) + 4 S L D                  (last block: K, V
                 + 2 S (D^2 + D V) ]                                            of all, rest at S)

(the attention term counts Q K^T and A V). Achieved FLOP/s is compared with a 2048^3 fp32
matmul on the same threads, timed between the steps (its median is reported, so it also records
the machine's state during the run).

Raw results (every step time, loss, peak memory, the check, provenance) go to
``benchmarks/results/<--results-name>.json``; :func:`render` turns them into the tables of
RESULTS.md (``benchmarks/report.py`` calls it; importing this module imports no torch).

Run::

    python benchmarks/mlm_throughput.py --steps 20 --warmup 2
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

VOCAB, K, N_SPECIAL = 4101, 6, 5  # [PAD]=0 [CLS]=1 [SEP]=2 [MASK]=3 [UNK]=4, then k-mers
PAD, CLS, SEP, MASK = 0, 1, 2, 3
D, LAYERS, HEADS, FF = 256, 4, 4, 1024
REPO = Path(__file__).resolve().parents[1]
GENOMES = [REPO / "data_recipes" / "dna" / "phage_lambda.fa"]
DESCRIPTIONS = {
    "sciPT": "sciPT encoder, head and last block at the masked positions only",
    "sciPT-compiled": "sciPT, torch.compile",
    "sciPT-no-subset": "sciPT, head at the masked positions only, last block everywhere (ablation)",
    "bert-sdpa-masked": "BertModel + BertOnlyMLMHead at the masked positions only, SDPA",
    "bert-eager-masked": "BertModel + BertOnlyMLMHead at the masked positions only, eager",
    "bert-sdpa": "BertForMaskedLM, SDPA attention",
    "bert-eager": "BertForMaskedLM, eager attention",
}
MODELS = tuple(DESCRIPTIONS)
DEFAULT_MODELS = ("sciPT", "sciPT-no-subset", "bert-sdpa-masked", "bert-sdpa", "bert-eager")
ABLATIONS = {
    "sciPT-no-subset": "sciPT with supports_select hidden: its last block runs at every "
    "position, the head still at the masked ones only"
}
OPTIMIZER = {"lr": 1e-4, "weight_decay": 0.01}
MATMUL_N, MATMUL_REPEATS = 2048, 2


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

    return MaskedLM(
        MaskedConfig(),
        hidden_size,
        VOCAB,
        mask_id=MASK,
        pad_id=PAD,
        special_ids=[PAD, CLS, SEP, MASK, 4],
        normal_ids=range(N_SPECIAL, VOCAB),
    )


def bert_config(name: str, seq_len: int):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=VOCAB,
        hidden_size=D,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=FF,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        max_position_embeddings=seq_len,
        pad_token_id=PAD,
        attn_implementation=name.split("-")[1],
    )


def build(name: str, seq_len: int):
    """``(model, step_fn)``: ``step_fn(batch, generator, prepared)`` returns the loss."""
    import torch

    if name.startswith("sciPT"):
        from sciPT.nn import TransformerConfig, TransformerEncoder

        cfg = TransformerConfig(
            vocab_size=VOCAB,
            d_model=D,
            n_layers=LAYERS,
            n_heads=HEADS,
            d_ff=FF,
            dropout=0.0,
            max_len=seq_len,
            position="rotary",
            pad_id=PAD,
        )
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

    from transformers import BertForMaskedLM

    model = BertForMaskedLM(bert_config(name, seq_len))
    if name.endswith("-masked"):
        # The same module (BertModel encoder, BertOnlyMLMHead with the decoder tied to the word
        # embeddings, same parameters and initialisation), but the head runs only on the hidden
        # states gathered at the selected positions and the loss is taken there: what
        # BertForMaskedLM computes, without the head's work at the positions whose loss is
        # ignored (-100).
        import torch.nn.functional as F

        encoder, head = model.bert, model.cls

        def step(batch, generator, prepared):
            corrupted, labels = prepared
            hidden = encoder(input_ids=corrupted, attention_mask=batch["attention_mask"]).last_hidden_state
            selected = labels != -100
            return F.cross_entropy(head(hidden[selected]), labels[selected])

        return model, step

    def step(batch, generator, prepared):
        corrupted, labels = prepared
        return model(input_ids=corrupted, attention_mask=batch["attention_mask"], labels=labels).loss

    return model, step


class Trainer:
    """One model, its optimiser, and the batches it sees (the same for every model). Every model
    is initialised right after ``torch.manual_seed(seed)``, so the BERT variants start from the
    same weights (and a memory worker trains the weights the throughput run trains)."""

    def __init__(self, name: str, data: Data, seed: int):
        import torch

        self.name, self.data = name, data
        torch.manual_seed(seed)
        self.model, self.step_fn = build(name, data.seq_len)
        self.model.train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), **OPTIMIZER)
        self.params = sum(p.numel() for p in self.model.parameters())

    def step(self, i: int) -> float:
        import torch

        self.optimizer.zero_grad(set_to_none=True)
        loss = self.step_fn(self.data.batches[i], torch.Generator().manual_seed(i), self.data.prepared[i])
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
        self.batches = [
            {"input_ids": ids[i * batch_size : (i + 1) * batch_size], "attention_mask": mask}
            for i in range(n)
        ]
        masker = make_objective(D)
        self.prepared = [
            masker.corrupt(b["input_ids"], mask, torch.Generator().manual_seed(i))
            for i, b in enumerate(self.batches)
        ]
        self.selected = [int((t != -100).sum()) for _, t in self.prepared]


def check_masked_head(name: str, data: Data, seed: int) -> dict:
    """The masked-head BERT ``name`` computes what the stock BertForMaskedLM computes: on the
    same weights (copied from the stock model) and batch 0, the loss and every gradient agree to
    fp32 rounding. Raises AssertionError if they do not."""
    import torch

    stock_name = name.removesuffix("-masked")
    torch.manual_seed(seed)
    stock, stock_step = build(stock_name, data.seq_len)
    masked, masked_step = build(name, data.seq_len)
    masked.load_state_dict(stock.state_dict())
    tied = masked.cls.predictions.decoder.weight is masked.bert.embeddings.word_embeddings.weight
    losses, grads = [], []
    for model, step in ((stock, stock_step), (masked, masked_step)):
        model.train()
        model.zero_grad(set_to_none=True)
        loss = step(data.batches[0], torch.Generator().manual_seed(0), data.prepared[0])
        loss.backward()
        losses.append(float(loss.detach()))
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    # Gradients: elementwise within rtol of each other, plus an atol relative to the largest
    # gradient (the key biases' gradients are zero in exact arithmetic, rounding noise in both);
    # also the relative distance of all the gradients together.
    rtol, atol = 1e-4, 1e-6 * max(float(g.abs().max()) for g in grads[0].values())
    close = all(torch.allclose(grads[1][n], g, rtol=rtol, atol=atol) for n, g in grads[0].items())
    diff = sum(float((grads[1][n] - g).square().sum()) for n, g in grads[0].items()) ** 0.5
    norm = sum(float(g.square().sum()) for g in grads[0].values()) ** 0.5
    record = {
        "model": name,
        "reference": stock_name,
        "batch": 0,
        "loss": losses[1],
        "reference_loss": losses[0],
        "loss_abs_diff": abs(losses[1] - losses[0]),
        "grad_rel_diff": diff / norm,
        "grads_allclose": close,
        "same_parameters": sorted(grads[0]) == sorted(grads[1]),
        "decoder_tied_to_embeddings": tied,
        "tolerance": {"loss_rel": 1e-5, "grad_rtol": rtol, "grad_atol": atol},
    }
    assert tied and record["same_parameters"], record
    assert record["loss_abs_diff"] <= 1e-5 * abs(losses[0]), (
        f"{name}: loss {losses[1]!r} at step 0, {stock_name} {losses[0]!r} on the same weights"
    )
    assert close, f"{name}: gradients differ from {stock_name}'s (relative distance {diff / norm:.1e})"
    return record


def memory_worker(args) -> dict:
    """Runs in a fresh process: peak resident memory of training ``args.worker``."""
    import torch
    import transformers  # noqa: F401  (same imports in every worker: same memory baseline)

    import sciPT.nn  # noqa: F401

    torch.set_num_threads(args.threads)
    data = Data(args.genome, args.warmup + 2, args.batch_size, args.seq_len)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trainer = Trainer(args.worker, data, args.seed)
    for i in range(args.warmup + 2):
        trainer.step(i)
    return {
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "baseline_rss_mib": baseline,
        "peak_vm_hwm_mib": vm_hwm_mib(),  # this process's own peak (not carried over exec)
        "memory_steps": args.warmup + 2,
    }


def vm_hwm_mib() -> float | None:
    """``VmHWM`` of /proc/self/status (Linux): the peak resident memory of this process image."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def throughput(models: list[str], data: Data, args) -> tuple[list[dict], list[float]]:
    """Train all ``models`` in this process, interleaved step by step; also time the matmul."""
    import torch

    torch.set_num_threads(args.threads)
    trainers, warmup, warmup_losses = [], {}, {}
    for name in models:
        trainer = Trainer(name, data, args.seed)
        t = time.perf_counter()
        warmup_losses[name] = [trainer.step(i) for i in range(args.warmup)]
        warmup[name] = time.perf_counter() - t
        trainers.append(trainer)
    times = {name: [] for name in models}
    losses = {name: [] for name in models}
    order = []
    matmul = []
    for k, i in enumerate(range(args.warmup, args.warmup + args.steps)):
        print(f"step {k + 1}/{args.steps}", file=sys.stderr, flush=True)
        shift = k % len(trainers)
        order.append([t.name for t in trainers[shift:] + trainers[:shift]])
        for trainer in trainers[shift:] + trainers[:shift]:
            t = time.perf_counter()
            losses[trainer.name].append(trainer.step(i))
            times[trainer.name].append(time.perf_counter() - t)
        matmul.append(matmul_flops(args.threads, n=MATMUL_N, repeats=MATMUL_REPEATS))
    selected = sum(data.selected[args.warmup :]) / args.steps
    tokens = args.batch_size * args.seq_len
    results = []
    for trainer in trainers:
        name = trainer.name
        step_s = statistics.median(times[name])
        results.append(
            {
                "model": name,
                "description": DESCRIPTIONS[name],
                "params": trainer.params,
                "step_s": step_s,
                "step_min_s": min(times[name]),
                "tokens_per_s": tokens / step_s,
                "flops_per_step": train_flops(
                    args.batch_size,
                    args.seq_len,
                    selected,
                    sparse_head=name.startswith("sciPT") or name.endswith("-masked"),
                    last_layer_subset=name in ("sciPT", "sciPT-compiled"),
                ),
                "warmup_s": warmup[name],
                "warmup_losses": warmup_losses[name],
                "losses": losses[name],
                "times": times[name],
            }
        )
    return results, matmul, order


def train_flops(
    batch: int, seq_len: int, selected: float, sparse_head: bool, last_layer_subset: bool
) -> float:
    """The formulas of the module docstring: BERT (neither option), masked-head BERT and the
    ``sciPT-no-subset`` ablation (head at the selected positions only), sciPT (both)."""
    tokens = batch * seq_len
    block = 4 * D * D + 2 * D * FF
    attention = 4 * batch * seq_len**2 * D
    head = 2 * (selected if sparse_head else tokens) * (D * D + D * VOCAB)
    if not last_layer_subset:
        return 3 * (2 * tokens * LAYERS * block + LAYERS * attention + head)
    full = 2 * tokens * (LAYERS - 1) * block + (LAYERS - 1) * attention
    last = 2 * tokens * 2 * D * D + 2 * selected * (2 * D * D + 2 * D * FF) + 4 * selected * seq_len * D
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
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        name,
        "--warmup",
        str(args.warmup),
        "--batch-size",
        str(args.batch_size),
        "--seq-len",
        str(args.seq_len),
        "--threads",
        str(args.threads),
        "--genome",
        args.genome,
        "--seed",
        str(args.seed),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"memory worker {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _sha256(path: str) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------ report


def _paired(a: dict, b: dict) -> str:
    """Median (range) over the timed steps of b's step time / a's: a's speed-up over b, step by
    step (the two ran back to back, under the same load)."""
    ratios = [tb / ta for ta, tb in zip(a["times"], b["times"], strict=True)]
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x)"


def render(results: dict, name: str = "mlm_throughput") -> str:
    """The markdown tables of RESULTS.md from ``results[name]`` (the JSON this script writes)."""
    record = results[name]
    try:  # report.py's provenance line, when report.py is importable (it is beside this file)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from report import provenance_line

        measured = f"Measured by {provenance_line(record)}"
    except ImportError:
        measured = f"Measured by `{record['provenance']['command']}`."
    shape, run = record["shape"], record["run"]
    models = {r["model"]: r for r in record["models"]}
    berts = [m for m in models if m.startswith("bert")]
    matmul = statistics.median(record["matmul_gflops"])
    lines = [
        measured,
        f"Shape: vocabulary {shape['vocab_size']:,}, width {shape['d_model']}, {shape['n_layers']} "
        f"layers, {shape['n_heads']} heads, FFN {shape['d_ff']}, dropout {shape['dropout']}, "
        f"{shape['precision']}, batch {shape['batch_size']} x {shape['seq_len']} tokens; "
        f"{run['threads']} thread{'s' * (run['threads'] != 1)}; {run['warmup']} warm-up + "
        f"{run['steps']} timed steps per model, interleaved; median step. fp32 "
        f"{record['matmul']['n']}^3 matmul between the steps: median {matmul:.1f} GFLOP/s.",
        "",
        "| model | | params | step (s), median | tokens/s | "
        + " | ".join(f"vs {b}" for b in berts)
        + " | peak RSS (MiB) | over baseline (MiB) | GFLOP/step | GFLOP/s | of matmul |",
        "|---|---|--:|--:|--:|" + "--:|" * len(berts) + "--:|--:|--:|--:|--:|",
    ]
    for m, r in models.items():
        gflops = r["flops_per_step"] / r["step_s"] / 1e9
        ratios = " | ".join(f"{r['tokens_per_s'] / models[b]['tokens_per_s']:.2f}x" for b in berts)
        lines.append(
            f"| `{m}` | {r['description']} | {r['params'] / 1e6:.2f} M | {r['step_s']:.3f} "
            f"| {r['tokens_per_s']:,.0f} | {ratios} | {r['peak_rss_mib']:.0f} "
            f"| {r['peak_rss_mib'] - r['baseline_rss_mib']:.0f} | {r['flops_per_step'] / 1e9:.1f} "
            f"| {gflops:.1f} | {100 * gflops / matmul:.0f} % |"
        )
    # The speed-up over stock BERT-SDPA, factor by factor: each row's ratio of median tokens/s,
    # so the factors multiply to the total exactly; step by step, the median paired ratio.
    chain = [("design: MLM head at the masked positions only", "bert-sdpa", "bert-sdpa-masked")]
    if "sciPT-no-subset" in models:
        chain += [
            ("implementation", "bert-sdpa-masked", "sciPT-no-subset"),
            ("design: last block at the masked positions only", "sciPT-no-subset", "sciPT"),
        ]
    else:
        chain += [
            (
                "implementation (includes the last block at the masked positions only)",
                "bert-sdpa-masked",
                "sciPT",
            )
        ]
    chain.append(("total", "bert-sdpa", "sciPT"))
    rows = [(label, a, b) for label, a, b in chain if a in models and b in models]
    if rows:
        lines += [
            "",
            "| factor | from | to | tokens/s ratio | step by step, median (range) |",
            "|---|---|---|--:|--:|",
        ]
        for label, a, b in rows:
            ratio = models[b]["tokens_per_s"] / models[a]["tokens_per_s"]
            bold = "**" if label == "total" else ""
            lines.append(
                f"| {bold}{label}{bold} | {a} | {b} | {bold}{ratio:.2f}x{bold} "
                f"| {_paired(models[b], models[a])} |"
            )
    for c in record.get("equivalence", []):
        lines += [
            "",
            f"Check (asserted): {c['model']} and {c['reference']} on the same weights "
            f"and batch {c['batch']}: loss {c['loss']:.6f} and {c['reference_loss']:.6f} "
            f"(difference {c['loss_abs_diff']:.1e}); gradients at relative distance "
            f"{c['grad_rel_diff']:.1e}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed of every model")
    parser.add_argument(
        "--models", default=",".join(DEFAULT_MODELS), help=f"comma-separated, from {', '.join(MODELS)}"
    )
    parser.add_argument(
        "--genome",
        default=next((str(p) for p in GENOMES if p.exists()), None),
        help="FASTA the k-mer batches are cut from (default: phage lambda)",
    )
    parser.add_argument("--results-name", default="mlm_throughput", help="write benchmarks/results/NAME.json")
    parser.add_argument("--worker", choices=MODELS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.genome is None or not Path(args.genome).is_file():
        where = args.genome or ", ".join(map(str, GENOMES))
        parser.error(f"--genome: FASTA file not found ({where})")
    if min(args.steps, args.batch_size, args.threads) < 1 or args.warmup < 0 or args.seq_len < 3:
        parser.error("--steps, --batch-size, --threads must be >= 1, --warmup >= 0, --seq-len >= 3")
    if args.worker:
        print(json.dumps(memory_worker(args)))
        return
    models = args.models.split(",")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"--models: unknown model '{unknown[0]}' (expected some of {', '.join(MODELS)})")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import torch
    from provenance import finish, provenance, write_results

    record = {"provenance": provenance(argv)}
    # The memory workers first, while this process is small: Linux carries the peak RSS of a
    # process over fork + exec into the child's ru_maxrss.
    memory = {}
    for name in models:
        print(f"peak memory of {name} (fresh process) ...", file=sys.stderr, flush=True)
        memory[name] = run_memory_worker(name, args)
    torch.set_num_threads(args.threads)
    data = Data(args.genome, args.warmup + args.steps, args.batch_size, args.seq_len)
    equivalence = []
    for name in models:
        if name.endswith("-masked"):
            print(f"checking {name} against {name.removesuffix('-masked')} ...", file=sys.stderr, flush=True)
            equivalence.append(check_masked_head(name, data, args.seed))
    print("throughput (all models, interleaved) ...", file=sys.stderr, flush=True)
    results, matmul, order = throughput(models, data, args)
    for r in results:
        r.update(memory[r["model"]])
    genome = Path(args.genome).resolve()
    record.update(
        {
            "shape": {
                "vocab_size": VOCAB,
                "k": K,
                "d_model": D,
                "n_layers": LAYERS,
                "n_heads": HEADS,
                "d_ff": FF,
                "dropout": 0.0,
                "precision": "fp32",
                "batch_size": args.batch_size,
                "seq_len": args.seq_len,
                "tokens_per_step": args.batch_size * args.seq_len,
                "positions": {"sciPT": "rotary", "bert": "learned absolute"},
            },
            "optimizer": {"name": "AdamW", **OPTIMIZER},
            "run": {
                "steps": args.steps,
                "warmup": args.warmup,
                "threads": args.threads,
                "models": models,
                "order": order,
                "timing": "one step of each model in turn, the order rotating every step; "
                "sciPT's step includes its masking, BERT's batches are corrupted "
                "beforehand",
                "memory": "peak ru_maxrss (and VmHWM) of a fresh process training warm-up + 2 steps",
            },
            "data": {
                "genome": str(genome.relative_to(REPO)) if genome.is_relative_to(REPO) else str(genome),
                "sha256": _sha256(args.genome),
                "selected_per_step": data.selected,
            },
            "seeds": {
                "init": args.seed,
                "masks": "batch i: torch.Generator().manual_seed(i)",
                "mask_seeds_timed": list(range(args.warmup, args.warmup + args.steps)),
            },
            "matmul": {"n": MATMUL_N, "repeats": MATMUL_REPEATS, "dtype": "fp32"},
            "matmul_gflops": [f / 1e9 for f in matmul],
            "equivalence": equivalence,
            "ablations": {m: ABLATIONS[m] for m in models if m in ABLATIONS},
            "models": results,
        }
    )
    path = write_results(args.results_name, finish(record))
    print(f"wrote {path}", file=sys.stderr)
    print(render({args.results_name: record}, args.results_name))


if __name__ == "__main__":
    main()
