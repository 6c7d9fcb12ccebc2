"""The promoter classifier: the fine-tunes of a start (:mod:`.promoter_start`) and what sits on
their output; trained by :func:`train_classifier` (written to disk and read back by :mod:`.promoter_export`).

Likelihood fusion. A start pre-trained with a masked objective brings its masked-model head, and
the pre-trained model's own likelihood of a sequence (:mod:`sciPT.naturalness`) is added to the
fine-tuned classifier's logit by a logistic regression fitted on the early-stopping split (when it
holds at least 20 sequences of each class; ``--no-naturalness`` turns it off). It is kept only where
it improves that split's fit beyond chance (likelihood ratio against the logit alone at least
``naturalness_min_ratio``, 3.841: p = 0.05), since it costs 16 encoder passes per sequence at
prediction. Scratch has no such score. The report gives the fitted weights and the ratio, and says
why when the fusion is off.

Stacking. A k-mer logistic regression's logit, then the baseline CNN's, are stacked onto the
classifier's (:meth:`Classifier.stack_kmers`, :meth:`Classifier.stack_cnns`), each kept only where
it improves the early-stopping split's fit beyond chance; :mod:`.promoter_stacking` says how.

Ensembles. Every model (in each fold, for every start, and the final export) is the mean probability
of ``ensemble`` fine-tunes (default 3) that differ in their seed and in the 10% of the training data
each holds out for early stopping. Scratch gets the same, so the comparison stays like for like; the
cost is ``ensemble`` times one fine-tune.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from sciPT.classification import fit_classifier, predict_proba
from sciPT.config import to_dict
from sciPT.diagnostics.overlap import NearCopies
from sciPT.domains.dna.cnn import CNNScore
from sciPT.domains.dna.data import COMPLEMENT, DNA_SPEC, LabelledSequences
from sciPT.domains.dna.kmer import KmerScore
from sciPT.naturalness import Fusion, NaturalnessScorer, fit_fusion
from sciPT.nn.classifier import ClassifierHead, HeadConfig, ProbabilityEnsemble, SequenceClassifier
from sciPT.splits import grouped_split
from sciPT.stacking import Stack, enough_of_each_class, fit_stack
from sciPT.tokenizers import SequenceTokenizer
from sciPT.trainer import TrainConfig

from .promoter_config import early_stopping_size, near_copies
from .promoter_stacking import cnn_score, kmer_score

if TYPE_CHECKING:
    from .promoter_config import PromoterConfig
    from .promoter_start import Start


# --- models -------------------------------------------------------------------------------------
def build_head(cfg: HeadConfig, backbone: torch.nn.Module, tokenizer, n_tokens: int) -> ClassifierHead:
    """The classifier head of ``backbone``: strand-invariant when the encoder is reverse-complement
    equivariant (:mod:`sciPT.nn.strands`), reading the tokens too with ``head.tokens``."""
    invariant = bool(getattr(backbone, "rc_equivariant", False))
    return ClassifierHead(
        cfg,
        backbone.hidden_size,
        n_tokens,
        strand_invariant=invariant,
        vocab_size=tokenizer.vocab_size,
        complement_ids=backbone.cfg.complement_ids if invariant else None,
    )


def crop(codes: list[np.ndarray], length: int) -> list[np.ndarray]:
    """Each sequence longer than ``length`` cut to its central ``length`` residues (shorter ones are
    left as they are: the tokenizer pads them)."""
    out = []
    for c in codes:
        if len(c) > length:
            start = (len(c) - length) // 2
            c = c[start : start + length]
        out.append(c)
    return out


def length_note(codes: list[np.ndarray], length: int) -> str | None:
    """How many of ``codes`` the classifier reads cropped to their central ``length`` bp and how many
    padded to it (:func:`crop`), as a clause to follow a file's name; ``None`` where every one is
    ``length`` long. The probability of an 81-bp sequence that is that of its central 57 bp says so."""
    cropped = sum(len(c) > length for c in codes)
    padded = sum(len(c) < length for c in codes)
    if not cropped and not padded:
        return None
    what = (
        [f"{cropped} cropped to {'its' if cropped == 1 else 'their'} central {length} bp"] if cropped else []
    )
    what += [f"{padded} shorter padded to {length} bp"] if padded else []
    return (
        f"the model reads {length} bp (the length it was fine-tuned on): of {len(codes)} "
        f"sequence{'s' if len(codes) != 1 else ''}, {' and '.join(what)}"
    )


class Classifier:
    """A fine-tuned classifier with what it needs to predict: tokenizer, lengths, strand option,
    and, where fitted, the pre-trained model's likelihood fused into its output (``fusion``)."""

    def __init__(
        self,
        model: SequenceClassifier | ProbabilityEnsemble,
        tokenizer: SequenceTokenizer,
        length: int,
        strand_symmetric: bool,
        naturalness: NaturalnessScorer | None = None,
        fusion: Fusion | None = None,
        kmer: KmerScore | None = None,
        stack: Stack | None = None,
        cnn: CNNScore | None = None,
        cnn_stack: Stack | None = None,
    ):
        self.model, self.tokenizer, self.length = model, tokenizer, length
        self.strand_symmetric = strand_symmetric
        self.naturalness, self.fusion = naturalness, fusion
        # the fusion as fitted, kept in ``fusion`` or not (:meth:`fuse`); None where none was fitted
        self.fitted_fusion = fusion
        # the k-mer model's logit stacked onto the (fused) classifier's, kept in ``stack`` or not
        # (:meth:`stack_kmers`); None where none was fitted
        self.kmer, self.stack = kmer, stack
        self.fitted_stack = stack
        # the CNN's logit stacked on top of that, likewise (:meth:`stack_cnns`)
        self.cnn, self.cnn_stack = cnn, cnn_stack
        self.fitted_cnn_stack = cnn_stack
        # (labels, probabilities through what is kept on top) of the split(s) each model stopped
        # early on, and the fusion and stacks were fitted on (:func:`train_classifier`); None for a
        # classifier read from disk
        self.validation: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def rc_equivariant(self) -> bool:
        """Whether the encoder answers alike on both strands in one pass (what is stacked on it,
        the likelihood, the k-mer and CNN models, reads one strand and must be given both)."""
        return isinstance(self.model, torch.nn.Module) and any(
            getattr(m, "rc_equivariant", False) is True for m in self.model.modules()
        )

    @property
    def max_tokens(self) -> int:
        return self.tokenizer.n_tokens(self.length)

    @property
    def min_residues(self) -> int:
        """The fewest residues that give the encoder a token: ``k`` for overlapping k-mers; a Hugging
        Face tokenizer has no ``k`` and falls back to single residues."""
        return int(getattr(self.tokenizer, "k", 1))

    def strands(self, codes: list[np.ndarray], both: bool | None = None) -> list[list[np.ndarray]]:
        """What the classifier reads of ``codes``: the cropped sequences and, for a strand-symmetric
        run (or ``both``), the cropped reverse complements."""
        out = [crop(codes, self.length)]
        if self.strand_symmetric if both is None else both:
            # complemented before the crop: a centred crop of a sequence longer than the length by
            # an odd number is not the reverse complement of its reverse complement's crop, so
            # complementing the crop would give a sequence and its reverse complement two answers
            out.append(crop([COMPLEMENT[c[::-1]] for c in codes], self.length))
        return out

    def predict(
        self,
        codes: list[np.ndarray],
        batch_size: int = 256,
        *,
        fusion: Fusion | Literal["kept"] | None = "kept",
        stack: Stack | Literal["kept"] | None = "kept",
        cnn_stack: Stack | Literal["kept"] | None = "kept",
    ) -> np.ndarray:
        """Promoter probabilities ``[N]``: the ensemble's, through ``fusion``: the kept one
        (:attr:`fusion`, the default), another (:attr:`fitted_fusion`, whether kept or not), or
        ``None``: the classifier alone; then through ``stack`` likewise (:attr:`stack`,
        :attr:`fitted_stack` or ``None``), then through ``cnn_stack`` likewise. ``codes``: one
        uint8 array of nucleotide codes per sequence (``sciPT.domains.dna.tokenizer.encode``)."""
        if isinstance(codes, str) or any(isinstance(c, str) for c in codes):
            raise TypeError(
                "codes: expected one array of nucleotide codes per sequence, got text; encode it "
                "first (sciPT.domains.dna.tokenizer.encode)"
            )
        fusion = self.fusion if fusion == "kept" else fusion
        stack = self.stack if stack == "kept" else stack
        cnn_stack = self.cnn_stack if cnn_stack == "kept" else cnn_stack
        p = self.classifier_proba(self.model, codes, batch_size)
        if fusion is not None:
            p = fusion(p, self.naturalness_scores(codes, batch_size))
        if stack is not None:
            p = stack(p, self.stacked_score(self.kmer, codes))
        if cnn_stack is not None:
            p = cnn_stack(p, self.stacked_score(self.cnn, codes))
        return np.asarray(p, dtype=np.float32)

    def classifier_proba(self, model, codes: list[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """``model``'s probabilities before any fusion (``model``: the ensemble or one member)."""
        strands = [
            predict_proba(model, self.tokenizer, s, max_tokens=self.max_tokens, batch_size=batch_size)
            for s in self.strands(codes)
        ]
        return np.mean(strands, axis=0).astype(np.float32)

    def side_strands(self, codes: list[np.ndarray]) -> list[list[np.ndarray]]:
        """What a model beside the classifier reads of ``codes`` (the likelihood, the stacked k-mer
        and CNN models): both strands where the prediction must not depend on the strand, a
        strand-symmetric run or an rc-equivariant encoder."""
        return self.strands(codes, both=self.strand_symmetric or self.rc_equivariant)

    def naturalness_scores(self, codes: list[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """The pre-trained model's pseudo-log-likelihood of each sequence ``[N]`` (nats per token),
        cropped like the predictions; where the prediction is strand-symmetric, the mean over both
        strands (:meth:`side_strands`)."""
        scores = []
        for strand in self.side_strands(codes):
            out = []
            for i in range(0, len(strand), batch_size):
                batch = self.tokenizer.batch(strand[i : i + batch_size], self.max_tokens)
                out.append(self.naturalness(batch["input_ids"], batch["attention_mask"]).numpy())
            scores.append(np.concatenate(out) if out else np.zeros(0, dtype=np.float32))
        return np.mean(scores, axis=0)

    def fuse(self, scorer: NaturalnessScorer, held_out: list, seed: int, min_ratio: float) -> list:
        """Fit :attr:`fitted_fusion` on ``held_out``: ``[(model, LabelledSequences)]``, each set held
        out from that model's fit (a member and its early-stopping split, or the ensemble and a split
        all members stopped on), and keep it as :attr:`fusion` if its likelihood ratio reaches
        ``min_ratio``; below :data:`sciPT.stacking.MIN_PER_CLASS` none is fitted. Returns each held-out
        set's probabilities through the kept fusion (what the stacks are fitted on: the likelihood
        costs 16 encoder passes per sequence, so it is not scored twice)."""
        self.naturalness = scorer
        probabilities = [self.classifier_proba(m, v.codes) for m, v in held_out]
        scores = [self.naturalness_scores(v.codes) for _, v in held_out]
        labels = np.concatenate([v.labels for _, v in held_out])
        self.fitted_fusion = fit_fusion(np.concatenate(probabilities), np.concatenate(scores), labels, seed)
        kept = self.fitted_fusion is not None and self.fitted_fusion.likelihood_ratio >= min_ratio
        self.fusion = self.fitted_fusion if kept else None
        if self.fitted_fusion is None:
            self.naturalness = None
        if self.fusion is None:
            return probabilities
        return [self.fusion(p, s) for p, s in zip(probabilities, scores)]

    def stacked_score(self, scorer: KmerScore | CNNScore, codes: list[np.ndarray]) -> np.ndarray:
        """A stacked model's logit on ``codes`` ``[N]``, cropped like the predictions; where the
        prediction is strand-symmetric, the mean over both strands (:meth:`side_strands`), so the
        stacked prediction stays so."""
        return np.mean([np.asarray(scorer(s), dtype=np.float64) for s in self.side_strands(codes)], axis=0)

    def fused_proba(self, model, codes: list[np.ndarray]) -> np.ndarray:
        """``model``'s probabilities through the kept fusion (what the stacks are fitted on)."""
        p = self.classifier_proba(model, codes)
        return p if self.fusion is None else self.fusion(p, self.naturalness_scores(codes))

    def stack_kmers(
        self,
        held_out: list,
        seed: int,
        min_ratio: float,
        probabilities: list | None = None,
        near: NearCopies | None = None,
    ) -> list:
        """Fit :attr:`fitted_stack` on ``held_out``: ``[(model, fit set, held-out set)]``, a k-mer
        logistic regression fitted on each fit set scoring its held-out set, beside ``model``'s
        probabilities on it (with the kept fusion; ``probabilities`` where already computed); keep
        it as :attr:`stack` if its likelihood ratio reaches ``min_ratio``. :attr:`kmer` is the mean
        of those k-mer logits. Returns the probabilities on each held-out set through the kept
        stack. Below :data:`sciPT.stacking.MIN_PER_CLASS` of a class none is fitted. ``near``: the
        regressions' choice of C keeps near copies in one fold (exact copies only without it)."""
        if probabilities is None:
            probabilities = [self.fused_proba(m, v.codes) for m, _, v in held_out]
        scorers = [kmer_score(crop(fit.codes, self.length), fit.labels, seed, near) for _, fit, _ in held_out]
        self.fitted_stack = self._fit_stack(held_out, probabilities, scorers, seed)
        if self.fitted_stack is None:
            return probabilities
        self.kmer = KmerScore.mean(scorers)
        kept = self.fitted_stack.likelihood_ratio >= min_ratio
        self.stack = self.fitted_stack if kept else None
        return self._through(self.stack, held_out, probabilities, scorers)

    def stack_cnns(
        self,
        held_out: list,
        seed: int,
        min_ratio: float,
        min_steps: int,
        probabilities: list | None = None,
        near: NearCopies | None = None,
    ) -> list:
        """:meth:`stack_kmers` with the baseline CNN (each fitted on its fit set, epochs of at
        least ``min_steps`` batches, its early-stopping split keeping ``near`` copies together) in
        place of the k-mer regression, on top of the kept k-mer stack: :attr:`fitted_cnn_stack`,
        :attr:`cnn_stack` and :attr:`cnn`."""
        if probabilities is None:
            probabilities = [self.stacked_proba(m, fit, v, seed, near) for m, fit, v in held_out]
        scorers = [
            cnn_score(crop(fit.codes, self.length), fit.labels, seed, self.length, min_steps, near)
            for _, fit, _ in held_out
        ]
        self.fitted_cnn_stack = self._fit_stack(held_out, probabilities, scorers, seed)
        if self.fitted_cnn_stack is None:
            return probabilities
        self.cnn = CNNScore([m for scorer in scorers for m in scorer.models])
        kept = self.fitted_cnn_stack.likelihood_ratio >= min_ratio
        self.cnn_stack = self.fitted_cnn_stack if kept else None
        return self._through(self.cnn_stack, held_out, probabilities, scorers)

    def stacked_proba(
        self, model, fit: LabelledSequences, val: LabelledSequences, seed: int, near: NearCopies | None = None
    ) -> np.ndarray:
        """``model``'s probabilities on ``val`` through the kept fusion and the kept k-mer stack,
        its k-mer regression the one fitted on ``fit`` (``model``'s own fit part) with ``seed`` and
        ``near`` (:meth:`stack_kmers`)."""
        p = self.fused_proba(model, val.codes)
        if self.stack is None:
            return p
        kmer = kmer_score(crop(fit.codes, self.length), fit.labels, seed, near)
        return self.stack(p, self.stacked_score(kmer, val.codes))

    def _fit_stack(self, held_out: list, probabilities: list, scorers: list, seed: int) -> Stack | None:
        scores = [self.stacked_score(scorer, val.codes) for scorer, (_, _, val) in zip(scorers, held_out)]
        labels = np.concatenate([v.labels for _, _, v in held_out])
        return fit_stack(np.concatenate(probabilities), np.concatenate(scores), labels, seed)

    def _through(self, stack: Stack | None, held_out: list, probabilities: list, scorers: list) -> list:
        if stack is None:
            return probabilities
        return [
            stack(p, self.stacked_score(scorer, val.codes))
            for p, scorer, (_, _, val) in zip(probabilities, scorers, held_out)
        ]

    @torch.inference_mode()
    def embed(self, codes: list[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """The fine-tuned encoder's embedding of each sequence ``[N, D]`` (mean of its final hidden
        states over real tokens), cropped like the predictions; averaged over the ensemble's
        members and, for a strand-symmetric run, over both strands."""
        model = self.model.eval()
        members = list(model.members) if isinstance(model, ProbabilityEnsemble) else [model]
        strands = self.strands(codes)
        out = []
        for i in range(0, len(codes), batch_size):
            batches = [self.tokenizer.batch(s[i : i + batch_size], self.max_tokens) for s in strands]
            vectors = [
                m.backbone.embed(b["input_ids"], b["attention_mask"]) for m in members for b in batches
            ]
            out.append(torch.stack(vectors).mean(0).float().numpy())
        width = members[0].backbone.hidden_size
        return np.concatenate(out) if out else np.zeros((0, width), dtype=np.float32)


def train_classifier(
    start: Start,
    cfg: PromoterConfig,
    train: LabelledSequences,
    length: int,
    seed: int,
    val: LabelledSequences | None = None,
    progress: str | None = None,
) -> Classifier:
    """Fine-tune ``cfg.ensemble`` classifiers from ``start`` (seeds ``seed + 1000 m``) and average
    their probabilities; ``val`` defaults to a stratified part of ``train``, a different one for
    each member, so that together the members learn from every training sequence.

    ``progress``: the name of a progress bar over the fine-tunes and the fits on top of them (the
    final model's, a minute or more of silence otherwise); none by default, for the fits that a
    cross-validation's own bar counts. The classifier's :attr:`Classifier.validation` holds the
    labels and predictions of the split(s) it stopped early on."""
    fusion = cfg.naturalness and start.has_masked_head
    total = cfg.ensemble + int(fusion) + int(cfg.kmer_stack) + int(cfg.cnn_stack)
    with tqdm(total=total, desc=progress, unit="fit", disable=progress is None) as bar:
        fits = []
        for m in range(cfg.ensemble):
            bar.set_postfix_str(f"fine-tune {m + 1} of {cfg.ensemble}")
            fits.append(fit_member(start, cfg, train, length, seed + 1000 * m, val))
            bar.update()
        members = [member for member, _, _ in fits]
        model = members[0] if len(members) == 1 else ProbabilityEnsemble(members).eval()
        classifier = Classifier(model, start.tokenizer, length, cfg.strand_symmetric)
        # the fusion and each stack are fitted where every model they score did not train: a split all
        # members stopped on, by the ensemble, or each member's own early-stopping split, by that member
        held_out = [(model, train, val)] if val is not None else fits
        labels = np.concatenate([v.labels for _, _, v in held_out])
        probabilities = None
        if fusion:
            bar.set_postfix_str("likelihood fusion")
            probabilities = classifier.fuse(
                start.naturalness_scorer(), [(m, v) for m, _, v in held_out], seed, cfg.naturalness_min_ratio
            )
            bar.update()
        if probabilities is None:
            probabilities = [classifier.fused_proba(m, v.codes) for m, _, v in held_out]
        # too few to fit a stack on: no k-mer regression or CNN to fit either
        if enough_of_each_class(labels) and cfg.kmer_stack:
            bar.set_postfix_str("k-mer stack")
            probabilities = classifier.stack_kmers(
                held_out, seed, cfg.kmer_stack_min_ratio, probabilities, near_copies(cfg)
            )
        bar.update(int(cfg.kmer_stack))
        if enough_of_each_class(labels) and cfg.cnn_stack:
            bar.set_postfix_str("CNN stack")
            min_steps = cfg.min_steps_per_epoch
            probabilities = classifier.stack_cnns(
                held_out, seed, cfg.cnn_stack_min_ratio, min_steps, probabilities, near_copies(cfg)
            )
        bar.update(int(cfg.cnn_stack))
        bar.set_postfix_str("", refresh=False)  # the bar's last line says it is done, not its last step
    classifier.validation = (labels, np.concatenate(probabilities))
    return classifier


def fit_member(
    start: Start,
    cfg: PromoterConfig,
    train: LabelledSequences,
    length: int,
    seed: int,
    val: LabelledSequences | None = None,
) -> tuple[SequenceClassifier, LabelledSequences, LabelledSequences]:
    """One fine-tune from ``start``; returns it, the part it was fitted on and the split it stopped
    early on."""
    if val is None:
        n_val = early_stopping_size(cfg, len(train))
        # copies (either strand) and near copies on one side: early stopping judges sequences the
        # fit has not seen
        keys = near_copies(cfg).groups(train.codes, COMPLEMENT, DNA_SPEC.alphabet.n_core)
        fit_idx, val_idx = grouped_split(keys, train.labels, n_val, seed)
        train, val = train.subset(fit_idx), train.subset(val_idx)
    backbone = start.backbone(seed)
    max_tokens = start.tokenizer.n_tokens(length)
    head = build_head(cfg.head, backbone, start.tokenizer, max_tokens)
    train_cfg = TrainConfig(**{**to_dict(cfg.train), "schedule": cfg.train.schedule, "seed": seed})
    min_steps = cfg.min_steps_per_epoch
    if train_cfg.max_steps is not None:
        # early stopping reads the validation at an epoch's end: an epoch drawn past the last step
        # never reaches it
        min_steps = min(min_steps, train_cfg.max_steps)
    return (
        fit_classifier(
            backbone,
            head,
            start.tokenizer,
            (crop(train.codes, length), train.labels),
            (crop(val.codes, length), val.labels),
            train_cfg=train_cfg,
            finetune=start.finetune or cfg.finetune,
            max_epochs=cfg.max_epochs,
            patience=cfg.patience,
            max_tokens=max_tokens,
            extras=start.extras,
            min_steps_per_epoch=min_steps,
            max_shift=cfg.shift,
        ).model,
        train,
        val,
    )
