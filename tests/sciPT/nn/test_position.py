"""Position encodings (sciPT.nn.position): rotary angles for another base, cache growth, ALiBi slopes
for a head count that is not a power of two."""

import math

import pytest
import torch

from sciPT.nn import ALiBi, RotaryEmbedding
from sciPT.nn.position import alibi_slopes


def test_rotary_uses_the_given_base():
    # theta_i = base^(-2i/d_h): with base 100 and d_h = 4 the two frequencies are 1 and 0.1
    rotary = RotaryEmbedding(4, base=100.0)
    cos, sin = rotary.tables(4, torch.device("cpu"))
    angles = torch.tensor([[3.0, 0.3, 3.0, 0.3]], dtype=torch.float64).cos()
    torch.testing.assert_close(cos[3], angles)
    x = torch.tensor([[[1.0, 0.0, 0.0, 0.0]]], dtype=torch.float64)  # (L=1, n=1, d_h=4)
    out = rotary(x, positions=torch.tensor([3]))
    # channel 0 pairs with channel 2: (1, 0) rotated by 3 radians is (cos 3, sin 3)
    torch.testing.assert_close(
        out[0, 0], torch.tensor([math.cos(3), 0.0, math.sin(3), 0.0], dtype=torch.float64)
    )


def test_a_growing_cache_gives_the_tables_of_a_fresh_one():
    # a long batch after short ones (as in a validation pass) must see the same angles as a fresh module
    grown = RotaryEmbedding(8)
    for length in (3, 5, 17, 40):
        grown.tables(length, torch.device("cpu"))
    fresh_cos, fresh_sin = RotaryEmbedding(8).tables(40, torch.device("cpu"))
    cos, sin = grown.tables(40, torch.device("cpu"))
    assert cos.shape == (40, 1, 8)
    torch.testing.assert_close(cos, fresh_cos, rtol=0, atol=0)
    torch.testing.assert_close(sin, fresh_sin, rtol=0, atol=0)


def test_alibi_slopes_for_twelve_heads_follow_the_reference_code():
    # Press et al.: the 8 slopes of 8 heads, then every other slope of 16 heads (2^-0.5, 2^-1.5, ...)
    expected = [2.0**-i for i in range(1, 9)] + [2.0**-0.5, 2.0**-1.5, 2.0**-2.5, 2.0**-3.5]
    assert alibi_slopes(12).tolist() == pytest.approx(expected, rel=1e-6)


def test_alibi_bias_is_cached_apart_for_causal_and_bidirectional():
    # asking for the causal bias after the bidirectional one (or back) must not return the other
    alibi = ALiBi(2)
    both = alibi(3, torch.device("cpu"))
    causal = alibi(3, torch.device("cpu"), causal=True)
    again = alibi(3, torch.device("cpu"))
    s = 2.0**-4  # the first of two heads' slopes, 2^(-8/2)
    expected = torch.tensor([[0, -s, -2 * s], [-s, 0, -s], [-2 * s, -s, 0]])
    torch.testing.assert_close(both[0, 0], expected)
    assert causal[0, 0, 0, 1] == float("-inf") and causal[0, 0, 2, 0] == pytest.approx(-2 * s)
    assert torch.equal(again, both)


def test_odd_rotary_head_dimension_is_refused_word_for_word():
    # rotation pairs channel i with i + d_h/2, so an odd d_h has a channel with no partner
    with pytest.raises(ValueError) as err:
        RotaryEmbedding(5)
    assert str(err.value) == "rotary embedding needs an even head dimension, got 5"


def test_alibi_bias_comes_in_the_asked_dtype_from_one_module():
    """The bias is cached per dtype: one module asked for float64 and then float32 (or back) must
    return each in its own dtype, float64 holding -slope * distance at full precision (the
    attention's dtype guard would otherwise hide a float32 bias behind a cast)."""
    alibi = ALiBi(4)
    cpu = torch.device("cpu")
    slopes = [2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8]  # 2^(-8h/4), h = 1..4
    distance = torch.tensor([[abs(m - n) for n in range(5)] for m in range(5)], dtype=torch.float64)
    expected = torch.stack([-s * distance for s in slopes])[None]
    for dtype in (torch.float64, torch.float32, torch.float64):
        bias = alibi(5, cpu, dtype=dtype)
        assert bias.dtype == dtype and bias.shape == (1, 4, 5, 5)
        torch.testing.assert_close(bias, expected.to(dtype), rtol=0, atol=0)
