"""The Fisher (empirical, Gauss-Newton diagonal and column blocks) against hand computations, and its
storage with an export."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from sciPT.checkpoint import WEIGHTS_NAME, export_model, from_pretrained
from sciPT.errors import DataError, UserError
from sciPT.finetune import (
    FinetuneConfig,
    build_strategy,
    fisher_diagonal,
    fisher_extras,
    gauss_newton_diagonal,
    gauss_newton_fisher,
    load_fisher,
    load_fisher_blocks,
    save_fisher,
)
from sciPT.registry import Domain, domains


@pytest.fixture
def regression():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, generator=g, dtype=torch.float64)
    y = torch.randn(6, generator=g, dtype=torch.float64)
    model = nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5, -1.0, 2.0]]))
    return model, x, y


def squared_errors(model, batch):
    x, y = batch
    return (model(x).squeeze(-1) - y).square()  # one loss per example


def batches_of(x, y, size):
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


def test_linear_model_matches_the_analytic_fisher(regression):
    model, x, y = regression
    w = model.weight.detach()[0]
    r = x @ w - y  # residuals
    g = 2 * r[:, None] * x  # d (w.x_n - y_n)^2 / dw, one row per example
    per_sample = fisher_diagonal(
        model, squared_errors, batches_of(x, y, 2), mode="per-sample", progress=False
    )
    assert torch.allclose(per_sample["weight"][0], g.square().mean(0))
    per_batch = fisher_diagonal(model, squared_errors, batches_of(x, y, 2), mode="per-batch", progress=False)
    batch_grads = g.reshape(3, 2, 3).mean(1)  # gradient of each batch's mean loss
    assert torch.allclose(per_batch["weight"][0], batch_grads.square().mean(0))
    assert not torch.allclose(per_batch["weight"], per_sample["weight"])


def test_per_sample_is_per_batch_with_batches_of_one(regression):
    model, x, y = regression
    per_sample = fisher_diagonal(
        model, squared_errors, batches_of(x, y, 3), mode="per-sample", progress=False
    )
    singletons = fisher_diagonal(model, squared_errors, batches_of(x, y, 1), mode="per-batch", progress=False)
    assert torch.allclose(per_sample["weight"], singletons["weight"])


def test_per_batch_fisher_vanishes_at_the_minimum_per_sample_does_not(regression):
    model, x, y = regression
    with torch.no_grad():  # least squares: the full-data gradient is zero here
        model.weight.copy_(torch.linalg.lstsq(x, y[:, None]).solution.T)
    full_batch = fisher_diagonal(model, squared_errors, [(x, y)], progress=False)
    per_sample = fisher_diagonal(model, squared_errors, [(x, y)], mode="per-sample", progress=False)
    assert full_batch["weight"].abs().max() < 1e-20
    assert per_sample["weight"].min() > 1e-3


def test_max_batches_and_a_scalar_loss(regression):
    model, x, y = regression
    mean_loss = lambda m, b: squared_errors(m, b).mean()  # noqa: E731
    first = fisher_diagonal(model, mean_loss, batches_of(x, y, 2), max_batches=1, progress=False)
    only = fisher_diagonal(model, mean_loss, batches_of(x, y, 2)[:1], progress=False)
    assert torch.equal(first["weight"], only["weight"])


class QuadraticEnergy(nn.Module):
    """E = sum_n sum_d a_d x_nd^2, so forces are F = -dE/dx = -2 a x."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.tensor([0.5, 1.0, -0.25], dtype=torch.float64))

    def forward(self, x):
        return (self.a * x.square()).sum()


def force_loss(model, batch):
    x, f_ref = batch
    x = x.clone().requires_grad_(True)
    forces = -torch.autograd.grad(model(x), x, create_graph=True)[0]
    return (forces - f_ref).square().mean()


def test_fisher_of_a_force_loss_differentiates_through_the_forces():
    g = torch.Generator().manual_seed(1)
    batches = [
        (
            torch.randn(4, 3, generator=g, dtype=torch.float64),
            torch.randn(4, 3, generator=g, dtype=torch.float64),
        )
        for _ in range(3)
    ]
    model = QuadraticEnergy()
    fisher = fisher_diagonal(model, force_loss, batches, progress=False)
    a = model.a.detach()
    expected = torch.zeros(3, dtype=torch.float64)
    for x, f_ref in batches:
        # L = 1/12 sum_{n,d} (-2 a_d x_nd - f_nd)^2
        # dL/da_d = 1/12 sum_n 2 (-2 a_d x_nd - f_nd) (-2 x_nd)
        grad = (2 * (-2 * a * x - f_ref) * (-2 * x)).sum(0) / x.numel()
        expected += grad.square()
    assert torch.allclose(fisher["a"], expected / len(batches))
    assert model.a.grad is None  # the Fisher leaves the model's gradients alone


def test_fisher_of_a_force_loss_matches_finite_differences():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).double()
    energy = lambda x: model(x).sum()  # noqa: E731
    x = torch.randn(4, 3, dtype=torch.float64)
    f_ref = torch.randn(4, 3, dtype=torch.float64)

    def loss(m, batch):
        xb = batch[0].clone().requires_grad_(True)
        forces = -torch.autograd.grad(energy(xb), xb, create_graph=True)[0]
        return (forces - batch[1]).square().mean()

    fisher = fisher_diagonal(model, loss, [(x, f_ref)], progress=False)
    weight, eps = model[0].weight, 1e-6

    def loss_moved(index, step):
        with torch.no_grad():
            weight[index] += step
        value = loss(model, (x, f_ref)).item()
        with torch.no_grad():
            weight[index] -= step
        return value

    for index in [(0, 0), (2, 1), (4, 2)]:
        grad = (loss_moved(index, eps) - loss_moved(index, -eps)) / (2 * eps)
        assert fisher["0.weight"][index].item() == pytest.approx(grad**2, rel=1e-5)


def test_model_mode_is_restored_and_dropout_is_off():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    model.train()
    x = torch.ones(2, 3)
    modes = []

    def loss(m, batch):
        modes.append(m.training)
        return m(batch).sum()

    fisher_diagonal(model, loss, [x, x], progress=False)
    assert modes == [False, False] and model.training


def test_bad_loss_shapes_and_empty_data_are_refused(regression):
    model, x, y = regression
    mean_loss = lambda m, b: squared_errors(m, b).mean()  # noqa: E731
    with pytest.raises(ValueError) as err:
        fisher_diagonal(model, mean_loss, [(x, y)], mode="per-sample", progress=False)
    assert str(err.value) == (
        "fisher_diagonal: mode 'per-sample' needs loss_fn to return one loss "
        "per example, shape (B,), got shape ()"
    )
    with pytest.raises(DataError) as err:
        fisher_diagonal(model, mean_loss, [], progress=False)
    assert str(err.value) == "Fisher diagonal: the data yielded no examples"


class Toy(Domain):
    name = "toy"

    def load_backbone(self, export_config):
        return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


@pytest.fixture
def exported(tmp_path, monkeypatch):
    monkeypatch.setitem(domains._loaded, "toy", Toy())
    torch.manual_seed(3)
    model = Toy().load_backbone({})
    fisher = {n: torch.rand_like(p) for n, p in model.named_parameters()}
    return model, fisher, tmp_path / "model"


def test_fisher_round_trip_through_export_and_from_pretrained(exported):
    model, fisher, model_dir = exported
    export_model(model_dir, model, {"domain": "toy"})
    save_fisher(model_dir, fisher)
    pre = from_pretrained(model_dir.parent)
    loaded = load_fisher(pre.extras)
    assert loaded.keys() == fisher.keys()
    assert all(torch.equal(loaded[k], fisher[k]) for k in fisher)
    for name, p in model.state_dict().items():
        assert torch.equal(pre.model.state_dict()[name], p)
    # the exported weights are the EWC reference: no penalty before fine-tuning moves them
    strategy = build_strategy(FinetuneConfig(strategy="ewc"), pre.model, fisher=loaded)
    assert strategy.penalty(pre.model).item() == 0.0


def test_fisher_written_by_export_model_and_replaced_by_save_fisher(exported):
    model, fisher, model_dir = exported
    weight = fisher["0.weight"]
    blocks = {"0.weight": torch.ones(*weight.movedim(1, -1).shape, weight.shape[1])}
    export_model(
        model_dir, model, {"domain": "toy"}, extra_tensors=fisher_extras(fisher, blocks, {"0.weight": 1})
    )
    extras = from_pretrained(model_dir).extras
    assert torch.equal(load_fisher(extras)["0.weight"], weight)
    assert load_fisher_blocks(extras)["0.weight"][1] == 1
    save_fisher(model_dir, {"2.bias": torch.ones(2)})
    stored = load_file(str(model_dir / WEIGHTS_NAME))
    # replaced whole: the blocks of the old Fisher go with it
    assert sorted(k for k in stored if k.startswith("fisher")) == ["fisher.2.bias"]
    assert load_fisher({"0.weight": torch.ones(1)}) is None


def test_save_fisher_refuses_what_does_not_fit_the_export(exported):
    model, fisher, model_dir = exported
    with pytest.raises(UserError) as err:
        save_fisher(model_dir, fisher)
    assert str(err.value) == (f"{model_dir / WEIGHTS_NAME}: no exported weights to store the Fisher with")
    export_model(model_dir, model, {"domain": "toy"})
    with pytest.raises(UserError) as err:
        save_fisher(model_dir, {"9.weight": torch.ones(1)})
    assert str(err.value) == (
        f"{model_dir / WEIGHTS_NAME}: Fisher entry '9.weight' matches no weight of the model"
    )
    with pytest.raises(UserError) as err:
        save_fisher(model_dir, {"2.bias": torch.ones(3)})
    assert str(err.value) == (
        f"{model_dir / WEIGHTS_NAME}: Fisher entry '2.bias' has shape (3,), the weight (2,)"
    )


# --- the Gauss-Newton ("true") Fisher ----------------------------------------------------------
class LinearOutputs(nn.Module):
    """Outputs ``y = A w`` of a weight vector ``w``: the Jacobian of the outputs is ``A``."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))


def linear_outputs(model, batch):
    return batch @ model.w, batch.shape[0] // 2  # two outputs per example


@pytest.fixture
def designs():
    g = torch.Generator().manual_seed(1)
    return [
        torch.randn(4, 3, generator=g, dtype=torch.float64)
        * torch.tensor([1.0, 3.0, 0.1], dtype=torch.float64)
        for _ in range(2)
    ]  # two batches of two examples, two outputs each


def test_gauss_newton_of_a_linear_model_is_the_diagonal_of_a_transpose_a(designs):
    model = LinearOutputs()
    exact = 2 * sum((a.square()).sum(0) for a in designs) / 4  # 2/N diag(sum_n A_n^T A_n)
    estimate = gauss_newton_diagonal(model, linear_outputs, designs, samples=4000, seed=0, progress=False)[
        "w"
    ]
    # each draw is a chi-square of relative spread sqrt(2): 4000 of them leave ~2%
    assert torch.allclose(estimate, exact, rtol=0.1)
    # and the estimate is exactly the mean of 2 (A^T eps)^2 over the draws it made
    g = torch.Generator().manual_seed(0)
    by_hand = torch.zeros(3, dtype=torch.float64)
    for a in designs:
        for _ in range(3):
            eps = torch.randn(4, generator=g, dtype=torch.float64)
            by_hand += 2 * (a.T @ eps).square() / 3
    again = gauss_newton_diagonal(model, linear_outputs, designs, samples=3, seed=0, progress=False)["w"]
    assert torch.allclose(again, by_hand / 4)


def test_gauss_newton_ignores_residuals_where_the_empirical_fisher_vanishes():
    # a model that fits its data exactly has a zero empirical Fisher and an unchanged GN one
    model = LinearOutputs()
    a = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    y = (a @ model.w).detach()
    empirical = fisher_diagonal(
        model,
        lambda m, b: (b[0] @ m.w - b[1]).square().sum().reshape(1),
        [(a, y)],
        mode="per-sample",
        progress=False,
    )["w"]
    assert float(empirical.abs().max()) == 0.0
    gn = gauss_newton_diagonal(model, lambda m, b: (b[0] @ m.w, 1), [(a, y)], samples=2000, progress=False)[
        "w"
    ]
    assert torch.allclose(gn, 2 * a.square().sum(0), rtol=0.15, atol=1e-12)


def test_gauss_newton_is_unbiased_whatever_the_batch_size(designs):
    model = LinearOutputs()
    rows = torch.cat(designs)  # the same four examples, one batch of four
    whole = gauss_newton_diagonal(model, linear_outputs, [rows], samples=4000, seed=3, progress=False)["w"]
    split = gauss_newton_diagonal(model, linear_outputs, designs, samples=4000, seed=3, progress=False)["w"]
    assert torch.allclose(whole, split, rtol=0.12)


def test_gauss_newton_refusals(designs):
    model = LinearOutputs()
    with pytest.raises(ValueError) as err:
        gauss_newton_diagonal(model, linear_outputs, designs, samples=0, progress=False)
    assert str(err.value) == "gauss_newton_diagonal: samples must be >= 1, got 0"
    with pytest.raises(DataError) as err:
        gauss_newton_diagonal(model, linear_outputs, [], progress=False)
    assert str(err.value) == "Fisher diagonal: the data yielded no examples"


# --- the blocks of each unit of a weight --------------------------------------------------------
class LinearLayer(nn.Module):
    """Outputs ``y = x W`` with ``W [3 inputs, 2 units]`` and the same through ``V [2 units, 3
    inputs]`` (``nn.Linear``'s layout): each unit's Jacobian is ``x``."""

    def __init__(self):
        super().__init__()
        self.W = nn.Parameter(torch.zeros(3, 2, dtype=torch.float64))
        self.V = nn.Parameter(torch.zeros(2, 3, dtype=torch.float64))
        self.b = nn.Parameter(torch.zeros(2, dtype=torch.float64))


def layer_outputs(model, x):
    return torch.cat([x @ model.W + model.b, x @ model.V.T]), x.shape[0]


def test_gauss_newton_blocks_are_two_x_transpose_x_per_unit_and_agree_with_the_diagonal(designs):
    model = LinearLayer()
    exact = 2 * sum(x.T @ x for x in designs) / 8  # each unit sees the inputs of all 8 rows
    diagonal, blocks = gauss_newton_fisher(
        model, layer_outputs, designs, samples=4000, seed=0, progress=False, blocks={"W": 0, "V": 1}
    )
    assert set(blocks) == {"W", "V"} and blocks["W"].shape == blocks["V"].shape == (2, 3, 3)
    for name in ("W", "V"):
        for j in range(2):
            assert torch.allclose(blocks[name][j], exact, rtol=0.15, atol=0.05 * float(exact.abs().max()))
    # the same draws: the blocks' diagonals are the diagonal Fisher of those weights, exactly
    assert torch.allclose(torch.diagonal(blocks["W"], dim1=1, dim2=2).T, diagonal["W"])
    assert torch.allclose(torch.diagonal(blocks["V"], dim1=1, dim2=2), diagonal["V"])
    plain = gauss_newton_diagonal(model, layer_outputs, designs, 4000, 0, progress=False)
    assert all(torch.equal(diagonal[n], plain[n]) for n in plain)


def test_gauss_newton_blocks_refuse_a_weight_without_an_input_axis(designs):
    with pytest.raises(ValueError) as err:
        gauss_newton_fisher(LinearLayer(), layer_outputs, designs, progress=False, blocks={"b": 0})
    assert str(err.value) == (
        "gauss_newton_fisher: 'b' is not a trainable parameter of two or more axes with an input axis 0"
    )


def test_blocks_round_trip_through_the_extras():
    fisher = {"W": torch.ones(3, 2)}
    blocks = {"W": torch.eye(3).expand(2, 3, 3).clone()}
    extras = fisher_extras(fisher, blocks, {"W": 0})
    assert sorted(extras) == ["fisher.W", "fisher_block_axis.W", "fisher_blocks.W"]
    assert torch.equal(load_fisher(extras)["W"], fisher["W"])
    block, axis = load_fisher_blocks(extras)["W"]
    assert torch.equal(block, blocks["W"]) and axis == 0
    assert load_fisher_blocks(fisher_extras(fisher)) is None
    with pytest.raises(ValueError) as err:
        fisher_extras(fisher, blocks)
    assert str(err.value) == "fisher_extras: every block needs its input axis, and only blocks have one"


def test_an_unknown_mode_is_refused(regression):
    """A typo in the mode must not silently compute one of the two estimates."""
    model, x, y = regression
    with pytest.raises(ValueError) as err:
        fisher_diagonal(model, squared_errors, [(x, y)], mode="per-example", progress=False)
    assert str(err.value) == "fisher_diagonal: mode must be 'per-sample' or 'per-batch', got 'per-example'"


@pytest.mark.parametrize("which", ["empirical", "gauss-newton"])
def test_both_estimates_run_in_eval_mode_and_leave_an_eval_model_in_eval(which):
    """Dropout on would make the Fisher random; a model handed over in eval mode (e.g. for an
    evaluation right after) must not come back in train mode."""
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    x = torch.ones(2, 3)
    modes = []

    def outputs(m, batch):
        modes.append(m.training)
        return m(batch), len(batch)

    for start in (True, False):
        model.train(start)
        if which == "empirical":
            fisher_diagonal(model, lambda m, b: outputs(m, b)[0].sum(), [x, x], progress=False)
        else:
            gauss_newton_diagonal(model, outputs, [x, x], progress=False)
        assert model.training is start
    assert modes == [False] * 4


def test_gauss_newton_stops_after_max_batches(designs):
    """``max_batches`` bounds the cost on a large pre-training set: only the first batches count."""
    model = LinearOutputs()
    first = gauss_newton_diagonal(model, linear_outputs, designs, samples=3, max_batches=1, progress=False)
    only = gauss_newton_diagonal(model, linear_outputs, designs[:1], samples=3, progress=False)
    assert torch.equal(first["w"], only["w"])


def test_gauss_newton_draws_follow_the_seed(designs):
    """The seed picks the random projections: the same seed repeats the estimate, another changes it."""
    model = LinearOutputs()
    again = [
        gauss_newton_diagonal(model, linear_outputs, designs, seed=s, progress=False)["w"] for s in (5, 5, 6)
    ]
    assert torch.equal(again[0], again[1]) and not torch.allclose(again[0], again[2])


def test_gauss_newton_blocks_refuse_an_unknown_weight_or_an_axis_out_of_range(designs):
    for blocks, message in [
        ({"U": 0}, "'U' is not a trainable parameter of two or more axes with an input axis 0"),
        ({"W": 2}, "'W' is not a trainable parameter of two or more axes with an input axis 2"),
        ({"V": -1}, "'V' is not a trainable parameter of two or more axes with an input axis -1"),
    ]:
        with pytest.raises(ValueError) as err:
            gauss_newton_fisher(LinearLayer(), layer_outputs, designs, progress=False, blocks=blocks)
        assert str(err.value) == f"gauss_newton_fisher: {message}"


def test_save_fisher_refuses_a_transposed_entry_and_keeps_the_metadata(exported):
    """A Fisher of the right size but the wrong layout (``[in, out]`` for ``nn.Linear``'s ``[out,
    in]``) would weigh the wrong weights; and the export's ``format: pt`` metadata, which
    safetensors readers check, must survive the rewrite."""
    model, fisher, model_dir = exported
    export_model(model_dir, model, {"domain": "toy"})
    with pytest.raises(UserError) as err:
        save_fisher(model_dir, {"0.weight": torch.ones(3, 4)})
    assert str(err.value) == (
        f"{model_dir / WEIGHTS_NAME}: Fisher entry '0.weight' has shape (3, 4), the weight (4, 3)"
    )
    save_fisher(model_dir, fisher)
    with safe_open(str(model_dir / WEIGHTS_NAME), framework="pt") as f:
        assert f.metadata() == {"format": "pt"}


# --- second mutation pass: frozen and unreached parameters, one-sided extras, layouts -------------
class PartlyFrozen(nn.Module):
    """``y = x . w + b`` with ``b`` frozen, and a parameter ``u`` no output depends on."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(0.25, dtype=torch.float64), requires_grad=False)
        self.u = nn.Parameter(torch.ones(2, dtype=torch.float64))


def test_both_estimates_measure_trainable_parameters_and_give_unreached_ones_zero():
    """A frozen parameter is not fine-tuned, so it has no Fisher entry (and must not break the
    backward pass); a trainable one the loss never reaches has a Fisher of zero, its own shape.
    Empirical: ``F_w = mean_n (2 r_n x_n)^2``; Gauss-Newton of one output per example, ``eps`` the
    draws of seed 0: ``F_w = 2/N sum_n (eps_n x_n)^2``."""
    model = PartlyFrozen()
    x = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0], dtype=torch.float64)
    r = x @ model.w.detach() + 0.25 - y
    empirical = fisher_diagonal(
        model, lambda m, b: (b[0] @ m.w + m.b - b[1]).square(), [(x, y)], mode="per-sample", progress=False
    )
    assert set(empirical) == {"w", "u"}
    assert torch.allclose(empirical["w"], (2 * r[:, None] * x).square().mean(0))
    assert torch.equal(empirical["u"], torch.zeros(2, dtype=torch.float64))
    gn = gauss_newton_diagonal(model, lambda m, b: (b @ m.w + m.b, len(b)), [x], seed=0, progress=False)
    eps = torch.randn(2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert set(gn) == {"w", "u"}
    assert torch.allclose(gn["w"], 2 * (eps @ x).square() / 2)
    assert torch.equal(gn["u"], torch.zeros(2, dtype=torch.float64))


def test_a_model_with_nothing_trainable_is_refused_by_both_estimates():
    """A fully frozen model has nothing to measure: say so, rather than store an empty Fisher."""
    model = nn.Linear(3, 1).double().requires_grad_(False)
    x = torch.ones(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError) as err:
        fisher_diagonal(model, lambda m, b: m(b).sum(), [x], progress=False)
    assert str(err.value) == "fisher_diagonal: the model has no trainable parameters"
    with pytest.raises(ValueError) as err:
        gauss_newton_diagonal(model, lambda m, b: (m(b), len(b)), [x], progress=False)
    assert str(err.value) == "gauss_newton_diagonal: the model has no trainable parameters"


def test_fisher_extras_refuse_an_axis_without_its_block():
    """Axes and blocks go in pairs both ways: an axis stored without a block would make a later
    reader look for a block that is not there."""
    with pytest.raises(ValueError) as err:
        fisher_extras({"W": torch.ones(3, 2)}, None, {"W": 0})
    assert str(err.value) == "fisher_extras: every block needs its input axis, and only blocks have one"


def test_save_fisher_stores_a_non_contiguous_entry_as_its_values(exported):
    """A Fisher made by transposing (e.g. from a ``[in, out]`` computation) is a strided view;
    it is stored with the values it shows, as safetensors needs contiguous tensors."""
    model, _, model_dir = exported
    export_model(model_dir, model, {"domain": "toy"})
    entry = torch.arange(12.0).reshape(3, 4).T  # the weight's (4, 3), not contiguous
    assert not entry.is_contiguous()
    save_fisher(model_dir, {"0.weight": entry})
    assert torch.equal(load_file(str(model_dir / WEIGHTS_NAME))["fisher.0.weight"], entry)
