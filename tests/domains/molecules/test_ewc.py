"""The EWC Fisher of an energy + force loss: whitened outputs, the Gauss-Newton estimate against a
hand-built Jacobian, what the export stores, and lambda_0."""

import dataclasses

import pytest
import torch

from sciPT.domains.molecules.dataset import collate
from sciPT.domains.molecules.ewc import (
    LAMBDA_0,
    PRETRAINING_LOSS,
    FisherConfig,
    block_axes,
    energy_force_fisher,
    energy_force_gauss_newton,
    energy_force_gauss_newton_blocks,
    ewc_scale,
    fisher_batches,
    fisher_hook,
    head_strategy,
    old_head_estimator,
    validate,
    whitened_outputs,
)
from sciPT.domains.molecules.graphs import frame_to_graph
from sciPT.domains.molecules.objectives import EnergyForceLoss, ObjectiveConfig
from sciPT.errors import ConfigError
from sciPT.finetune import EWC, L2SP, FinetuneConfig, load_fisher, load_fisher_blocks
from sciPT.finetune.online import OnlineFisher


@pytest.fixture(scope="module")
def setup(make_potential, ethanol_frames):
    model = make_potential(l_max=1)
    graphs = [frame_to_graph(f, model.cfg.cutoff) for f in ethanol_frames[:3]]
    return model, graphs


def test_whitened_outputs_give_the_per_frame_loss(setup):
    model, graphs = setup
    for objective in (ObjectiveConfig(), ObjectiveConfig(energy_weight=2.0, forces_weight=0.5)):
        for g in graphs:
            batch = collate([g])
            outputs, labels = whitened_outputs(model, objective, batch)
            assert outputs.shape == (1 + 3 * 9,)
            loss, _ = EnergyForceLoss(objective)(model.train(), batch)
            model.eval()
            assert float((outputs.detach() - labels).square().sum()) == pytest.approx(float(loss), rel=1e-9)
    outputs, _ = whitened_outputs(model, ObjectiveConfig(forces_weight=0.0), collate(graphs))
    assert outputs.shape == (3,)  # energies only: one per frame


def test_gauss_newton_fisher_is_two_jt_j_with_the_draws_it_made(setup):
    model, graphs = setup
    objective = ObjectiveConfig(energy_weight=2.0)
    params = [p for p in model.parameters()]
    g = torch.Generator().manual_seed(7)
    by_hand = [torch.zeros_like(p) for p in params]
    for graph in graphs:
        outputs, _ = whitened_outputs(model, objective, collate([graph]))
        # the full Jacobian, one output at a time (double backward through the forces)
        rows = [torch.autograd.grad(o, params, retain_graph=True, allow_unused=True) for o in outputs]
        eps = torch.randn(outputs.shape, generator=g, dtype=outputs.dtype)
        for k, total in enumerate(by_hand):
            jt_eps = sum(e * (row[k] if row[k] is not None else 0) for e, row in zip(eps, rows))
            total += 2 * torch.as_tensor(jt_eps).square()
    fisher, mean_loss = energy_force_gauss_newton(
        model, objective, [collate([x]) for x in graphs], seed=7, progress=False
    )
    for (name, _), total in zip(model.named_parameters(), by_hand):
        assert torch.allclose(fisher[name], (total / 3).to(fisher[name].dtype), rtol=1e-6, atol=1e-14), name
    losses = [float(EnergyForceLoss(objective)(model.train(), collate([x]))[0]) for x in graphs]
    model.eval()
    assert mean_loss == pytest.approx(sum(losses) / 3, rel=1e-9)


def test_the_gauss_newton_fisher_sees_forces_and_not_the_energy_offset(setup):
    model, graphs = setup
    forces_only, _ = energy_force_gauss_newton(
        model, ObjectiveConfig(energy_weight=0.0), [collate(graphs)], progress=False
    )
    # the last bias adds a constant per atom: it moves energies, never a force
    assert {n for n, f in forces_only.items() if float(f.abs().sum()) == 0} == {"readout.2.bias"}


def test_the_export_stores_lambda_0_for_either_kind(setup):
    model, graphs = setup
    objective = ObjectiveConfig()
    gn = fisher_hook(graphs, FisherConfig(frames=3), objective, seed=0)(model)
    assert float(gn[LAMBDA_0]) == 1.0 and ewc_scale(gn) == 1.0
    assert set(load_fisher(gn)) == {n for n, _ in model.named_parameters()}
    assert set(load_fisher_blocks(gn)) == set(block_axes(model, "all"))  # the default
    emp = fisher_hook(graphs, FisherConfig(frames=3, kind="empirical"), objective, seed=0)(model)
    assert load_fisher_blocks(emp) is None  # the empirical Fisher is stored as its diagonal
    _, loss = energy_force_fisher(model, objective, [collate([g]) for g in graphs], progress=False)
    assert float(emp[PRETRAINING_LOSS]) == pytest.approx(loss, rel=1e-9)
    assert ewc_scale(emp) == pytest.approx(0.5 / loss, rel=1e-9)
    # an export made before lambda_0 was stored carries the empirical Fisher and its loss
    older = {k: v for k, v in emp.items() if k != LAMBDA_0}
    assert ewc_scale(older) == pytest.approx(0.5 / loss, rel=1e-9)
    assert ewc_scale({}) is None


def test_fisher_config_refusals():
    with pytest.raises(ConfigError) as err:
        validate(FisherConfig(kind="true"))
    assert str(err.value) == "fisher.kind: expected 'gauss-newton' or 'empirical', got 'true'"
    with pytest.raises(ConfigError) as err:
        validate(FisherConfig(samples=0))
    assert str(err.value) == "fisher.samples: expected a positive integer, got 0"
    with pytest.raises(ConfigError) as err:
        validate(FisherConfig(blocks="every"))
    assert str(err.value) == "fisher.blocks: expected 'none', 'radial' or 'all', got 'every'"


def test_fisher_config_refuses_negative_frames_and_empty_batches():
    """0 frames means 'store no Fisher'; a negative count or an empty batch is a typo, and must stop
    the run with its setting named, not store an empty or meaningless Fisher."""
    validate(FisherConfig(frames=0, batch_size=1))
    with pytest.raises(ConfigError) as err:
        validate(FisherConfig(frames=-1))
    assert str(err.value) == "fisher.frames: expected a number of frames >= 0, got -1"
    with pytest.raises(ConfigError) as err:
        validate(FisherConfig(batch_size=0))
    assert str(err.value) == "fisher.batch_size: expected a positive integer, got 0"


def test_the_fisher_defaults_are_the_ones_the_readme_states():
    """README, the EWC paragraph: "the Fisher is estimated on 256 training frames drawn at random",
    the Gauss-Newton estimate with every weight matrix's blocks (``fisher.blocks all``, "the default
    of ``scipt pretrain molecules``"); a default that drifted would change every export's Fisher,
    and with it the strength of every later EWC fine-tune made without the flags."""
    cfg = FisherConfig()
    assert (cfg.frames, cfg.kind, cfg.blocks) == (256, "gauss-newton", "all")


def test_block_axes_name_each_weight_matrix_by_its_input_axis(setup):
    model, _ = setup
    radial = block_axes(model, "radial")
    assert radial and all(".radial." in n and axis == 0 for n, axis in radial.items())
    every = block_axes(model, "all")
    params = dict(model.named_parameters())
    assert set(radial) < set(every) and block_axes(model, "none") == {}
    for name, axis in every.items():
        assert params[name].dim() >= 2, name
        if name.endswith("linear_in.weight"):  # [degree, inputs, units]
            assert axis == 1
    assert any(n.endswith("gate.gates.weight") for n in every)  # nn.Linear: [units, inputs]


@pytest.mark.parametrize("which", ["radial", "all"])
def test_the_export_stores_blocks_whose_diagonals_are_the_fisher(setup, which):
    model, graphs = setup
    extras = fisher_hook(graphs, FisherConfig(frames=3, blocks=which), ObjectiveConfig(), seed=0)(model)
    fisher, blocks = load_fisher(extras), load_fisher_blocks(extras)
    assert set(blocks) == set(block_axes(model, which))
    for name, (block, axis) in blocks.items():
        unit = fisher[name].movedim(axis, -1)
        assert block.shape == (*unit.shape, unit.shape[-1])
        assert torch.allclose(torch.diagonal(block, dim1=-2, dim2=-1), unit)
        assert torch.allclose(block, block.transpose(-1, -2))
    # the diagonal is the one an export without blocks stores (same draws)
    plain = load_fisher(
        fisher_hook(graphs, FisherConfig(frames=3, blocks="none"), ObjectiveConfig(), seed=0)(model)
    )
    assert all(torch.equal(plain[n], fisher[n]) for n in plain)


def test_the_gauss_newton_mean_loss_is_per_frame_over_batches_of_several_frames(setup, ethanol_frames):
    """The pre-training loss ``energy_force_gauss_newton`` returns is the mean over frames of the
    per-frame loss, also when each batch holds several frames (not the mean over batches)."""
    model, _ = setup
    objective = ObjectiveConfig(energy_weight=2.0)
    graphs = [frame_to_graph(f, model.cfg.cutoff) for f in ethanol_frames[:4]]
    # per-frame losses l_1..l_4 from one-frame batches; two batches of two frames hold l_1 + l_2 and
    # l_3 + l_4, so the per-frame mean is (l_1 + l_2 + l_3 + l_4) / 4 (the mean over the two batches
    # would be twice that)
    per_frame = []
    for g in graphs:
        outputs, labels = whitened_outputs(model, objective, collate([g]))
        per_frame.append(float((outputs.detach() - labels).square().sum()))
    _, mean_loss = energy_force_gauss_newton(
        model, objective, [collate(graphs[:2]), collate(graphs[2:])], progress=False
    )
    assert len(per_frame) == 4
    assert mean_loss == pytest.approx(sum(per_frame) / 4, rel=1e-9)


def test_the_empirical_fisher_is_the_mean_squared_gradient_of_each_frame_s_loss(setup):
    """Per-sample mode squares each frame's own loss gradient (squaring a batch mean would be about
    batch_size times smaller), and lambda_0 is 1 / (2 x the mean per-frame loss), not the sum: a
    wrong one rescales every EWC strength a user picks."""
    model, graphs = setup
    objective = ObjectiveConfig(energy_weight=2.0, forces_weight=0.5)
    extras = fisher_hook(graphs, FisherConfig(frames=3, kind="empirical"), objective, seed=0)(model)
    params = dict(model.named_parameters())
    by_hand = {n: torch.zeros_like(p) for n, p in params.items()}
    losses = []
    try:
        for g in graphs:
            loss = EnergyForceLoss(objective)(model.train(), collate([g]))[0]
            grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
            for name, grad in zip(params, grads):
                if grad is not None:
                    by_hand[name] += grad.square()
            losses.append(float(loss.detach()))
    finally:
        model.eval()
    fisher = load_fisher(extras)
    assert float(sum(f.sum() for f in fisher.values())) > 0
    for name, total in by_hand.items():
        assert torch.allclose(fisher[name], total / 3, rtol=1e-6, atol=1e-14), name
    mean_loss = sum(losses) / 3
    assert float(extras[PRETRAINING_LOSS]) == pytest.approx(mean_loss, rel=1e-9)
    assert float(extras[LAMBDA_0]) == pytest.approx(0.5 / mean_loss, rel=1e-9)


def test_fisher_batches_hold_one_frame_per_sample_and_batch_size_frames_per_batch(setup):
    """``mode: per-sample`` must give one gradient per frame whatever ``batch_size`` says."""
    _, graphs = setup
    per_sample = fisher_batches(graphs, FisherConfig(frames=3, batch_size=2), seed=0)
    assert [int(b.num_graphs) for b in per_sample] == [1, 1, 1]
    per_batch = fisher_batches(graphs, FisherConfig(frames=3, mode="per-batch", batch_size=2), seed=0)
    assert [int(b.num_graphs) for b in per_batch] == [2, 1]
    # every frame once (drawn without replacement), in their order
    assert torch.equal(torch.cat([b.pos for b in per_sample]), torch.cat([g.pos for g in graphs]))


def test_whitened_outputs_leave_out_energies_that_weigh_nothing(setup):
    """A zero energy weight drops the energy outputs, as the loss drops the term (docstring)."""
    model, graphs = setup
    outputs, labels = whitened_outputs(model, ObjectiveConfig(energy_weight=0.0), collate(graphs))
    assert outputs.shape == labels.shape == (3 * 9 * 3,)


def test_the_export_stores_no_fisher_when_none_is_asked_for_or_the_objective_is_denoising(setup):
    """``frames: 0`` or a denoising pre-training (no energy + force loss to take the Fisher of)
    store no Fisher, so a later EWC fine-tune refuses the model instead of using a wrong one."""
    _, graphs = setup
    assert fisher_hook(graphs, FisherConfig(frames=0), ObjectiveConfig(), seed=0) is None
    assert fisher_hook(graphs, FisherConfig(frames=3), ObjectiveConfig(kind="denoise"), seed=0) is None
    assert fisher_hook(graphs, FisherConfig(frames=3), ObjectiveConfig(), seed=0) is not None


def test_the_export_draws_as_many_projections_per_frame_as_fisher_samples_says(setup):
    """``fisher.samples`` is the user's knob on the Gauss-Newton estimate's noise: the stored
    Fisher is the one of that many draws per frame, not of one."""
    model, graphs = setup
    objective = ObjectiveConfig()
    extras = fisher_hook(graphs, FisherConfig(frames=3, samples=2, blocks="none"), objective, seed=0)(model)
    batches = [collate([g]) for g in graphs]
    two, _ = energy_force_gauss_newton(model, objective, batches, samples=2, seed=0, progress=False)
    one, _ = energy_force_gauss_newton(model, objective, batches, samples=1, seed=0, progress=False)
    stored = load_fisher(extras)
    assert all(torch.equal(stored[n], two[n]) for n in two)
    assert not all(torch.equal(stored[n], one[n]) for n in one)


def test_ewc_scale_of_a_zero_lambda_0_or_a_zero_pre_training_loss_is_none():
    """A pre-training loss of zero has no lambda_0 (1 / (2 x 0)): no number, rather than zero or a
    division by zero."""
    assert ewc_scale({LAMBDA_0: torch.tensor(0.0, dtype=torch.float64)}) is None
    assert ewc_scale({PRETRAINING_LOSS: torch.tensor(0.0, dtype=torch.float64)}) is None
    assert ewc_scale({PRETRAINING_LOSS: torch.tensor(0.25, dtype=torch.float64)}) == 2.0


@pytest.fixture
def two_heads(make_potential):
    model = make_potential(l_max=0, seed=1)
    model.add_head("new")
    return model


def test_ewc_with_heads_refuses_a_fisher_without_a_shared_parameter(two_heads):
    """An export whose Fisher misses a shared weight cannot anchor it: say which, not a KeyError."""
    shared = two_heads.shared_parameter_names()
    fisher = {n: torch.ones_like(p) for n, p in two_heads.named_parameters() if n != shared[1]}
    with pytest.raises(ConfigError) as err:
        head_strategy(FinetuneConfig(strategy="ewc"), two_heads, fisher, "new")
    assert str(err.value) == (
        "finetune.strategy: 'ewc' needs the Fisher diagonal of the pre-training loss, and the "
        f"pre-trained model has none for shared parameter '{shared[1]}'"
    )


def test_online_ewc_with_heads_needs_an_estimate(two_heads):
    fisher = {n: torch.ones_like(p) for n, p in two_heads.named_parameters()}
    with pytest.raises(ConfigError) as err:
        head_strategy(FinetuneConfig(strategy="ewc", ewc_online_every=5), two_heads, fisher, "new")
    assert str(err.value) == (
        "finetune.ewc_online_every: no estimate of the Fisher at the current weights was given"
    )


def test_l2sp_with_heads_anchors_the_shared_blocks_only(two_heads):
    """alpha/2 x sum (w - w0)^2 over the shared weights: the new head must be free to move, or
    L2-SP would pull it back to the copy it started as."""
    strategy = head_strategy(FinetuneConfig(strategy="l2sp", l2sp_alpha=4.0), two_heads, None, "new")
    assert isinstance(strategy.inner, L2SP)
    with torch.no_grad():
        for p in two_heads.parameters():
            p.add_(0.5)
    shared = two_heads.shared_parameter_names()
    count = sum(p.numel() for n, p in two_heads.named_parameters() if n in shared)
    assert count < sum(p.numel() for p in two_heads.parameters())
    assert float(strategy.inner.penalty(two_heads)) == pytest.approx(0.5 * 4.0 * 0.25 * count, rel=1e-12)


def test_the_export_refuses_a_fisher_config_it_does_not_know(setup):
    """A misspelt ``fisher.kind`` must stop the run before pre-training, not fall back silently on
    the empirical Fisher, whose scale is another."""
    _, graphs = setup
    with pytest.raises(ConfigError) as err:
        fisher_hook(graphs, FisherConfig(kind="gauss_newton"), ObjectiveConfig(), seed=0)
    assert str(err.value) == "fisher.kind: expected 'gauss-newton' or 'empirical', got 'gauss_newton'"


# --- second mutation pass: normalisation over frames, edge cases, and what head_strategy forwards ---
def test_the_gauss_newton_fisher_of_a_batch_of_several_frames_is_per_frame(setup):
    """A batch of three frames draws one projection over all their outputs and divides by three
    frames, not by one batch: ``F = 2 (J^T eps)^2 / M`` with ``J^T eps`` the gradient of the
    projected outputs, the same draws (seed) as the estimate."""
    model, graphs = setup
    objective = ObjectiveConfig(energy_weight=2.0)
    batch = collate(graphs)
    params = dict(model.named_parameters())
    outputs, _ = whitened_outputs(model, objective, batch)
    eps = torch.randn(outputs.shape, generator=torch.Generator().manual_seed(4), dtype=outputs.dtype)
    grads = torch.autograd.grad((outputs * eps).sum(), list(params.values()), allow_unused=True)
    fisher, _ = energy_force_gauss_newton(model, objective, [batch], seed=4, progress=False)
    for name, g in zip(params, grads):
        expected = torch.zeros_like(params[name]) if g is None else 2 * g.square() / 3
        assert torch.allclose(fisher[name], expected, rtol=1e-9, atol=1e-15), name


def test_whitened_outputs_weigh_each_frame_s_forces_by_its_own_atom_count(setup, ethanol_frames):
    """In a batch of a 9-atom and a 6-atom frame, each force is whitened by ``sqrt(w_F / 3 N_m)``
    of its own frame: the squared distance of the batch is the sum of the two frames' own losses."""
    model, graphs = setup
    f = ethanol_frames[1]
    small = dataclasses.replace(f, numbers=f.numbers[:6], positions=f.positions[:6], forces=f.forces[:6])
    pair = [graphs[0], frame_to_graph(small, model.cfg.cutoff)]
    objective = ObjectiveConfig(energy_weight=2.0, forces_weight=0.5)
    outputs, labels = whitened_outputs(model, objective, collate(pair))
    assert outputs.shape == (2 + 3 * (9 + 6),)
    try:
        losses = [float(EnergyForceLoss(objective)(model.train(), collate([g]))[0].detach()) for g in pair]
    finally:
        model.eval()
    assert float((outputs.detach() - labels).square().sum()) == pytest.approx(sum(losses), rel=1e-9)


def test_an_empirical_fisher_at_zero_loss_stores_no_lambda_0(setup):
    """Labels equal to the model's own predictions: zero loss, zero empirical Fisher, and lambda_0
    stored as 0 (ewc_scale: None), not a division by zero nor a made-up scale."""
    model, graphs = setup
    fitted = []
    for g in graphs:
        # predicted as the Fisher's loss predicts them (double-backward graph), so equal bit for bit
        pred = model(collate([g]), forces=True, create_graph=True)
        copy = g.clone()
        copy.energy = pred["energy"].detach().reshape(1)
        copy.forces = pred["forces"].detach()
        fitted.append(copy)
    extras = fisher_hook(fitted, FisherConfig(frames=3, kind="empirical"), ObjectiveConfig(), seed=0)(model)
    assert float(extras[PRETRAINING_LOSS]) == 0.0
    assert all(float(f.abs().max()) == 0.0 for f in load_fisher(extras).values())
    assert float(extras[LAMBDA_0]) == 0.0 and ewc_scale(extras) is None


def test_the_export_stores_no_fisher_when_no_frame_has_a_label_the_loss_weighs(setup, ethanol_frames):
    """Unlabelled structures, or energy-only frames when energies weigh nothing, give the loss
    nothing to measure: no Fisher rather than one of zero frames."""
    model, _ = setup
    bare = [
        frame_to_graph(dataclasses.replace(f, energy=None, forces=None), model.cfg.cutoff)
        for f in ethanol_frames[:2]
    ]
    assert fisher_hook(bare, FisherConfig(frames=2), ObjectiveConfig(), seed=0) is None
    energies = [
        frame_to_graph(dataclasses.replace(f, forces=None), model.cfg.cutoff) for f in ethanol_frames[:2]
    ]
    assert fisher_hook(energies, FisherConfig(frames=2), ObjectiveConfig(energy_weight=0.0), seed=0) is None
    assert fisher_hook(energies, FisherConfig(frames=2), ObjectiveConfig(), seed=0) is not None
    forces = [
        frame_to_graph(dataclasses.replace(f, energy=None), model.cfg.cutoff) for f in ethanol_frames[:2]
    ]
    assert fisher_hook(forces, FisherConfig(frames=2), ObjectiveConfig(forces_weight=0.0), seed=0) is None
    assert fisher_hook(forces, FisherConfig(frames=2), ObjectiveConfig(), seed=0) is not None


def test_whitened_outputs_of_a_frame_without_an_energy_are_its_forces(setup, ethanol_frames):
    """A frame labelled with forces only has no energy output (its loss has no energy term), and
    its squared distance is still its loss."""
    model, _ = setup
    graph = frame_to_graph(dataclasses.replace(ethanol_frames[0], energy=None), model.cfg.cutoff)
    objective = ObjectiveConfig(energy_weight=2.0, forces_weight=0.5)
    outputs, labels = whitened_outputs(model, objective, collate([graph]))
    assert outputs.shape == labels.shape == (3 * 9,)
    try:
        loss = float(EnergyForceLoss(objective)(model.train(), collate([graph]))[0].detach())
    finally:
        model.eval()
    assert float((outputs.detach() - labels).square().sum()) == pytest.approx(loss, rel=1e-9)


def test_the_online_estimate_reads_its_own_head_and_draws_anew_at_each_call(two_heads, ethanol_frames):
    """The estimate of head ``new`` depends on ``new``'s readout only (the default head's is
    untouched by its outputs), and call ``k`` of one estimator uses seed ``seed + k``: the same
    draws at every call would repeat one noisy estimate instead of averaging fresh ones. Asking
    for more frames than there are takes them all."""
    graphs = [frame_to_graph(f, two_heads.cfg.cutoff) for f in ethanol_frames[:2]]
    objective = ObjectiveConfig()
    estimate = old_head_estimator(graphs, objective, "new", frames=8, seed=3, batch_size=2)
    first, _ = estimate(two_heads, {})
    assert all(float(first[n].abs().sum()) == 0 for n in two_heads.head_parameter_names("default"))
    assert all(
        float(first[n].abs().sum()) > 0 for n in two_heads.head_parameter_names("new") if "weight" in n
    )
    second, _ = estimate(two_heads, {})
    expected, _, _ = energy_force_gauss_newton_blocks(
        two_heads, objective, [collate(graphs)], {}, seed=5, progress=False, head="new"
    )
    assert all(torch.equal(second[n], expected[n]) for n in expected)


def test_ewc_with_heads_and_no_fisher_names_the_first_shared_parameter(two_heads):
    """An export without any Fisher: a ConfigError naming a weight, not a TypeError on ``None``."""
    shared = two_heads.shared_parameter_names()
    with pytest.raises(ConfigError) as err:
        head_strategy(FinetuneConfig(strategy="ewc"), two_heads, None, "new")
    assert str(err.value) == (
        "finetune.strategy: 'ewc' needs the Fisher diagonal of the pre-training loss, and the "
        f"pre-trained model has none for shared parameter '{shared[0]}'"
    )


def test_ewc_with_heads_uses_the_export_s_blocks(two_heads):
    """A shared weight with a block is penalised by ``d^T B d`` per unit, not by its diagonal: a
    zero block leaves a move of that weight free where the diagonal (all ones) would not."""
    params = dict(two_heads.named_parameters())
    shared = two_heads.shared_parameter_names()
    name = next(n for n in shared if params[n].dim() == 2)
    unit = params[name].movedim(0, -1).shape
    blocks = {name: (torch.zeros(*unit, unit[-1], dtype=params[name].dtype), 0)}
    fisher = {n: torch.ones_like(p) for n, p in params.items()}
    strategy = head_strategy(FinetuneConfig(strategy="ewc"), two_heads, fisher, "new", fisher_blocks=blocks)
    with torch.no_grad():
        params[name].add_(0.5)
    assert float(strategy.inner.penalty(two_heads)) == 0.0
    plain = head_strategy(FinetuneConfig(strategy="ewc"), two_heads, fisher, "new")
    with torch.no_grad():
        params[name].add_(0.5)
    assert float(plain.inner.penalty(two_heads)) == pytest.approx(
        0.5 * 0.25 * params[name].numel(), rel=1e-12
    )


def test_online_ewc_with_heads_wraps_the_penalty_with_the_estimate(two_heads):
    """``ewc_online_every`` with an estimate: the EWC penalty inside an OnlineFisher taking that
    estimate every so many steps, the other heads still frozen around it."""
    fisher = {n: torch.ones_like(p) for n, p in two_heads.named_parameters()}

    def estimate(backbone, axes):
        return fisher, {}

    strategy = head_strategy(
        FinetuneConfig(strategy="ewc", ewc_online_every=5), two_heads, fisher, "new", estimate=estimate
    )
    assert isinstance(strategy.inner, OnlineFisher) and isinstance(strategy.inner.inner, EWC)
    assert strategy.inner.every == 5 and strategy.inner.estimate is estimate


@pytest.mark.parametrize("strategy", ["ewc", "l2sp"])
def test_a_decoupled_anchor_with_heads_pulls_the_shared_weights_by_a_proximal_step(two_heads, strategy):
    """``anchor: decoupled`` reaches the penalty: no gradient through it, and after an optimizer step
    each shared weight is pulled to ``w0 + (w - w0) / (1 + lr * strength * F)`` (F = 2, strength 3:
    0.5 / 1.6 of a 0.5 move at lr 0.1), the new head left where it moved."""
    fisher = {n: torch.full_like(p, 2.0) for n, p in two_heads.named_parameters()}
    cfg = FinetuneConfig(strategy=strategy, anchor="decoupled", ewc_lambda=3.0, l2sp_alpha=6.0)
    wrapped = head_strategy(cfg, two_heads, fisher, "new")
    params = dict(two_heads.named_parameters())
    w0 = {n: p.detach().clone() for n, p in params.items()}
    with torch.no_grad():
        for p in params.values():
            p.add_(0.5)
    assert not wrapped.penalty(two_heads).requires_grad
    wrapped.after_optimizer_step(two_heads, lr=0.1)
    for name in two_heads.shared_parameter_names():
        assert torch.allclose(params[name] - w0[name], torch.full_like(w0[name], 0.3125), rtol=1e-12), name
    for name in two_heads.head_parameter_names("new"):
        assert torch.allclose(params[name] - w0[name], torch.full_like(w0[name], 0.5), rtol=1e-12), name


def test_freezing_with_heads_freezes_its_groups_as_well_as_the_other_heads(two_heads):
    """The wrapper that freezes the other heads still hands ``setup`` to the strategy inside:
    ``freeze`` with one layer keeps the embedding, the radial basis and the first block fixed."""
    strategy = head_strategy(FinetuneConfig(strategy="freeze", freeze_layers=1), two_heads, None, "new")
    strategy.setup(two_heads)
    frozen = {n for n, p in two_heads.named_parameters() if not p.requires_grad}
    held = ("embedding.", "radial.", "blocks.0.")
    expected = {n for n, _ in two_heads.named_parameters() if n.startswith(held)}
    assert expected and frozen == expected | set(two_heads.head_parameter_names("default"))
    assert any(n.startswith("blocks.1.") for n, p in two_heads.named_parameters() if p.requires_grad)
