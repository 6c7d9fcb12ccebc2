"""Heads per level of theory: shared blocks, one readout + references per head; the old head is
untouched by fine-tuning a new one, every head is equivariant, exports round-trip, old exports
load, and EWC's penalty reads the shared blocks only."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from sciPT.checkpoint import export_model, from_pretrained
from sciPT.domains.molecules import domain
from sciPT.domains.molecules.dataset import collate
from sciPT.domains.molecules.ewc import energy_force_gauss_newton_blocks, head_strategy, old_head_estimator
from sciPT.domains.molecules.graphs import frame_to_graph
from sciPT.domains.molecules.heads import Head
from sciPT.domains.molecules.model import EquivariantPotential
from sciPT.domains.molecules.objectives import EnergyForceLoss, ObjectiveConfig
from sciPT.domains.molecules.potential_config import HeadConfig, PotentialConfig
from sciPT.errors import ConfigError, DataError, UserError
from sciPT.finetune import EWC, FinetuneConfig, FinetuneModule, HeadWarmup
from sciPT.testing import assert_equivariant
from sciPT.trainer import TrainConfig


@pytest.fixture
def two_heads(make_potential):
    model = make_potential(l_max=1, dtype="float64")
    model.add_head("acac")
    with torch.no_grad():  # make the new head differ from the copy it started as
        for p in model.extra_heads[0].readout.parameters():
            p.add_(0.1 * torch.randn_like(p))
        model.extra_heads[0].reference_energies.add_(torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))
    return model


def test_a_new_head_starts_as_a_copy_of_the_old_and_becomes_the_default(make_potential, ethanol_frames):
    model = make_potential(l_max=1)
    batch = collate([frame_to_graph(f, model.cfg.cutoff) for f in ethanol_frames])
    before = model(batch)
    model.add_head("acac")
    assert model.head_names == ["default", "acac"] and model.head == "acac"
    new, old = model(batch), model(batch, head="default")
    for key in ("energy", "forces"):
        assert torch.equal(new[key], before[key]) and torch.equal(old[key], before[key])
    assert model.cfg.heads[0].reference_energies == model.cfg.reference_energies
    with pytest.raises(ConfigError, match="already has a head"):
        model.add_head("default")


def test_an_unknown_head_names_the_heads_there_are(two_heads):
    """In the words of what chose it: the argument ``head`` by default, a flag where one did."""
    heads = "no such head; the model's heads are: default, acac"
    with pytest.raises(UserError) as error:
        two_heads.select_head("PBE")
    assert str(error.value) == f"head PBE: {heads}"
    with pytest.raises(UserError) as error:
        two_heads.select_head("PBE", "--head")
    assert str(error.value) == f"--head PBE: {heads}"


def test_the_parameters_split_into_shared_blocks_and_heads(two_heads):
    shared = two_heads.shared_parameter_names()
    heads = two_heads.head_parameter_names("default") + two_heads.head_parameter_names("acac")
    assert two_heads.head_parameter_names("default") == [
        "readout.0.weight",
        "readout.0.bias",
        "readout.2.weight",
        "readout.2.bias",
    ]
    assert all(n.startswith("extra_heads.0.readout.") for n in two_heads.head_parameter_names("acac"))
    assert sorted(shared + heads) == sorted(n for n, _ in two_heads.named_parameters())
    assert not set(shared) & set(heads)
    assert any(n.startswith("blocks.") for n in shared) and "embedding.weight" in shared


@pytest.mark.parametrize("head", ["default", "acac"])
def test_every_head_is_invariant_and_its_forces_equivariant(two_heads, model_fn, ethanol_frames, head):
    assert_head_equivariant(model_fn(two_heads, head=head), ethanol_frames[0], seed=3)


def assert_head_equivariant(fn, frame, seed: int) -> None:
    assert_equivariant(
        fn,
        torch.from_numpy(frame.positions),
        torch.from_numpy(frame.numbers),
        per_atom=("atomic_energies",),
        atol=1e-9,
        rtol=0.0,
        generator=torch.Generator().manual_seed(seed),
    )


def test_the_old_head_is_bit_identical_after_fine_tuning_a_new_head_on_frozen_shared_blocks(
    make_potential, ethanol_frames
):
    model = make_potential(l_max=1, dtype="float32")
    graphs = [frame_to_graph(f, model.cfg.cutoff) for f in ethanol_frames]
    batch = collate(graphs)
    old_state = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("extra_heads")}
    model.add_head("acac")
    for name, p in model.named_parameters():  # shared blocks frozen, old head frozen
        p.requires_grad_(name in model.head_parameter_names("acac"))
    # after freezing: which weights autograd tracks changes float32 roundings in the last bit
    old = model(batch, head="default")
    model.train()
    loss_fn = EnergyForceLoss(ObjectiveConfig())
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.05)
    shifted = collate(graphs)
    shifted.energy = shifted.energy + 3.0  # another level of theory
    start = [p.detach().clone() for p in model.extra_heads[0].parameters()]
    for _ in range(5):
        optimizer.zero_grad()
        loss_fn(model, shifted)[0].backward()
        optimizer.step()
    model.eval()
    assert any(not torch.equal(a, b) for a, b in zip(start, model.extra_heads[0].parameters()))
    after = model(batch, head="default")
    assert torch.equal(after["energy"], old["energy"]) and torch.equal(after["forces"], old["forces"])
    assert all(torch.equal(model.state_dict()[k], v) for k, v in old_state.items())


def test_two_heads_round_trip_through_the_export(two_heads, tmp_path, ethanol_frames):
    export_model(tmp_path / "model", two_heads, domain.export_config(two_heads.cfg))
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["model"]["head"] == "default" and [h["name"] for h in config["model"]["heads"]] == ["acac"]
    loaded = from_pretrained(tmp_path, domain="molecules").model
    assert loaded.head_names == ["default", "acac"] and loaded.head == "acac"
    batch = collate([frame_to_graph(f, loaded.cfg.cutoff) for f in ethanol_frames])
    for head in ("default", "acac"):
        a, b = two_heads(batch, head=head), loaded(batch, head=head)
        assert torch.equal(a["energy"], b["energy"]) and torch.equal(a["forces"], b["forces"])
    assert not torch.equal(loaded(batch, head="default")["energy"], loaded(batch, head="acac")["energy"])


def test_a_fine_tuned_export_predicts_with_the_head_it_trained_by_default(two_heads, tmp_path):
    """A run may fine-tune an older head again: predictions without --head use the head its export
    records, not the newest; a pre-training export (no record) uses the newest."""
    export_model(tmp_path / "model", two_heads, domain.export_config(two_heads.cfg, head="default"))
    loaded = from_pretrained(tmp_path, domain="molecules").model
    assert loaded.head_names == ["default", "acac"] and loaded.head == "default"
    assert loaded.select_head("acac").head == "acac"
    assert loaded.select_head(None).head == "default"  # back to the trained head, not the newest
    export_model(tmp_path / "pre" / "model", two_heads, domain.export_config(two_heads.cfg))
    assert from_pretrained(tmp_path / "pre", domain="molecules").model.select_head(None).head == "acac"


def test_an_export_made_before_heads_loads_as_one_head_named_default(
    make_potential, tmp_path, ethanol_frames
):
    model = make_potential(l_max=1)
    export_model(tmp_path / "model", model, domain.export_config(model.cfg))
    # what an export looked like before heads: no head keys in the config
    path = tmp_path / "model" / "config.json"
    config = json.loads(path.read_text())
    del config["model"]["head"], config["model"]["heads"]
    path.write_text(json.dumps(config))
    tensors = load_file(str(tmp_path / "model" / "model.safetensors"))
    assert not any(k.startswith("extra_heads") for k in tensors) and "readout.0.weight" in tensors
    save_file(tensors, str(tmp_path / "model" / "model.safetensors"))
    loaded = from_pretrained(tmp_path, domain="molecules").model
    assert loaded.head_names == ["default"]
    batch = collate([frame_to_graph(f, loaded.cfg.cutoff) for f in ethanol_frames])
    assert torch.equal(loaded(batch)["forces"], model(batch)["forces"])


def test_ewc_with_heads_penalises_the_shared_blocks_only(make_potential):
    model = EquivariantPotential(
        PotentialConfig(
            cutoff=3.0,
            l_max=0,
            channels=2,
            layers=1,
            num_basis=2,
            radial_hidden=2,
            radial_layers=0,
            readout_hidden=2,
            dtype="float64",
            elements=["H"],
            reference_energies=[0.0],
            avg_num_neighbors=1.0,
        )
    )
    model.add_head("new")
    w0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    fisher = {n: torch.full_like(p, 2.0) for n, p in model.named_parameters()}
    strategy = head_strategy(FinetuneConfig(strategy="ewc", ewc_lambda=3.0), model, fisher, "new")
    assert isinstance(strategy.inner, EWC)
    FinetuneModule(model, torch.nn.Module(), lambda *a: None, strategy, TrainConfig(max_steps=1))
    # the old head frozen, the new head and the shared blocks trained
    assert not any(p.requires_grad for n, p in model.named_parameters() if n.startswith("readout."))
    assert all(p.requires_grad for n, p in model.named_parameters() if n.startswith("extra_heads."))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5)  # every weight moved by 0.5: shared, new head and (frozen) old head alike
    shared = model.shared_parameter_names()
    count = sum(w0[n].numel() for n in shared)
    # lambda/2 * sum F (dw)^2 over the shared weights only: 3/2 * 2 * 0.25 per weight
    assert float(strategy.penalty(model)) == pytest.approx(0.75 * count, rel=1e-12)
    assert count < sum(p.numel() for p in model.parameters())


# heads that own their last interaction block -------------------------------------------------
@pytest.fixture
def owned_heads(make_potential):
    """Three blocks; every head owns the last one: the old head ``blocks.2``, the new one a copy."""
    model = make_potential(l_max=1, dtype="float64")
    model.add_head("acac", blocks=1)
    return model


def test_a_head_owning_its_last_block_starts_as_a_copy_and_splits_the_parameters(
    make_potential, owned_heads, ethanol_frames
):
    plain = make_potential(l_max=1, dtype="float64")
    batch = collate([frame_to_graph(f, plain.cfg.cutoff) for f in ethanol_frames])
    before = plain(batch)
    for head in ("default", "acac"):
        assert torch.equal(owned_heads(batch, head=head)["forces"], before["forces"])
    assert owned_heads.cfg.head_blocks == 1
    old, new = owned_heads.head_parameter_names("default"), owned_heads.head_parameter_names("acac")
    shared = owned_heads.shared_parameter_names()
    assert {n.split(".")[0] + "." + n.split(".")[1] for n in old} == {"readout.0", "readout.2", "blocks.2"}
    assert {n.split(".")[2] for n in new} == {"blocks", "readout"}
    copies = [n.replace("extra_heads.0.blocks.0.", "blocks.2.").replace("extra_heads.0.", "") for n in new]
    assert copies == old
    assert not any(n.startswith("blocks.2.") for n in shared)
    assert any(n.startswith("blocks.1.") for n in shared) and "embedding.weight" in shared
    assert sorted(shared + old + new) == sorted(n for n, _ in owned_heads.named_parameters())


def test_moving_a_heads_own_block_leaves_the_other_head_and_a_shared_block_moves_both(
    owned_heads, ethanol_frames
):
    batch = collate([frame_to_graph(f, owned_heads.cfg.cutoff) for f in ethanol_frames])
    old, new = owned_heads(batch, head="default")["energy"], owned_heads(batch, head="acac")["energy"]
    with torch.no_grad():
        owned_heads.extra_heads[0].blocks[0].linear_out.weight.mul_(1.5)
    assert torch.equal(owned_heads(batch, head="default")["energy"], old)
    moved = owned_heads(batch, head="acac")["energy"]
    assert (moved - new).abs().min() > 1e-6
    with torch.no_grad():
        owned_heads.blocks[1].linear_out.weight.mul_(1.5)
    assert (owned_heads(batch, head="default")["energy"] - old).abs().min() > 1e-6
    assert (owned_heads(batch, head="acac")["energy"] - moved).abs().min() > 1e-6


def test_a_head_owning_its_last_block_is_equivariant_and_round_trips_through_the_export(
    owned_heads, model_fn, ethanol_frames, tmp_path
):
    with torch.no_grad():
        for p in owned_heads.extra_heads[0].parameters():
            p.add_(0.1 * torch.randn_like(p))
    assert_head_equivariant(model_fn(owned_heads, head="acac"), ethanol_frames[0], seed=4)
    export_model(tmp_path / "model", owned_heads, domain.export_config(owned_heads.cfg))
    loaded = from_pretrained(tmp_path, domain="molecules").model
    assert loaded.cfg.head_blocks == 1
    batch = collate([frame_to_graph(f, loaded.cfg.cutoff) for f in ethanol_frames])
    for head in ("default", "acac"):
        assert torch.equal(owned_heads(batch, head=head)["forces"], loaded(batch, head=head)["forces"])


def test_how_many_blocks_a_head_owns_is_settled_by_the_first_added_head(two_heads, make_potential):
    with pytest.raises(ConfigError) as error:
        two_heads.add_head("ccsd", blocks=1)
    assert str(error.value) == (
        "head_blocks: the model's heads own 0 interaction block(s) each; head 'ccsd' cannot own 1"
    )
    with pytest.raises(ConfigError) as error:
        make_potential(l_max=1).add_head("ccsd", blocks=4)
    assert str(error.value) == "head_blocks: expected 0 to 3 (the model's interaction blocks), got 4"


def test_ewc_with_owned_blocks_anchors_only_the_blocks_still_shared(owned_heads):
    fisher = {n: torch.ones_like(p) for n, p in owned_heads.named_parameters()}
    strategy = head_strategy(FinetuneConfig(strategy="ewc", ewc_lambda=1.0), owned_heads, fisher, "acac")
    anchored = set(strategy.inner.param_names)
    assert anchored == set(owned_heads.shared_parameter_names())
    assert not any(n.startswith(("blocks.2.", "extra_heads.")) for n in anchored)
    FinetuneModule(owned_heads, torch.nn.Module(), lambda *a: None, strategy, TrainConfig(max_steps=1))
    frozen = owned_heads.head_parameter_names("default")
    assert not any(p.requires_grad for n, p in owned_heads.named_parameters() if n in frozen)
    assert all(p.requires_grad for n, p in owned_heads.named_parameters() if n.startswith("extra_heads."))


def test_a_head_warm_up_holds_the_shared_blocks_and_trains_the_new_heads_own(owned_heads):
    fisher = {n: torch.ones_like(p) for n, p in owned_heads.named_parameters()}
    cfg = FinetuneConfig(strategy="ewc", ewc_lambda=1.0, head_warmup=4, head_warmup_ramp=7)
    strategy = head_strategy(cfg, owned_heads, fisher, "acac")
    assert isinstance(strategy, HeadWarmup) and (strategy.steps, strategy.ramp) == (4, 7)
    assert strategy.held_names == owned_heads.shared_parameter_names()
    assert set(strategy.inner.inner.param_names) == set(owned_heads.shared_parameter_names())
    assert set(strategy.inner.frozen) == set(owned_heads.head_parameter_names("default"))


def test_the_online_estimate_is_the_old_heads_gauss_newton_fisher_and_blind_to_the_new_head(
    two_heads, ethanol_frames
):
    graphs = [frame_to_graph(f, two_heads.cfg.cutoff) for f in ethanol_frames]
    objective = ObjectiveConfig()
    axes = {"readout.0.weight": 1}
    first = old_head_estimator(graphs, objective, "default", frames=len(graphs), seed=5, batch_size=2)
    diag, blocks = first(two_heads, axes)
    chunks = [collate(graphs[i : i + 2]) for i in range(0, len(graphs), 2)]
    expected, _, expected_blocks = energy_force_gauss_newton_blocks(
        two_heads, objective, chunks, axes, seed=6, progress=False, head="default"
    )
    for name in expected:
        assert torch.equal(diag[name], expected[name])
    assert torch.equal(blocks["readout.0.weight"], expected_blocks["readout.0.weight"])
    assert all(float(diag[n].abs().sum()) == 0 for n in two_heads.head_parameter_names("acac"))
    assert float(diag["readout.0.weight"].sum()) > 0
    with torch.no_grad():
        for p in two_heads.extra_heads[0].parameters():
            p.add_(1.0)
    again = old_head_estimator(graphs, objective, "default", frames=len(graphs), seed=5, batch_size=2)
    for name, value in again(two_heads, axes)[0].items():
        assert torch.equal(value, diag[name])


# a head's statistics: how its per-atom output becomes an energy, and what it saves -----------
def test_an_added_head_s_energy_is_its_own_scaled_readout_plus_shift_plus_element_references(
    make_potential, ethanol_frames
):
    """E = sum_i (sigma * readout(h_i) + mu + E_ref[Z_i]) with the new head's sigma, mu and E_ref,
    not the first head's: a fine-tuned level of theory predicted with another's statistics would be
    off by eV per atom. The readout is Linear -> SiLU -> Linear, written out by hand."""
    model = make_potential(l_max=1, dtype="float64")
    model.add_head("acac")
    head = model.extra_heads[0]
    model.set_reference_energies({"H": -13.25, "C": -1030.5, "O": -2040.75}, head="acac")
    with torch.no_grad():
        head.energy_shift.fill_(0.25)
        head.energy_scale.fill_(2.0)
    batch = collate([frame_to_graph(f, model.cfg.cutoff) for f in ethanol_frames[:2]])
    out = model(batch, head="acac")
    first, second = head.readout[0], head.readout[2]
    hidden = out["features"] @ first.weight.T + first.bias
    readout = (hidden * torch.sigmoid(hidden)) @ second.weight.T + second.bias
    refs = {1: -13.25, 6: -1030.5, 8: -2040.75}
    atomic = 2.0 * readout[:, 0] + 0.25 + torch.tensor([refs[int(z)] for z in batch.z], dtype=torch.float64)
    assert torch.allclose(out["atomic_energies"], atomic, rtol=0, atol=1e-10)
    expected = torch.stack([atomic[batch.batch == g].sum() for g in range(2)])
    assert torch.allclose(out["energy"], expected, rtol=0, atol=1e-10)
    # the first head keeps its own: sigma 1, mu -0.5, the references it was built with
    default = model(batch, head="default")
    refs0 = {1: -13.6, 6: -1025.3, 8: -2035.6}
    hidden = default["features"] @ model.readout[0].weight.T + model.readout[0].bias
    readout0 = (hidden * torch.sigmoid(hidden)) @ model.readout[2].weight.T + model.readout[2].bias
    atomic0 = readout0[:, 0] - 0.5 + torch.tensor([refs0[int(z)] for z in batch.z], dtype=torch.float64)
    assert torch.allclose(default["atomic_energies"], atomic0, rtol=0, atol=1e-10)


def test_a_head_s_reference_energies_are_float64_in_a_float32_potential(make_potential):
    """-1025.3123 eV in float32 is -1025.312255859375: float32 references would put every total
    energy of an added head off by some 0.04 meV per carbon atom, whatever the network learnt."""
    model = make_potential(l_max=1, dtype="float32", references=(-13.6123, -1025.3123, -2035.6123))
    model.add_head("acac")
    head = model.extra_heads[0]
    assert head.reference_energies.dtype == torch.float64
    assert head.reference_energies.tolist() == [-13.6123, -1025.3123, -2035.6123]
    assert head.readout[0].weight.dtype == torch.float32  # the learned part stays in the model's dtype


def test_a_head_saves_its_references_shift_and_scale_and_loading_them_restores_them(make_potential):
    """The buffers travel in the state dict (the export's safetensors): a head loaded from a
    checkpoint predicts with the statistics it was trained with, not those of a fresh config."""
    trained = Head(4, 3, HeadConfig("acac", [-13.25, -1030.5, -2040.75], energy_shift=0.25, energy_scale=2.0))
    state = trained.state_dict()
    assert set(state) == {
        "reference_energies",
        "energy_shift",
        "energy_scale",
        "readout.0.weight",
        "readout.0.bias",
        "readout.2.weight",
        "readout.2.bias",
    }
    fresh = Head(4, 3, HeadConfig("acac", [0.0, 0.0, 0.0]))
    fresh.load_state_dict(state)
    assert fresh.reference_energies.tolist() == [-13.25, -1030.5, -2040.75]
    assert fresh.reference_energies.dtype == torch.float64
    assert (float(fresh.energy_shift), float(fresh.energy_scale)) == (0.25, 2.0)


def test_a_head_owning_two_blocks_holds_both_and_starts_as_a_copy(make_potential, ethanol_frames):
    """Each of the owned blocks is the head's own copy: with one dropped the new head would skip an
    interaction and predict other energies than the head it was copied from."""
    model = make_potential(l_max=1, dtype="float64")
    batch = collate([frame_to_graph(f, model.cfg.cutoff) for f in ethanol_frames[:2]])
    before = model(batch)["energy"]
    model.add_head("acac", blocks=2)
    assert len(model.extra_heads[0].blocks) == 2
    assert torch.allclose(model(batch, head="acac")["energy"], before, rtol=0, atol=1e-10)


# three heads: the middle one is read, trained and saved as itself, not as the newest -----------
@pytest.fixture
def three_heads(make_potential):
    """Heads default, pbe, ccsd, each with its own references and span (pbe's differ from ccsd's)."""
    model = make_potential(l_max=1, dtype="float64")
    model.add_head("pbe")
    model.set_reference_energies({"H": -13.5, "C": -1030.0, "O": -2040.0})
    model.set_reference_span([[6.0, 2.0, 1.0]])
    model.add_head("ccsd")
    model.set_reference_energies({"H": -13.0, "C": -1020.0, "O": -2030.0})
    model.set_reference_span(None)
    with torch.no_grad():
        for p in model.extra_heads[1].readout.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def test_the_middle_of_three_heads_predicts_with_its_own_references_and_readout(three_heads, ethanol_frames):
    """With three levels of theory, --head pbe must read pbe's statistics: the newest head's
    references would put every pbe energy off by some 0.5 eV per H atom."""
    assert three_heads.head_names == ["default", "pbe", "ccsd"] and three_heads.head == "ccsd"
    assert three_heads.head_module("pbe") is three_heads.extra_heads[0]
    assert three_heads.head_module("pbe").reference_energies.tolist() == [-13.5, -1030.0, -2040.0]
    assert three_heads.cfg.heads[0].reference_energies == [-13.5, -1030.0, -2040.0]
    assert three_heads.reference_span("pbe") == [[6.0, 2.0, 1.0]] and three_heads.reference_span() is None
    batch = collate([frame_to_graph(f, three_heads.cfg.cutoff) for f in ethanol_frames[:2]])
    pbe, default = three_heads(batch, head="pbe"), three_heads(batch, head="default")
    # pbe is a copy of default's readout, shift and scale: only the references differ, per atom
    shift = {1: 0.1, 6: -4.7, 8: -4.4}
    expected = default["atomic_energies"] + torch.tensor(
        [shift[int(z)] for z in batch.z], dtype=torch.float64
    )
    assert torch.allclose(pbe["atomic_energies"], expected, rtol=0, atol=1e-9)


def test_the_middle_head_s_parameters_are_its_own_readout_only(three_heads):
    """Fine-tuning pbe again trains (and EWC leaves unanchored) pbe's readout alone: ccsd's readout
    counted as pbe's would be trained away from its level of theory."""
    assert three_heads.head_parameter_names("pbe") == [
        "extra_heads.0.readout.0.weight",
        "extra_heads.0.readout.0.bias",
        "extra_heads.0.readout.2.weight",
        "extra_heads.0.readout.2.bias",
    ]
    assert all(n.startswith("extra_heads.1.") for n in three_heads.head_parameter_names("ccsd"))


def test_a_head_copied_from_an_older_head_takes_that_head_s_statistics(three_heads, ethanol_frames):
    """add_head(copy_from='pbe') starts a new level of theory from pbe (its readout, references and
    span), not from the current head: starting from ccsd would begin some 0.5 eV per H atom away."""
    batch = collate([frame_to_graph(f, three_heads.cfg.cutoff) for f in ethanol_frames[:2]])
    pbe = three_heads(batch, head="pbe")
    three_heads.add_head("r2scan", copy_from="pbe")
    assert three_heads.head == "r2scan"
    assert three_heads.cfg.heads[2].reference_energies == [-13.5, -1030.0, -2040.0]
    assert three_heads.reference_span("r2scan") == [[6.0, 2.0, 1.0]]
    assert torch.equal(three_heads(batch, head="r2scan")["energy"], pbe["energy"])


def test_setting_a_named_head_s_references_and_span_leaves_the_current_head_s(three_heads):
    """set_reference_energies(head='default') while ccsd is current writes the first head's buffer
    and config: a config left with ccsd's values would export references the buffers do not hold."""
    three_heads.set_reference_energies({"H": -1.0, "C": -2.0, "O": -3.0}, head="default")
    three_heads.set_reference_span([[1.0, 0.0, 0.0]], head="default")
    assert three_heads.reference_energies.tolist() == [-1.0, -2.0, -3.0]
    assert three_heads.cfg.reference_energies == [-1.0, -2.0, -3.0]
    assert three_heads.cfg.reference_span == [[1.0, 0.0, 0.0]]
    assert three_heads.cfg.heads[1].reference_energies == [-13.0, -1020.0, -2030.0]
    assert three_heads.reference_span("ccsd") is None


def test_references_missing_an_element_are_refused_naming_the_first_missing(make_potential):
    """An element without a reference would leave its old value behind, silently: refused, naming
    the first element of the table missing."""
    model = make_potential(l_max=1)
    with pytest.raises(DataError) as error:
        model.set_reference_energies({"H": -13.0})
    assert str(error.value) == "reference energies: none given for element C"
    assert model.reference_energies.tolist() == [-13.6, -1025.3, -2035.6]


def test_a_first_added_head_may_own_every_interaction_block(make_potential, ethanol_frames):
    """blocks = layers (3) is the edge of the range the message names: the new head is then a whole
    copy of the network but the embedding, and starts predicting as the first head does."""
    model = make_potential(l_max=1, dtype="float64")
    batch = collate([frame_to_graph(f, model.cfg.cutoff) for f in ethanol_frames[:2]])
    before = model(batch)["energy"]
    model.add_head("acac", blocks=3)
    assert model.cfg.head_blocks == 3 and len(model.extra_heads[0].blocks) == 3
    assert not any(n.startswith("blocks.") for n in model.shared_parameter_names())
    assert torch.allclose(model(batch, head="acac")["energy"], before, rtol=0, atol=1e-10)


def test_a_later_head_cannot_own_fewer_blocks_than_the_first_added(owned_heads):
    """Every head owns as many blocks as the first added one: a head owning none while the others
    own the last block would share what they each hold their own."""
    with pytest.raises(ConfigError) as error:
        owned_heads.add_head("ccsd", blocks=0)
    assert str(error.value) == (
        "head_blocks: the model's heads own 1 interaction block(s) each; head 'ccsd' cannot own 0"
    )


def test_a_potential_built_from_a_config_with_heads_predicts_with_the_newest(make_potential):
    """A config listing added heads (an export's) makes the newest the head a call without head=
    uses, and select_head(None) returns to it."""
    model = make_potential(
        l_max=1, heads=[HeadConfig("pbe", [0.0, 0.0, 0.0]), HeadConfig("ccsd", [1.0, 1.0, 1.0])]
    )
    assert model.head == "ccsd" and model.default_head == "ccsd"
    assert model.select_head("pbe").head == "pbe" and model.select_head(None).head == "ccsd"


def test_each_head_keeps_its_own_periodic_images_record(three_heads):
    """Whether a head's training frames had periodic images is the head's own: a new head starts
    from the record of the head it copies, and setting one head's leaves the others'."""
    three_heads.set_periodic_images(False, head="default")
    three_heads.set_periodic_images(True, head="pbe")
    assert [three_heads.periodic_images(h) for h in ("default", "pbe", "ccsd")] == [False, True, None]
    three_heads.add_head("r2scan", copy_from="pbe")
    assert three_heads.periodic_images() is True and three_heads.cfg.heads[2].periodic_images is True
    three_heads.set_periodic_images(False)
    assert three_heads.periodic_images("pbe") is True and three_heads.cfg.periodic_images is False
