"""Regenerate the generated parts of ``benchmarks/RESULTS*.md`` from ``benchmarks/results/*.json``.

A page holds prose written by people and tables written by this script. A generated block sits
between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->`` and is replaced by
``RENDERERS[NAME](results)``, where ``results`` maps each results file's stem to its parsed JSON.
Nothing inside a block is typed by hand; running the script twice changes nothing (a test checks it).

The figures in :data:`FIGURES` are drawn from the same results: written (when their bytes change)
by a plain run, drawn in memory and compared with the committed PNG by ``--check``, which writes
nothing and names a figure that draws differently (failing on it with ``--figures`` only: a PNG's
bytes also depend on the matplotlib and FreeType versions, which a fresh environment may not share). A ``generated`` or ``end`` marker without its partner (renamed, deleted, nested) is an
error in both modes, so a block cannot silently turn into unchecked prose.

    python benchmarks/report.py           # rewrite the pages and the figures
    python benchmarks/report.py --check   # write nothing; exit 1 if a page is stale (--figures: or a figure)
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.S)
MARKER = re.compile(r"<!--\s*(?:generated|end)\s*:.*?-->", re.S)


def load_results(folder: Path = RESULTS) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def provenance_line(record: dict) -> str:
    p = record["provenance"]
    cpu = p["cpu"]
    vector = "/".join(cpu["vector_extensions"]) or "no AVX2"
    load = f"load {p['load_before'][0]:.1f} before, {p.get('load_after', [float('nan')])[0]:.1f} after"
    dirty = " (uncommitted changes)" if p.get("dirty") else ""
    return (
        f"`{p['command']}` at commit `{p['commit'][:10]}`{dirty}, {p['date'][:10]}; {cpu['model']}, "
        f"{cpu['cores']} cores ({vector}); Python {p['python']}, torch {p['versions'].get('torch', '?')}; "
        f"{load}."
    )


def render_startup(results: dict[str, dict]) -> str:
    record = results["startup"]
    lines = [
        f"Measured by {provenance_line(record)} Median of {record['repeats']} runs, each in a fresh "
        "interpreter after one unmeasured run.",
        "",
        "| command | median wall (s) | target (s) | | largest imports (cumulative, s) |",
        "|---|---|---|---|---|",
    ]
    for row in record["commands"]:
        target = row["target_s"]
        verdict = "" if target is None else ("met" if row["median_s"] < target else "**missed**")
        imports = ", ".join(f"{i['module']} {i['cumulative_us'] / 1e6:.2f}" for i in row["imports"][:4])
        lines.append(
            f"| `{row['command']}` | {row['median_s']:.2f} | {target if target is not None else '-'} "
            f"| {verdict} | {imports} |"
        )
    return "\n".join(lines) + "\n"


# block name -> its renderer: a function here, or "module:function" of a benchmark script in this
# folder (imported only when its block is rendered, so report.py needs none of their libraries)
RENDERERS: dict[str, Callable[[dict[str, dict]], str] | str] = {
    "startup": render_startup,
    "mlm-throughput": "mlm_throughput:render",
    "pretrain-curve": "pretrain_curve:render",
    "surrogate-summary": "surrogate_calibration:render_summary",
    "surrogate-calibration": "surrogate_calibration:render",
    "surrogate-targets": "surrogate_calibration:render_targets",
    "surrogate-extrapolation": "surrogate_calibration:render_extrapolation",
    "surrogate-validation": "surrogate_calibration:render_validation",
    "surrogate-library-coverage": "surrogate_calibration:render_library_coverage",
    "surrogate-issue-targets": "surrogate_calibration:render_issue_targets",
    "surrogate-prandtl": "surrogate_prandtl:render",
    "contamination-summary": "contamination_ipromoter:render_summary",
    "contamination": "contamination_ipromoter:render",
    "corpus-throughput": "corpus_throughput:render",
    "promoter-nested": "promoter_nested:render",
    "promoter-transfer": "promoter_transfer:render",
    "forgetting": "forgetting:render",
    "streaming-throughput": "streaming_throughput:render",
    "distillation": "distillation:render",
}


# scale-out (issue 15): the GPU check, and activation checkpointing / torch.compile on the CPU
RENDERERS["gpu-check"] = "gpu_check:render"
RENDERERS["checkpoint-compile"] = "checkpoint_compile:render"
# DNA (issue 12): the promoter fine-tuning head
RENDERERS["promoter-design"] = "promoter_design:render"
RENDERERS["promoter-transfer-conv"] = "promoter_transfer:render_conv_head"
RENDERERS["promoter-transfer-45min"] = "promoter_transfer:render_shared_encoder"
RENDERERS["promoter-transfer-shared"] = "promoter_transfer:render_shared_pretraining"
RENDERERS["promoter-naturalness"] = "promoter_naturalness:render"
RENDERERS["promoter-transfer-naturalness"] = "promoter_transfer:render_naturalness"
RENDERERS["promoter-transfer-naturalness-per-seed"] = "promoter_transfer:render_naturalness_per_seed"
RENDERERS["promoter-transfer-head-warmup"] = "promoter_transfer:render_head_warmup"
RENDERERS["promoter-transfer-head-warmup-per-seed"] = "promoter_transfer:render_head_warmup_per_seed"
RENDERERS["promoter-transfer-head-composition"] = "promoter_transfer:render_head_composition"
RENDERERS["promoter-recipe-composition"] = "promoter_recipe:render_composition"
RENDERERS["promoter-recipe-kmer-stack"] = "promoter_recipe:render_kmer_stack"
RENDERERS["promoter-recipe-cnn-stack"] = "promoter_recipe:render_cnn_stack"
RENDERERS["promoter-recipe-shift"] = "promoter_recipe:render_shift"
RENDERERS["promoter-recipe-adapt"] = "promoter_recipe:render_adapt"
RENDERERS["promoter-transfer-kmer-stack"] = "promoter_transfer:render_kmer_stack"
RENDERERS["promoter-transfer-cnn-stack"] = "promoter_transfer:render_cnn_stack"
RENDERERS["promoter-transfer-shift"] = "promoter_transfer:render_shift"
RENDERERS["promoter-long"] = "promoter_long:render"
RENDERERS["promoter-long-cnn-stack"] = "promoter_long:render_cnn_stack"
RENDERERS["promoter-user"] = "promoter_user:render"
RENDERERS["promoter-user-45min"] = "promoter_user:render_shared_encoder"
RENDERERS["promoter-user-tiny-45k"] = "promoter_user:render_tiny_45k"
RENDERERS["promoter-user-gc-45min"] = "promoter_user:render_shared_encoder_gc"
RENDERERS["promoter-user-gc-clean"] = "promoter_user:render_clean_gc"
RENDERERS["promoter-transfer-head-composition-per-seed"] = (
    "promoter_transfer:render_head_composition_per_seed"
)
# force fields (issues 11 and 13): accuracy against CPU time, against MACE
RENDERERS["forcefield-vs-mace"] = "forcefield_vs_mace:render"
RENDERERS["forcefield-vs-mace-summary"] = "forcefield_vs_mace:render_summary"
RENDERERS["forcefield-profile"] = "forcefield_vs_mace:render_profile"
# force fields (issue 13): the preset a time budget defaults to
RENDERERS["forcefield-presets"] = "forcefield_presets:render"
# DNA (issue 12): the pre-training design, and accuracy against pre-training compute
RENDERERS["promoter-pretrain-design"] = "promoter_pretrain_design:render"
RENDERERS["promoter-budget"] = "promoter_budget:render"
# DNA: linear probes of the frozen encoders against pre-training compute
RENDERERS["promoter-probe"] = "promoter_probe:render"
# DNA: near copies kept together in the baselines' inner splits, against exact copies only
RENDERERS["promoter-inner-splits"] = "promoter_inner_splits:render"
# surrogates (issue 14): what the guard's leave-one-out sees at n points, against its kept fits
RENDERERS["surrogate-guard-n"] = "surrogate_guard_n:render"
# DNA (issue 12): linear probes of frozen encoders trained on sigma-70, tested on the other sigma factors
RENDERERS["promoter-probe-transfer"] = "promoter_probe_transfer:render"
# DNA (issue 12): the fine-tuning recipe at few labels (an epoch of at least N steps)
RENDERERS["promoter-recipe"] = "promoter_recipe:render"
# force fields (issue 13): EWC with the Fisher's blocks, beside the diagonal
RENDERERS["forgetting-blocks"] = "forgetting:render_blocks"
RENDERERS["forgetting-blocks-all"] = "forgetting:render_blocks_all"
# force fields (issue 13): the new head trained alone first (LP-FT), then EWC with the Fisher's blocks
RENDERERS["forgetting-warmup"] = "forgetting:render_warmup"
# force fields (issue 13): EWC's Fisher at w0 plus a running estimate along the fine-tuning path
RENDERERS["forgetting-online"] = "forgetting:render_online"
# force fields (issue 13): the peer, MACE's multihead replay fine-tuning on the same split
RENDERERS["forgetting-mace"] = "forgetting_mace:render"


# figure file in this folder -> ("module:function", results stem): the function, called with that
# results file's record (with the whole results map where the stem is None), returns the PNG's bytes
# (None: nothing to draw for that record). Each draws with ``metadata={"Software": None}``, so the
# bytes depend on the results (and matplotlib's version) alone.
FIGURES: dict[str, tuple[str, str | None]] = {
    "tiny_10min_loss.png": ("pretrain_curve:figure", "pretrain_curve"),
    "forgetting.png": ("forgetting:figure_png", "forgetting"),
    "forgetting_warmup.png": ("forgetting:figure_png", "forgetting_warmup"),
    "forgetting_online.png": ("forgetting:figure_png", "forgetting_online"),
    "promoter_transfer.png": ("promoter_transfer:transfer_figure_png", None),
    "promoter_budget.png": ("promoter_budget:figure_png", "promoter_budget"),
    "forcefield_vs_mace.png": ("forcefield_vs_mace:figure_png", "forcefield_vs_mace"),
}


def _function(spec: str) -> Callable:
    module, function = spec.split(":")
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return getattr(importlib.import_module(module), function)


def draw_figure(name: str, results: dict[str, dict]) -> bytes | None:
    """The bytes of the figure ``name`` (a key of :data:`FIGURES`) drawn from ``results``."""
    spec, stem = FIGURES[name]
    return _function(spec)(results if stem is None else results[stem])


def unmatched_markers(text: str) -> list[str]:
    """Every ``generated`` / ``end`` marker of ``text`` that does not open or close a block
    :data:`BLOCK` matches (a renamed or deleted partner, a marker inside another block)."""
    paired = set()
    for match in BLOCK.finditer(text):
        paired.update((match.start(1), match.start(4)))
    return [m.group(0) for m in MARKER.finditer(text) if m.start() not in paired]


def renderer(name: str) -> Callable[[dict[str, dict]], str]:
    found = RENDERERS.get(name)
    if found is None:
        raise SystemExit(f"report.py: no renderer for the generated block '{name}'")
    if isinstance(found, str):
        found = _function(found)
    return found


def render_page(text: str, results: dict[str, dict]) -> str:
    def replace(match: re.Match) -> str:
        return match.group(1) + renderer(match["name"])(results) + match.group(4)

    return BLOCK.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page is stale")
    parser.add_argument(
        "--figures",
        action="store_true",
        help="with --check: a figure that draws differently is stale too (PNG bytes also depend on "
        "the matplotlib version)",
    )
    args = parser.parse_args(argv)
    results = load_results()
    pages = {page: page.read_text() for page in sorted(HERE.glob("RESULTS*.md"))}
    broken = [f"{page.name}: {marker}" for page, text in pages.items() for marker in unmatched_markers(text)]
    if broken:
        print("report.py: markers without their partner:\n  " + "\n  ".join(broken), file=sys.stderr)
        return 1
    stale = []
    for page, text in pages.items():
        new = render_page(text, results)
        if new != text:
            stale.append(page.name)
            if not args.check:
                page.write_text(new)
    undrawn, redrawn = [], []
    for name in FIGURES:
        data = draw_figure(name, results)
        if data is None:
            undrawn.append(name)
            continue
        path = HERE / name
        if not path.is_file() or path.read_bytes() != data:
            redrawn.append(name)
            if not args.check:
                tmp = path.with_name(f".{name}.tmp")
                tmp.write_bytes(data)
                tmp.replace(path)
    if undrawn:
        print(f"report.py: nothing to draw (not checked): {', '.join(undrawn)}", file=sys.stderr)
    if args.check and redrawn:
        # a PNG's bytes also depend on matplotlib's and FreeType's versions: a fresh environment
        # with a newer matplotlib must not fail the pages' check, so figures fail it on request only
        print(
            f"report.py: figures that draw differently here: {', '.join(redrawn)} (redraw them with "
            "python benchmarks/report.py if their results changed)",
            file=sys.stderr,
        )
        if args.figures:
            stale += redrawn
    if args.check and stale:
        print(f"report.py: out of date: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
