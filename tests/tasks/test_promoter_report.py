"""The promoter report's verdict lines (:mod:`sciPT.tasks.promoter_report`)."""

from sciPT.tasks.promoter_report import flag_lines


def test_flag_lines_on_the_human_promoter_numbers():
    """Per-fold MCC shaped like the held-out human promoter run (0.109 / 0.297 / 0.537)."""
    mcc = {
        "pre-trained": [0.10, 0.13, 0.09, 0.12, 0.11],
        "scratch": [0.29, 0.31, 0.28, 0.30, 0.31],
        "k-mer LR": [0.54, 0.52, 0.55, 0.53, 0.54],
    }
    assert flag_lines(mcc, 1000)[:4] == [
        "- **Behind the k-mer baseline: pre-trained**: MCC 0.110 ± 0.007 vs 0.536 ± 0.005, "
        "per-fold difference -0.426 ± 0.012, beyond 2 SE.",
        "- **Behind the k-mer baseline: scratch**: MCC 0.298 ± 0.006 vs 0.536 ± 0.005, "
        "per-fold difference -0.238 ± 0.010, beyond 2 SE.",
        "- **Negative transfer**: the pre-trained start is behind scratch: MCC 0.110 ± 0.007 vs "
        "0.298 ± 0.006, per-fold difference -0.188 ± 0.004, beyond 2 SE.",
        "- **Recommended for this data size** (1000 sequences): k-mer LR, because it has the best mean "
        "MCC (0.536) and is the simplest model run.",
    ]
    # the same pre-trained model with a fold spread as wide as its mean: near chance, flagged first
    mcc["pre-trained"] = [0.30, -0.10, 0.25, -0.05, 0.15]
    assert flag_lines(mcc, 1000)[0] == (
        "- **Near chance: pre-trained**: cross-validated MCC 0.110 ± 0.080 (mean ± standard error over "
        "5 folds) is not 2 standard errors above zero; it has learnt nothing measurable from these data."
    )
