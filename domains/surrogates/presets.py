"""Named surrogate pre-training configurations.

Pre-training a surrogate is a closed-form fit (:mod:`.pretrain`), so the presets differ only in
which simple systems the prior is learnt from and how densely each is sampled:

- ``tiny``: every system, 100 points each (tests).
- ``small``: every system, 400 points each; what ``scipt finetune surrogate --init all`` builds.
- ``base``: every system, 2,000 points each.
- ``flat-plate`` / ``smooth-pipe`` / ``rough-pipe`` / ``bluff-body``: one family, 400 points per
  system.
- ``smooth``: the two smooth-wall families (the library before rough walls were added).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sciPT.trainer import TrainConfig


@dataclass
class SurrogatePretrainConfig:
    """What a surrogate prior is learnt from.

    Attributes:
        systems: correlation keys or families (``all``, ``smooth``, ``flat-plate``, ``smooth-pipe``,
            ``rough-pipe``, ``bluff-body``).
        points_per_system: samples drawn from each correlation over its validity range.
        noise: relative scatter added to each sample (log-normal sd of Nu; 0.05 is 5 %).
        group_sd: prior sd of a geometric ratio's exponent (no pre-training system has one).
        train: only ``train.seed`` is used (the sampling seed); the rest is there because every
            domain config carries the shared training block. The fit is closed-form, with no
            steps: ``max_steps`` and ``max_time`` do not apply (a time budget bounds nothing here).
    """

    systems: list[str] = field(default_factory=lambda: ["all"])
    points_per_system: int = 400
    noise: float = 0.05
    group_sd: float = 0.5
    train: TrainConfig = field(default_factory=lambda: TrainConfig(max_steps=1))


def tiny() -> SurrogatePretrainConfig:
    return SurrogatePretrainConfig(points_per_system=100)


def small() -> SurrogatePretrainConfig:
    return SurrogatePretrainConfig()


def base() -> SurrogatePretrainConfig:
    return SurrogatePretrainConfig(points_per_system=2000)


def flat_plate() -> SurrogatePretrainConfig:
    return SurrogatePretrainConfig(systems=["flat-plate"])


def smooth_pipe() -> SurrogatePretrainConfig:
    return SurrogatePretrainConfig(systems=["smooth-pipe"])


def rough_pipe() -> SurrogatePretrainConfig:
    return SurrogatePretrainConfig(systems=["rough-pipe"])


def bluff_body() -> SurrogatePretrainConfig:
    return SurrogatePretrainConfig(systems=["bluff-body"])


def smooth() -> SurrogatePretrainConfig:
    return SurrogatePretrainConfig(systems=["smooth"])


PRESETS = {
    "tiny": tiny,
    "small": small,
    "base": base,
    "flat-plate": flat_plate,
    "smooth-pipe": smooth_pipe,
    "rough-pipe": rough_pipe,
    "bluff-body": bluff_body,
    "smooth": smooth,
}
