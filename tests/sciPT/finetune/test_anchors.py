"""L2-SP and EWC (:mod:`sciPT.finetune.anchors`): penalties against hand computations, the Fisher's
blocks, and the decoupled anchor's proximal step."""

from __future__ import annotations

import pytest
import torch

from sciPT.errors import ConfigError
from sciPT.finetune import EWC, L2SP, AnchorPenalty, FinetuneConfig, FinetuneModule, build_strategy


def test_l2sp_penalty_is_zero_at_reference_and_matches_hand_computation(backbone):
    strategy = build_strategy(FinetuneConfig(strategy="l2sp", l2sp_alpha=0.3), backbone)
    assert strategy.penalty(backbone).item() == 0.0
    with torch.no_grad():
        backbone.embed.weight += 0.5  # 12 entries moved by 0.5
        backbone.blocks[0][0].bias -= 2.0  # 4 entries moved by -2
    penalty = strategy.penalty(backbone)
    assert penalty.item() == pytest.approx(0.3 / 2 * (12 * 0.5**2 + 4 * 2.0**2), rel=1e-6)
    penalty.backward()
    # d/dw alpha/2 (w - w0)^2 = alpha (w - w0)
    assert torch.allclose(backbone.embed.weight.grad, torch.full((4, 3), 0.3 * 0.5))
    assert torch.allclose(backbone.blocks[0][0].bias.grad, torch.full((4,), 0.3 * -2.0))
    assert torch.equal(backbone.blocks[1][0].weight.grad, torch.zeros(4, 4))


def test_l2sp_reference_is_the_weights_at_build_time(backbone):
    strategy = build_strategy(FinetuneConfig(strategy="l2sp", l2sp_alpha=1.0), backbone)
    with torch.no_grad():
        backbone.embed.bias.fill_(1.0)
    moved = strategy.penalty(backbone).item()
    fresh = build_strategy(FinetuneConfig(strategy="l2sp", l2sp_alpha=1.0), backbone)
    assert moved > 0 and fresh.penalty(backbone).item() == 0.0


def test_ewc_penalty_zero_at_pretrained_quadratic_and_fisher_weighted(toy_fisher, backbone):
    strategy = build_strategy(
        FinetuneConfig(strategy="ewc", ewc_lambda=2.0), backbone, fisher=dict(toy_fisher)
    )
    assert strategy.penalty(backbone).item() == 0.0
    w0 = backbone.embed.weight.detach().clone()
    values = []
    for t in (1.0, 2.0, 3.0):
        with torch.no_grad():
            backbone.embed.weight.copy_(w0)
            backbone.embed.weight[0, 0] += 0.1 * t
        values.append(strategy.penalty(backbone).item())
    # lambda/2 * F * delta^2 = 2/2 * 4 * (0.1 t)^2
    assert values == pytest.approx([0.04, 0.16, 0.36], rel=1e-5)
    with torch.no_grad():
        backbone.embed.weight.copy_(w0)
        backbone.blocks[0][0].weight[1, 2] += 0.1  # same move, Fisher 1 instead of 4
    assert strategy.penalty(backbone).item() == pytest.approx(0.01, rel=1e-5)


def test_ewc_with_column_blocks_couples_the_weights_of_one_unit(toy_fisher, backbone):
    fisher = dict(toy_fisher)
    block = 4.0 * torch.eye(4)
    block[0, 1] = block[1, 0] = 3.0  # rows 0 and 1 of a column move the unit's output together
    blocks = {"embed.weight": (block.expand(3, 4, 4).clone(), 0)}  # [4, 3] read along axis 0: 3 units
    strategy = build_strategy(
        FinetuneConfig(strategy="ewc", ewc_lambda=2.0), backbone, fisher=fisher, fisher_blocks=blocks
    )
    assert strategy.penalty(backbone).item() == 0.0
    w0 = backbone.embed.weight.detach().clone()
    penalties = {}
    for sign in (1.0, -1.0):
        with torch.no_grad():
            backbone.embed.weight.copy_(w0)
            backbone.embed.weight[0, 0] += 0.1
            backbone.embed.weight[1, 0] += 0.1 * sign
        penalties[sign] = strategy.penalty(backbone).item()
    # lambda/2 d^T B d = (0.01 (4 + 4) +- 2 * 0.01 * 3): the diagonal alone would give 0.08 for both
    assert penalties == pytest.approx({1.0: 0.14, -1.0: 0.02}, rel=1e-5)
    with torch.no_grad():
        backbone.embed.weight.copy_(w0)
        backbone.blocks[0][0].weight[1, 2] += 0.1  # a weight without blocks keeps its diagonal
    assert strategy.penalty(backbone).item() == pytest.approx(0.01, rel=1e-5)


def test_ewc_blocks_refusals(toy_fisher, backbone):
    fisher = dict(toy_fisher)
    with pytest.raises(ConfigError) as err:
        build_strategy(
            FinetuneConfig(strategy="ewc", anchor="decoupled"),
            backbone,
            fisher=fisher,
            fisher_blocks={"embed.weight": (torch.eye(4).expand(3, 4, 4), 0)},
        )
    assert str(err.value) == (
        "finetune.anchor: 'decoupled' takes a proximal step per weight and cannot use the "
        "Fisher's blocks; use anchor 'loss'"
    )
    with pytest.raises(ConfigError) as err:
        build_strategy(
            FinetuneConfig(strategy="ewc"),
            backbone,
            fisher=fisher,
            fisher_blocks={"embed.weight": (torch.eye(3), 0)},
        )
    assert str(err.value) == (
        "finetune: the Fisher block of 'embed.weight' has shape (3, 3), expected (3, 4, 4) for a "
        "weight of shape (4, 3) read along axis 0"
    )


def test_decoupled_ewc_takes_the_exact_proximal_step_after_the_optimizer(toy_fisher, backbone):
    cfg = FinetuneConfig(strategy="ewc", ewc_lambda=2.0, anchor="decoupled")
    strategy = build_strategy(cfg, backbone, fisher=dict(toy_fisher))
    coupled = build_strategy(
        FinetuneConfig(strategy="ewc", ewc_lambda=2.0), backbone, fisher=dict(toy_fisher)
    )
    w0 = {n: p.detach().clone() for n, p in backbone.named_parameters()}
    with torch.no_grad():
        for p in backbone.parameters():
            p += 0.3
    # reported like the loss-mode penalty, but without a gradient: it is not in the loss
    penalty = strategy.penalty(backbone)
    assert not penalty.requires_grad
    assert penalty.item() == pytest.approx(coupled.penalty(backbone).item(), rel=1e-6)
    strategy.after_optimizer_step(backbone, lr=0.1)
    moved = {n: p.detach() - w0[n] for n, p in backbone.named_parameters()}
    # w0 + (w - w0) / (1 + lr * lambda * F): F = 4, 1 and 0.5 here
    assert torch.allclose(moved["embed.weight"], torch.full((4, 3), 0.3 / (1 + 0.1 * 2 * 4)))
    assert torch.allclose(moved["blocks.0.0.weight"], torch.full((4, 4), 0.3 / (1 + 0.1 * 2 * 1)))
    assert torch.allclose(moved["embed.bias"], torch.full((4,), 0.3 / (1 + 0.1 * 2 * 0.5)))
    coupled.after_optimizer_step(backbone, lr=0.1)  # the loss-mode strategy leaves weights alone
    assert torch.equal(backbone.embed.weight.detach() - w0["embed.weight"], moved["embed.weight"])


def test_a_stiff_decoupled_anchor_holds_the_weights_where_adam_makes_them_jitter(
    backbone, head, loader, fit, toy
):
    w0 = {n: p.detach().clone() for n, p in backbone.named_parameters()}
    fisher = {n: torch.ones_like(p) for n, p in backbone.named_parameters()}
    drift = {}
    for anchor in ("loss", "decoupled"):
        with torch.no_grad():
            for n, p in backbone.named_parameters():
                p.copy_(w0[n])
        cfg = FinetuneConfig(strategy="ewc", ewc_lambda=1e6, anchor=anchor)
        module = FinetuneModule(
            backbone, head, toy.loss, build_strategy(cfg, backbone, fisher=fisher), toy.train_config()
        )
        fit(module, loader)
        drift[anchor] = max((p.detach() - w0[n]).abs().max().item() for n, p in backbone.named_parameters())
    # lr = 0.05: Adam's steps are about lr whatever the penalty's stiffness
    assert drift["loss"] > 0.01
    # each step's displacement, at most about lr, is divided by 1 + lr * 1e6
    assert drift["decoupled"] < 1e-5


@pytest.mark.parametrize("anchor", ["loss", "decoupled"])
def test_a_frozen_weight_is_neither_counted_nor_pulled_back(anchor, toy_fisher, backbone):
    """A weight the user froze cannot be trained back: counting it would inflate the reported
    penalty by a constant, and the decoupled step would move a weight that was meant to stay."""
    cfg = FinetuneConfig(strategy="ewc", ewc_lambda=2.0, anchor=anchor)
    strategy = build_strategy(cfg, backbone, fisher=dict(toy_fisher))
    w0 = {n: p.detach().clone() for n, p in backbone.named_parameters()}
    with torch.no_grad():
        backbone.embed.weight += 0.3  # Fisher 4, frozen below
        backbone.blocks[0][0].bias += 0.2  # Fisher 0.5, trainable
    backbone.embed.weight.requires_grad_(False)
    # lambda/2 * F * delta^2 over the 4 bias entries only
    assert strategy.penalty(backbone).item() == pytest.approx(2.0 / 2 * 4 * 0.5 * 0.2**2, rel=1e-5)
    strategy.after_optimizer_step(backbone, lr=0.1)
    torch.testing.assert_close(backbone.embed.weight.detach(), w0["embed.weight"] + 0.3)
    moved = backbone.blocks[0][0].bias.detach() - w0["blocks.0.0.bias"]
    expected = 0.2 / (1 + 0.1 * 2.0 * 0.5) if anchor == "decoupled" else 0.2
    torch.testing.assert_close(moved, torch.full((4,), expected), rtol=1e-5, atol=1e-6)


def test_decoupled_l2sp_takes_the_proximal_step_with_unit_importance(backbone):
    """``finetune.anchor: decoupled`` must reach L2-SP too, not only EWC: otherwise the penalty
    silently stays in the loss, where Adam makes a stiff anchor jitter."""
    strategy = build_strategy(FinetuneConfig(strategy="l2sp", l2sp_alpha=3.0, anchor="decoupled"), backbone)
    w0 = {n: p.detach().clone() for n, p in backbone.named_parameters()}
    with torch.no_grad():
        backbone.embed.bias += 0.4
    penalty = strategy.penalty(backbone)
    assert not penalty.requires_grad
    assert penalty.item() == pytest.approx(3.0 / 2 * 4 * 0.4**2, rel=1e-5)
    strategy.after_optimizer_step(backbone, lr=0.5)
    # w0 + (w - w0) / (1 + lr * alpha)
    moved = backbone.embed.bias.detach() - w0["embed.bias"]
    torch.testing.assert_close(moved, torch.full((4,), 0.4 / (1 + 0.5 * 3.0)), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(backbone.embed.weight.detach(), w0["embed.weight"])


def test_the_reference_is_a_copy_of_the_weights_handed_in(backbone):
    """A caller that hands in the live parameters as ``w0`` must still be anchored to their values
    at build time; a reference that followed the weights would make the penalty always zero."""
    strategy = L2SP(2.0, dict(backbone.named_parameters()))
    with torch.no_grad():
        backbone.embed.bias += 0.5
    assert strategy.penalty(backbone).item() == pytest.approx(2.0 / 2 * 4 * 0.5**2, rel=1e-5)


def test_ewc_ignores_blocks_of_weights_it_does_not_anchor(toy_fisher, backbone):
    """Blocks exported for a weight outside the anchored set (e.g. a head's) are skipped, not an
    error, and that weight stays unpenalised."""
    reference = {n: p.detach().clone() for n, p in backbone.named_parameters() if n != "embed.weight"}
    fisher = {n: f for n, f in toy_fisher.items() if n != "embed.weight"}
    strategy = EWC(2.0, reference, fisher, blocks={"embed.weight": (torch.eye(4).expand(3, 4, 4), 0)})
    assert strategy.blocked == {}
    with torch.no_grad():
        backbone.embed.weight += 1.0
    assert strategy.penalty(backbone).item() == 0.0


class ThreeAxisWeight(torch.nn.Module):
    """One weight of shape [2, 3, 4], read along axis 0: 3 * 4 units of 2 inputs each."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(2, 3, 4))


def test_ewc_blocks_of_a_weight_with_three_axes_are_read_along_its_input_axis():
    """A weight of more than two axes (a convolution's kernel) must be cut into units along the input
    axis it was exported with: read any other way, a correct export is refused, or the penalty couples
    inputs of different units."""
    model = ThreeAxisWeight()
    block = 2.0 * torch.eye(2)
    block[0, 1] = block[1, 0] = 1.5  # the two inputs of each unit
    blocks = {"w": (block.expand(3, 4, 2, 2).clone(), 0)}  # w.movedim(0, -1): [3, 4, 2]
    reference = {"w": model.w.detach().clone()}
    strategy = EWC(2.0, reference, {"w": torch.ones(2, 3, 4)}, blocks=blocks)
    assert strategy.blocked == {"w": 0}
    with torch.no_grad():
        model.w[0, 1, 2] += 0.1
        model.w[1, 1, 2] += 0.1  # the same unit (1, 2): lambda/2 * 0.01 * (2 + 2 + 2 * 1.5)
    assert strategy.penalty(model).item() == pytest.approx(0.07, rel=1e-5)
    with torch.no_grad():
        model.w.zero_()
        model.w[0, 1, 2] += 0.1
        model.w[0, 1, 3] += 0.1  # two units, input 0 of each: the diagonal alone, 0.01 * (2 + 2)
    assert strategy.penalty(model).item() == pytest.approx(0.04, rel=1e-5)


def test_an_anchor_penalty_is_in_the_loss_by_default(backbone):
    """``loss`` is the documented default anchor: a penalty built without one that came back
    detached would silently stop pulling the weights back."""
    strategy = AnchorPenalty(2.0, {n: p.detach().clone() for n, p in backbone.named_parameters()})
    assert strategy.anchor == "loss"
    with torch.no_grad():
        backbone.embed.bias += 0.5
    penalty = strategy.penalty(backbone)
    assert penalty.requires_grad
    penalty.backward()
    # d/dw strength/2 (w - w0)^2 = strength (w - w0)
    torch.testing.assert_close(backbone.embed.bias.grad, torch.full((4,), 2.0 * 0.5))


@pytest.mark.parametrize("head_warmup", [0, 2])
def test_a_reference_handed_in_is_the_anchor_with_or_without_a_warmup(head_warmup, backbone):
    """``reference`` is the pre-trained ``w0`` (the exported weights): the weights the backbone holds
    at build time are only the fallback, and a head warm-up must hand it to the strategy it wraps."""
    reference = {n: p.detach().clone() for n, p in backbone.named_parameters()}
    reference["embed.bias"] -= 0.5  # the backbone sits 0.5 away from w0 on 4 entries
    cfg = FinetuneConfig(strategy="l2sp", l2sp_alpha=2.0, head_warmup=head_warmup)
    strategy = build_strategy(cfg, backbone, reference=reference)
    anchored = strategy.inner if head_warmup else strategy
    # alpha/2 * 4 * 0.5^2
    assert anchored.penalty(backbone).item() == pytest.approx(2.0 / 2 * 4 * 0.5**2, rel=1e-6)


def test_the_fisher_and_its_blocks_are_copies_of_the_tensors_handed_in(toy_fisher, backbone):
    """The penalty keeps its own importance, sharing no storage with the caller's tensors: a caller
    that reuses them must not change the penalty (nor, the other way, may the online Fisher's in-place
    updates of the penalty's importance reach the caller's loaded Fisher)."""
    fisher = {n: f.clone() for n, f in toy_fisher.items()}
    block = 4.0 * torch.eye(4)
    block[0, 1] = block[1, 0] = 3.0
    blocks = {"embed.weight": (block.expand(3, 4, 4).clone(), 0)}
    strategy = build_strategy(
        FinetuneConfig(strategy="ewc", ewc_lambda=2.0), backbone, fisher=fisher, fisher_blocks=blocks
    )
    fisher["blocks.0.0.weight"].zero_()
    blocks["embed.weight"][0].zero_()
    w0 = {n: p.detach().clone() for n, p in backbone.named_parameters()}
    with torch.no_grad():
        backbone.embed.weight[0, 0] += 0.1
        backbone.embed.weight[1, 0] += 0.1  # one unit, coupled: lambda/2 * 0.01 * (4 + 4 + 2 * 3)
    assert strategy.penalty(backbone).item() == pytest.approx(0.14, rel=1e-5)
    with torch.no_grad():
        backbone.embed.weight.copy_(w0["embed.weight"])
        backbone.blocks[0][0].weight[1, 2] += 0.1  # lambda/2 * F * 0.01 with F = 1, as handed in
    assert strategy.penalty(backbone).item() == pytest.approx(0.01, rel=1e-5)
