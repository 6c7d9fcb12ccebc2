"""Data recipes: small declarative JSON files in ``data_recipes/`` and the builder behind them.

A recipe names its files, where each comes from (a path relative to a source folder of public raw
files), its licence and each file's SHA-256. ``scipt data list`` checks the shipped copies;
``scipt data build NAME --source DIR`` copies each file from ``DIR/<from>`` after verifying every
one, so a corrupted or different download is refused instead of silently used and a failed build
writes nothing. A recipe's ``repository_files`` (licence notices) live only with the package's own data (the
repository, or a wheel's ``sciPT/data_recipes``): checked
by ``data list``, copied from ``data_recipes/`` by ``build``, never read from ``DIR``.

``scipt data decontaminate --corpus GENOME.fa --against EVAL ... --output CLEAN.fa.gz`` writes a copy
of a pre-training corpus with every copy of an evaluation sequence (either strand) masked, and
checks the copy again (:mod:`sciPT.diagnostics.contamination`): where evaluation sequences are still
near in it (shared k-mers in no one copy), it warns; where one is still verbatim, it also exits 1.

``scipt data negatives --positives POS.fa --kind dinucleotide-shuffle|gc-matched [--genome GENOME.fa]
--output NEG.fa --seed N`` writes hard negatives for a set of positives as FASTA, ready for
``scipt finetune ... --negatives NEG.fa`` (:mod:`sciPT.negatives`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from contextlib import ExitStack
from pathlib import Path

from . import io
from .errors import DataError, UserError
from .files import SHIPPED_DIR, file_sha256
from .runconfig import seed

RECIPES_DIR = SHIPPED_DIR


def load_recipes(folder: Path | None = None) -> dict[str, dict]:
    folder = RECIPES_DIR if folder is None else folder
    if not folder.is_dir():
        # an empty list would read as "no data shipped", not as a missing folder
        raise DataError(f"{folder}: no such folder (expected the data recipes, data_recipes/*.json)")
    recipes = {}
    for path in sorted(folder.glob("*.json")):
        recipe = json.loads(path.read_text())
        for key in ("name", "files", "source", "licence"):
            if key not in recipe:
                raise DataError(f"{path}: recipe lacks the key '{key}'")
        recipes[recipe["name"]] = recipe
    return recipes


def status(recipe: dict, folder: Path | None = None) -> str:
    """``ok``, or the first of the recipe's files (shipped or repository-only) that is missing or
    differs from its SHA-256."""
    folder = RECIPES_DIR if folder is None else folder
    for entry in [*recipe["files"], *recipe.get("repository_files", [])]:
        path = folder / entry["path"]
        if not path.is_file():
            return f"missing {entry['path']}"
        if file_sha256(path) != entry["sha256"]:
            return f"hash mismatch {entry['path']}"
    return "ok"


def _check(origin: Path, entry: dict, recipe: dict) -> None:
    try:
        digest = file_sha256(origin)
    except OSError as err:  # no permission, a share gone: one line, not a traceback
        raise UserError(f"{origin}: cannot be read: {err.strerror}") from None
    if digest != entry["sha256"]:
        raise DataError(
            f"{origin}: sha256 {digest[:16]}… differs from the recipe's {entry['sha256'][:16]}… "
            f"(recipe '{recipe['name']}')"
        )


def build(recipe: dict, source: Path, dest: Path | None = None) -> list[Path]:
    """Copy the recipe's files from ``source/<from>`` (and its repository-only files from the
    repository, when ``dest`` is not the repository's folder) to ``dest/<path>``. Every source is
    checked first (present, its SHA-256 the recipe's), then every copy is staged beside its target
    and renamed into place only when all are made: a failed build writes nothing."""
    dest = RECIPES_DIR if dest is None else dest
    name = recipe["name"]
    copies = [(source / entry["from"], entry) for entry in recipe["files"]]
    missing = [origin for origin, _ in copies if not origin.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more of its {len(copies)} files)" if len(missing) > 1 else ""
        if "rebuild" in recipe:
            raise DataError(
                f"{missing[0]}: not found{more}; recipe '{name}' cannot be built from a raw-data "
                f"folder (its sources are its own files): rebuild it with `{recipe['rebuild']}`"
            )
        raise DataError(f"{missing[0]}: raw file of recipe '{name}' not found{more}")
    for origin, entry in copies:
        _check(origin, entry, recipe)
    in_place = dest.resolve() == RECIPES_DIR.resolve()
    for entry in recipe.get("repository_files", []):
        origin = RECIPES_DIR / entry["path"]
        if not origin.is_file():
            raise DataError(f"{origin}: repository file of recipe '{name}' not found")
        _check(origin, entry, recipe)
        if not in_place:
            copies.append((origin, entry))
    targets = [dest / entry["path"] for _, entry in copies]
    try:
        with ExitStack() as stack:  # each copy staged beside its target, all renamed at the end
            for (origin, _), target in zip(copies, targets):
                try:
                    shutil.copyfile(origin, stack.enter_context(io.atomic_path(target)))
                except OSError as err:  # named by its file, not the hidden one it is staged as
                    failed = (
                        f"{origin}: cannot be read"
                        if err.filename == str(origin)
                        else f"{target}: cannot be written"
                    )
                    raise UserError(f"{failed}: {err.strerror}") from None
    except OSError as err:  # the renames at the end
        raise UserError(f"{err.filename or dest}: cannot be written: {err.strerror}") from None
    return targets


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .diagnostics import contamination

    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    ls = sub.add_parser(
        "list",
        help="list the recipes and check the shipped files",
        description="List the recipes of data_recipes/ and check each one's files (shipped and "
        "repository-only) against its SHA-256s; exit status 1 when one is missing or differs.",
    )
    ls.set_defaults(handler=_list)
    b = sub.add_parser(
        "build",
        help="rebuild a recipe's files from public raw files",
        description="Copy a recipe's files from DIR/<from> (each file's 'from' path in "
        "data_recipes/NAME.json) to DEST/<path>, after checking that every one is there with the "
        "recipe's SHA-256: a failed build writes nothing. Files that live only in the repository "
        "(its 'repository_files', such as licence notices) are never read from DIR: they are copied "
        "from data_recipes/ when DEST is another folder. molecules-smiles is not built from raw "
        "data (its sources are its own output and build_smiles.py): rebuild it with "
        "`python data_recipes/molecules/smiles/build_smiles.py`.",
    )
    b.add_argument("name", help="recipe name (see 'scipt data list')")
    b.add_argument(
        "--source",
        required=True,
        metavar="DIR",
        help="folder holding the raw files, read as DIR/<from> (required)",
    )
    b.add_argument(
        "--dest", default=str(RECIPES_DIR), metavar="DEST", help=f"output folder (default: {RECIPES_DIR})"
    )
    b.set_defaults(handler=_build)
    d = sub.add_parser(
        "decontaminate",
        help="mask every copy of evaluation sequences in a pre-training corpus",
        description="Write a copy of a FASTA corpus in which every region matching an evaluation "
        "sequence or its reverse complement (a copy sharing at least --threshold of the "
        "sequence's k-mers, its parts cut by insertions or deletions of up to L (1 - threshold) / "
        "threshold bases, L the sequence's length) is masked with N (X for proteins), then check "
        "the copy again: where evaluation sequences are still near in it (their shared k-mers "
        "scattered over loci none of which is a copy, as over repeats), a warning says how many; "
        "where one is still verbatim, the exit status is also 1.",
    )
    d.add_argument(
        "--corpus", required=True, metavar="GENOME.fa[.gz]", help="FASTA corpus to clean (required)"
    )
    d.add_argument(
        "--against",
        required=True,
        nargs="+",
        metavar="EVAL",
        help="evaluation sequences: FASTA (headers ignored) or CSV/TSV with a 'sequence' column (required)",
    )
    d.add_argument(
        "--output",
        required=True,
        type=io.output_file,
        metavar="CLEAN.fa[.gz]",
        help="the masked copy; gzip if the name ends with .gz (required)",
    )
    d.add_argument("--domain", default="dna", help="sequence domain giving the alphabet (default: dna)")
    d.add_argument(
        "--k",
        type=int,
        help=f"k-mer length (default: {contamination.DEFAULT_K}, or the longest the alphabet packs: "
        f"{contamination.default_k(20)} for proteins)",
    )
    d.add_argument(
        "--threshold",
        type=float,
        default=contamination.DEFAULT_THRESHOLD,
        help="fraction of a sequence's k-mers a copy must share to be masked "
        f"(default: {contamination.DEFAULT_THRESHOLD})",
    )
    d.set_defaults(handler=_decontaminate)
    n = sub.add_parser(
        "negatives",
        help="write hard negatives for positive sequences: dinucleotide shuffles or GC-matched genomic windows",
        description="Write one negative per positive, as FASTA: a dinucleotide-preserving shuffle of it "
        "(Altschul-Erickson), or a window of --genome of its length drawn so that the negatives' GC "
        "histogram equals the positives', away from every copy of a positive (either strand).",
    )
    n.add_argument(
        "--positives",
        required=True,
        metavar="FILE",
        help="positive sequences: FASTA or CSV/TSV with a 'sequence' column; a labelled one (a 'label' "
        "column, or label= in the FASTA headers) gives its records labelled 1 (required)",
    )
    n.add_argument(
        "--kind", required=True, metavar="KIND", help=f"one of: {', '.join(NEGATIVE_KINDS)} (required)"
    )
    n.add_argument(
        "--genome", metavar="GENOME.fa[.gz]", help="FASTA to draw windows from (--kind gc-matched)"
    )
    n.add_argument(
        "--output",
        required=True,
        type=io.output_file,
        metavar="NEG.fa[.gz]",
        help="FASTA of negatives; gzip if the name ends with .gz (required)",
    )
    n.add_argument("--seed", type=seed, default=0, help="random seed (default: 0)")
    n.add_argument(
        "--bins", type=int, default=10, help="GC-content bins of [0, 1] to match (gc-matched; default: 10)"
    )
    n.add_argument("--domain", default="dna", help="nucleic-acid domain giving the alphabet (default: dna)")
    n.set_defaults(handler=_negatives)


NEGATIVE_KINDS = ("dinucleotide-shuffle", "gc-matched")


def _negatives(args: argparse.Namespace) -> int:
    import gzip

    import numpy as np

    from . import negatives
    from .registry import domains
    from .sequence_inputs import alias_note, carries_labels, read_sequences
    from .sequences import Corpus

    if args.kind not in NEGATIVE_KINDS:
        raise UserError(f"--kind: unknown kind '{args.kind}' (expected one of: {', '.join(NEGATIVE_KINDS)})")
    if args.kind == "gc-matched" and not args.genome:
        raise UserError("--kind gc-matched needs --genome FILE (the FASTA to draw windows from)")
    if args.kind != "gc-matched" and args.genome:
        raise UserError(f"--genome is used only with --kind gc-matched, not {args.kind}")
    if args.bins < 1:
        raise UserError(f"--bins: expected a positive number of GC bins, got {args.bins}")
    io.refuse_overwriting(args.output, args.positives, "positives file", "negatives")
    if args.genome:
        io.refuse_overwriting(args.output, args.genome, "genome", "negatives")
    spec = domains.get(args.domain).spec
    if spec is None or spec.complement is None:
        raise UserError(f"--domain: domain '{args.domain}' is not a nucleic-acid domain (no complement)")
    symbols = spec.alphabet.symbols
    if carries_labels(args.positives):
        # a labelled table (the fine-tuning input): its label-0 rows are no positives
        table = read_sequences(args.positives, spec, labelled=True)
        keep = np.flatnonzero(table.labels == 1)
        if not len(keep):
            raise DataError(f"{args.positives}: no record labelled 1 (positive) among {len(table):,}")
        positives = table.subset(keep)
        print(
            f"{args.positives}: labelled; its {len(keep):,} records labelled 1 of {len(table):,} are "
            "the positives",
            file=sys.stderr,
        )
    else:
        positives = read_sequences(args.positives, spec)
    note = alias_note(positives, spec)
    if note:  # what the negatives are made of: an R shuffled as N
        print(f"{note} in the negatives", file=sys.stderr)
    if args.kind == "dinucleotide-shuffle":
        shuffled = negatives.dinucleotide_shuffles(positives.codes, args.seed)
        records = [
            (f"{name}_dishuffle", codes)
            for name, codes, positive in zip(positives.names, shuffled, positives.codes)
            # a sequence whose only shuffle is itself (short, or a repeat) has no negative: a copy
            # labelled 0 would teach the model that this very promoter is none
            if not np.array_equal(codes, positive)
        ]
        if not records:
            # an empty FASTA would be refused later, far from its cause ("file is empty")
            raise DataError(
                f"{args.positives}: none of its {len(positives):,} positives has a dinucleotide shuffle "
                "but itself (too short or too repetitive): no negative to write"
            )
        if len(records) < len(positives):
            print(
                f"{args.positives}: {len(positives) - len(records):,} of {len(positives):,} positives have "
                "no dinucleotide shuffle but themselves (too short or too repetitive): no negative "
                "is written for them",
                file=sys.stderr,
            )
    else:
        corpus = Corpus([args.genome], spec)
        windows = negatives.gc_matched_windows(
            corpus,
            positives.codes,
            gc_codes=[symbols.index("G"), symbols.index("C")],
            seed=args.seed,
            bins=args.bins,
            complement=spec.complement_codes(),
            source=args.genome,
        )
        records = [
            (f"{name}:{start}-{stop}({strand})", codes) for name, start, stop, strand, codes in windows
        ]
    table = np.frombuffer(symbols.encode(), dtype=np.uint8)
    text = "".join(f">{name}\n{table[np.asarray(c)].tobytes().decode()}\n" for name, c in records)
    with io.atomic_path(args.output) as tmp:
        if str(args.output).endswith(".gz"):
            with gzip.open(tmp, "wt", encoding="utf-8") as out:
                out.write(text)
        else:
            tmp.write_text(text, encoding="utf-8")
    print(f"wrote {len(records):,} {args.kind} negatives of {len(positives):,} positives to {args.output}")
    return 0


def _list(args: argparse.Namespace) -> int:
    recipes = load_recipes()
    rows = [
        (
            name,
            status(recipe),
            ", ".join(e["path"] for e in [*recipe["files"], *recipe.get("repository_files", [])]),
            recipe["description"],
        )
        for name, recipe in recipes.items()
    ]
    width = max((len(name) for name, *_ in rows), default=0)
    state = max((len(s) for _, s, *_ in rows), default=0)
    for name, check, files, description in rows:
        print(f"{name:{width}s}  {check:{state}s}  {files}\n{'':{width}s}  {description}")
    failed = [f"{name} ({check})" for name, check, *_ in rows if check != "ok"]
    if failed:
        # a check that failed, not bad input: exit status 1, as a failed run
        print(
            f"scipt: error: {len(failed)} of {len(rows)} recipes fail their check: {', '.join(failed)}; "
            "'scipt data build NAME --source DIR' restores a recipe's files",
            file=sys.stderr,
        )
        return 1
    return 0


def _build(args: argparse.Namespace) -> int:
    recipes = load_recipes()
    if args.name not in recipes:
        raise UserError(f"unknown recipe '{args.name}' (expected one of: {', '.join(recipes)})")
    for path in build(recipes[args.name], Path(args.source), Path(args.dest)):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _decontaminate(args: argparse.Namespace) -> int:
    from .diagnostics import contamination
    from .registry import domains
    from .sequence_inputs import read_sequences
    from .sequences import Corpus

    domain = domains.get(args.domain)
    spec = domain.spec
    if spec is None:
        raise UserError(f"--domain: domain '{args.domain}' has no sequence alphabet to decontaminate")
    # the cleaned copy is read back as FASTA (Biopython) for the check after masking: without it,
    # stop before the work (a cached corpus needs no parser, so the scan and the write would run)
    import Bio.SeqIO  # noqa: F401

    if args.k is None:
        args.k = contamination.default_k(spec.alphabet.n_core)
    contamination.check_parameters(args.k, args.threshold, spec.alphabet.n_core, prefix="--")
    # as pre-training and evaluation refuse them (a DNA genome read as protein: its reverse-complement
    # copies went unmasked)
    domain.check_corpus([args.corpus])
    read = [read_sequences(path, spec) for path in args.against]
    for data in read:
        domain.check_inputs(data)
    sequences = [s for data in read for s in data.codes]
    names = [f"{data.source}: record '{name}'" for data in read for name in data.names]
    counts = contamination.decontaminate(
        args.corpus,
        sequences,
        args.output,
        spec,
        k=args.k,
        threshold=args.threshold,
        names=names,
        k_option="--k",
    )
    n, total = counts["eval_sequences"], counts["corpus_bases"]
    strands = "either strand" if spec.complement else "as given"
    unit = "bases" if spec.complement else "residues"
    print(
        f"before: {counts['verbatim_before']:,} of {n:,} evaluation sequences verbatim in {args.corpus} "
        f"({strands}), {counts['near_before']:,} verbatim or near"
    )
    masked = counts["masked_bases"]
    print(
        f"masked {masked:,} of {total:,} {unit} ({100 * masked / total:.2f}%) in {counts['regions']:,} "
        f"regions, copies of {counts['masked_sequences']:,} evaluation sequences"
    )
    after = contamination.check_contamination(
        sequences, Corpus([args.output], spec), k=args.k, threshold=args.threshold
    )
    summary = after.summary()
    print(
        f"after: {summary['verbatim']:,} verbatim, {summary['near']:,} verbatim or near, "
        f"{summary['clean']:,} clean; wrote {args.output}"
    )
    if summary["near"]:
        # the copy is written, but the check's own measure still finds these: a reader of the last
        # line alone missed it. Scattered k-mers (repeats) are no copy to mask, and the shipped
        # iPromoter-2L sets keep 16 such against E. coli, so only a verbatim one fails the command
        failed = summary["verbatim"] > 0
        print(
            f"scipt: warning: {summary['near']:,} of {n:,} evaluation sequences are still verbatim or "
            f"near in {args.output} ({args.k}-mer similarity >= {args.threshold:g}) but lie in no one "
            "copy (their shared k-mers scattered over repeats, or a copy's parts too far apart): "
            "left unmasked" + ("; exit status 1" if failed else ""),
            file=sys.stderr,
        )
        return int(failed)
    return 0
