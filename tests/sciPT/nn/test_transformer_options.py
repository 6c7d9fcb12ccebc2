"""Training-time options of the encoder: activation checkpointing and ``torch.compile``.

Neither may change a result: the loss and every gradient with checkpointing equal those without
(dropout included, whose random state checkpointing restores when it recomputes a block), and a
compiled encoder gives the loss of the eager one.
"""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from sciPT.nn import TransformerConfig, TransformerEncoder

PAD = 0


def make_encoder(position="rotary", **overrides) -> TransformerEncoder:
    """A float64 encoder with weights perturbed away from the init, so equalities are not trivial."""
    torch.manual_seed(0)
    kwargs = dict(vocab_size=20, d_model=32, n_layers=2, n_heads=4, d_ff=64, position=position, pad_id=PAD)
    encoder = TransformerEncoder(TransformerConfig(**{**kwargs, **overrides})).double()
    with torch.no_grad():
        for p in encoder.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return encoder


def tokens(batch, length, seed=1):
    return torch.randint(1, 20, (batch, length), generator=torch.Generator().manual_seed(seed))


def loss_and_grads(encoder, ids, mask=None, select=None, causal=False, seed=0):
    """A loss that weighs every output coordinate differently, and the gradient of every parameter."""
    encoder.zero_grad()
    torch.manual_seed(seed)  # the dropout masks
    out = encoder(ids, mask, causal=causal, select=select)
    weights = torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).reshape(out.shape)
    loss = (out * weights).sum()
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in encoder.named_parameters()}


@pytest.mark.parametrize("position", ["rotary", "alibi"])
@pytest.mark.parametrize("dropout", [0.0, 0.1])
@pytest.mark.parametrize("selected", [False, True])
def test_checkpointing_changes_neither_loss_nor_gradients(position, dropout, selected):
    encoder = make_encoder(position, n_layers=3, dropout=dropout).train()
    ids = tokens(3, 12)
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[1, 9:] = False  # padding: the mask path through every block
    ids[1, 9:] = PAD
    select = (torch.arange(12) % 4 == 1).expand(3, -1) & mask if selected else None

    loss, grads = loss_and_grads(encoder, ids, mask, select)
    encoder.activation_checkpointing = True
    loss_ckpt, grads_ckpt = loss_and_grads(encoder, ids, mask, select)

    assert dropout == 0.0 or not torch.equal(loss, loss_and_grads(encoder, ids, mask, select, seed=1)[0])
    torch.testing.assert_close(loss_ckpt, loss, rtol=1e-12, atol=1e-12)
    assert grads.keys() == grads_ckpt.keys()
    for name in grads:
        assert grads[name].abs().sum() > 0 or name == "embedding.weight", name
        torch.testing.assert_close(grads_ckpt[name], grads[name], rtol=1e-10, atol=1e-12, msg=name)


def test_checkpointing_recomputes_each_block_in_the_backward_pass():
    """The property that saves the memory: each block runs twice per training step."""
    encoder = make_encoder(n_layers=2).train()
    calls = []
    for i, block in enumerate(encoder.blocks):
        # a pre-hook: a recomputation stops as soon as it has what backward needs, before post-hooks
        block.register_forward_pre_hook(lambda *_, i=i: calls.append(i))
    ids = tokens(2, 8)
    loss_and_grads(encoder, ids)
    assert calls == [0, 1]
    calls.clear()
    encoder.activation_checkpointing = True
    loss_and_grads(encoder, ids)
    assert sorted(calls) == [0, 0, 1, 1]
    calls.clear()
    with torch.no_grad():  # nothing to recompute without a backward pass
        encoder(ids)
    assert calls == [0, 1]


def _can_compile() -> str | None:
    """Why torch.compile cannot run here (Inductor's CPU code needs a C++ compiler), or None."""
    if shutil.which("c++") is None and shutil.which("g++") is None and shutil.which("clang++") is None:
        return "no C++ compiler on PATH (torch.compile's CPU backend, Inductor, compiles C++)"
    capability = os.environ.get("ATEN_CPU_CAPABILITY")
    if capability == "default":
        # torch 2.13's Inductor still emits at::vec code there, which does not compile; the kernel
        # rerun of CI checks ATen's kernels, and the compile test runs in the main suite
        return "ATEN_CPU_CAPABILITY=default: Inductor's generated C++ uses at::vec, which that setting leaves out"
    if capability:
        # Inductor's on-disk cache does not tell kernel settings apart: a kernel compiled for this
        # machine's own (AVX-512) and read back under avx2 gave a NaN loss
        return f"ATEN_CPU_CAPABILITY={capability}: Inductor's cache would mix kernels of two settings"
    return None


@pytest.mark.slow  # Inductor's first C++ build: ~20 s with a warm cache, minutes cold on 2 busy cores
@pytest.mark.skipif(_can_compile() is not None, reason=str(_can_compile()))
def test_compiled_encoder_gives_the_eager_loss_and_gradients():
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=12, d_model=16, n_layers=1, n_heads=2, d_ff=32, pad_id=PAD)
    encoder = TransformerEncoder(cfg)
    ids = torch.randint(1, 12, (2, 8), generator=torch.Generator().manual_seed(3))
    loss, grads = loss_and_grads(encoder, ids)
    names = [n for n, _ in encoder.named_parameters()]
    encoder.compile()
    assert [n for n, _ in encoder.named_parameters()] == names  # state-dict keys unchanged
    loss_compiled, grads_compiled = loss_and_grads(encoder, ids)
    # float32, fused kernels sum in another order: agreement to float32 rounding, not bits
    torch.testing.assert_close(loss_compiled, loss, rtol=1e-5, atol=1e-5)
    for name in grads:
        torch.testing.assert_close(grads_compiled[name], grads[name], rtol=1e-4, atol=1e-5, msg=name)


def test_dropout_only_in_training():
    """In eval mode a dropout-0.5 encoder is the same function as its dropout-0 twin (evaluation
    and inference are deterministic); in training every pass draws new masks."""
    ids = tokens(2, 10)
    dropped = make_encoder(dropout=0.5).eval()
    plain = make_encoder(dropout=0.0).eval()  # same seed: the same weights
    torch.testing.assert_close(dropped(ids), plain(ids), rtol=0, atol=0)
    dropped.train()
    assert (dropped(ids) - dropped(ids)).abs().max() > 1e-3


@pytest.mark.parametrize("site", ["embedding", "attention weights", "attention branch", "ffn branch"])
def test_each_dropout_site_is_active_in_training(site):
    """The docstring's dropout sites: the token embeddings, the attention weights and each block's
    two residual branches; one site at a time in train mode must make the output random."""
    encoder = make_encoder(dropout=0.5, n_layers=1).eval()
    block = encoder.blocks[0]
    with torch.no_grad():
        if site == "attention branch":  # only the attention branch is nonzero
            block.ffn.down.weight.zero_()
            block.ffn.down.bias.zero_()
        if site == "ffn branch":  # only the FFN branch is nonzero
            block.attn.out.weight.zero_()
            block.attn.out.bias.zero_()
    module = {
        "embedding": encoder.embed_dropout,
        "attention weights": block.attn,
        "attention branch": block.dropout,
        "ffn branch": block.dropout,
    }[site]
    ids = tokens(2, 10)
    torch.testing.assert_close(encoder(ids), encoder(ids), rtol=0, atol=0)
    module.train()
    torch.manual_seed(0)
    first = encoder(ids)
    assert (first - encoder(ids)).abs().max() > 1e-3
