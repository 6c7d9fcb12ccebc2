"""The tokenizer base shared by the sequence domains (DNA, protein).

Sequences are first normalised to *codes*: one ``uint8`` per residue, an index into the domain's
alphabet (``sciPT.sequences`` does this while reading FASTA, once). A tokenizer then maps codes to
token ids, either one token per residue or one per overlapping k-mer (DNABERT, Ji et al. 2021).

Vocabulary layout, fixed so that ids mean the same thing in every sciPT sequence model::

    0 [PAD]   1 [UNK]   2 [CLS]   3 [SEP]   4 [MASK]   5.. normal tokens

Single-residue mode: normal token ``5 + code`` for every alphabet symbol.
k-mer mode: only the ``core`` symbols (A, C, G, T for DNA) form k-mers; a k-mer is the base-``n``
number of its codes, ``5 + sum_j code_j * n**(k-1-j)``; a k-mer containing any other symbol
(N, an ambiguity code) becomes ``[UNK]``. A window of ``W`` residues gives ``W - k + 1`` tokens.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(SPECIAL_TOKENS))


@dataclass
class Alphabet:
    """Residue symbols in code order; the first ``n_core`` of them form k-mers."""

    symbols: str
    n_core: int

    def __post_init__(self):
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"alphabet has repeated symbols: {self.symbols}")


class SequenceTokenizer:
    """Codes -> token ids, per residue (``k = 1``) or per overlapping k-mer.

    Args:
        alphabet: the domain's alphabet.
        k: 1 for one token per residue, else the k-mer length (core symbols only).
    """

    def __init__(self, alphabet: Alphabet, k: int = 1):
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.alphabet, self.k = alphabet, k
        n = alphabet.n_core if k > 1 else len(alphabet.symbols)
        self._radix = n
        self._powers = (n ** np.arange(k - 1, -1, -1)).astype(np.int64)

    # vocabulary ----------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(SPECIAL_TOKENS) + self._radix**self.k

    @property
    def special_ids(self) -> list[int]:
        return list(range(len(SPECIAL_TOKENS)))

    @property
    def normal_ids(self) -> list[int]:
        return list(range(len(SPECIAL_TOKENS), self.vocab_size))

    pad_id, unk_id, cls_id, sep_id, mask_id = PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID

    def tokens(self) -> list[str]:
        symbols = self.alphabet.symbols[: self._radix]
        words = ["".join(w) for w in itertools.product(symbols, repeat=self.k)]
        return list(SPECIAL_TOKENS) + words

    def n_tokens(self, n_residues: int) -> int:
        return max(0, n_residues - self.k + 1)

    def complement_ids(self, complement: np.ndarray) -> list[int]:
        """The id of each token's reverse complement (special tokens are their own).

        ``complement[code]`` is the code of the paired residue. A k-mer maps to the k-mer read on
        the other strand (reversed and complemented), so encoding a sequence's reverse complement
        gives the reversed ids mapped through this list. Needs the core symbols closed under
        ``complement`` when ``k > 1``.
        """
        complement = np.asarray(complement, dtype=np.int64)
        ids = np.arange(self.vocab_size)
        n = len(SPECIAL_TOKENS)
        if self.k == 1:
            ids[n:] = complement[: self._radix] + n
            return ids.tolist()
        if (complement[: self._radix] >= self._radix).any():
            raise ValueError("the complement of a core symbol is not a core symbol")
        words = np.arange(self._radix**self.k)
        digits = (words[:, None] // self._powers) % self._radix  # [n_words, k], first symbol first
        paired = complement[digits[:, ::-1]]
        ids[n:] = (paired * self._powers).sum(1) + n
        return ids.tolist()

    # encoding -------------------------------------------------------------------------------
    def encode_codes(self, codes: np.ndarray) -> np.ndarray:
        """Shapes: codes ``[..., W]`` uint8 -> ids ``[..., W - k + 1]`` int64."""
        codes = np.asarray(codes)
        if self.k == 1:
            return codes.astype(np.int64) + len(SPECIAL_TOKENS)
        if codes.shape[-1] < self.k:  # no whole k-mer: no token (n_tokens)
            return np.zeros((*codes.shape[:-1], 0), np.int64)
        windows = np.lib.stride_tricks.sliding_window_view(codes, self.k, axis=-1)
        ids = (windows.astype(np.int64) * self._powers).sum(-1) + len(SPECIAL_TOKENS)
        ids[(windows >= self.alphabet.n_core).any(-1)] = UNK_ID
        return ids

    def encode(self, sequence: str) -> np.ndarray:
        """A string of alphabet symbols (already validated) -> ids. Ambiguity codes are the
        domain's to read (``SequenceSpec.encode`` maps them onto the unknown symbol); here they
        are a :class:`ValueError` naming the first."""
        lookup = {s: i for i, s in enumerate(self.alphabet.symbols)}
        bad = next((i for i, c in enumerate(sequence.upper()) if c not in lookup), None)
        if bad is not None:
            raise ValueError(
                f"{sequence[bad]!r} at position {bad} is not one of {''.join(self.alphabet.symbols)}; "
                "read sequences with the domain's SequenceSpec.encode, which maps ambiguity codes"
            )
        codes = np.fromiter((lookup[c] for c in sequence.upper()), dtype=np.uint8, count=len(sequence))
        return self.encode_codes(codes)

    def batch(self, code_arrays: list[np.ndarray], max_tokens: int | None = None) -> dict[str, torch.Tensor]:
        """Encode and right-pad a list of code arrays into ``input_ids`` / ``attention_mask``.

        Shapes: ``input_ids`` LongTensor ``[B, L]``, ``attention_mask`` BoolTensor ``[B, L]`` with
        ``L`` the longest encoded sequence (cropped to ``max_tokens`` when given).
        """
        encoded = [self.encode_codes(c) for c in code_arrays]
        if max_tokens is not None:
            encoded = [e[:max_tokens] for e in encoded]
        length = max((len(e) for e in encoded), default=0)
        ids = np.full((len(encoded), length), PAD_ID, dtype=np.int64)
        for i, e in enumerate(encoded):
            ids[i, : len(e)] = e
        input_ids = torch.from_numpy(ids)
        return {"input_ids": input_ids, "attention_mask": input_ids != PAD_ID}

    # serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"symbols": self.alphabet.symbols, "n_core": self.alphabet.n_core, "k": self.k}

    @classmethod
    def from_dict(cls, data: dict) -> SequenceTokenizer:
        return cls(Alphabet(data["symbols"], data["n_core"]), k=data["k"])
