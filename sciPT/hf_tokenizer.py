"""The tokenizer of an ``hf:`` folder: sciPT's residue codes through the folder's ``EsmTokenizer``.

:class:`HFTokenizer` spells the codes out as the alphabet's symbols and lets ``EsmTokenizer``
itself, the reference, cut them into ids (the rules: the :mod:`sciPT.hf` docstring). The backbone
beside it is :class:`sciPT.hf.HFEncoder`; loading a folder, both at once, :func:`sciPT.hf_load.load_hf`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .errors import UserError
from .hf import _quiet, transformers_module

VOCAB_NAME = "vocab.txt"
SPECIAL_TOKENS = ("unk_token", "cls_token", "pad_token", "mask_token", "eos_token")


class HFTokenizer:
    """Residue codes -> the ids of an ``EsmTokenizer``, through the sequence string.

    Args:
        tokenizer: the folder's ``EsmTokenizer``.
        symbols: the alphabet of the codes (code ``i`` is ``symbols[i]``).
        special_tokens: the names of its special tokens (what :meth:`to_dict` records).
    """

    kind = "hf"

    def __init__(
        self,
        tokenizer,
        symbols: str,
        special_tokens: dict[str, str | None],
        add_special_tokens: bool = True,
    ):
        self.hf = tokenizer
        self.symbols = symbols
        self.special_tokens = dict(special_tokens)
        self.add_special_tokens = bool(add_special_tokens)
        self._letters = np.frombuffer(symbols.encode("ascii"), dtype=np.uint8)
        self.n_special = int(tokenizer.num_special_tokens_to_add()) if add_special_tokens else 0
        # symbols the vocabulary has no token for (N in a vocabulary of A, C, G, T): spelled as the
        # unknown token itself, one per residue. Left as letters, ``EsmTokenizer`` read a run of them
        # as ONE unknown token, so an assembly gap of ten Ns shortened its window by nine tokens and
        # moved every position after it
        unread = [i for i, symbol in enumerate(symbols) if self.reads_as_unknown(symbol)]
        self._spelling = None
        if unread:
            spelling = np.array(list(symbols), dtype=object)
            spelling[unread] = tokenizer.unk_token
            self._spelling = spelling
        self._unread = {ord(symbols[i]): tokenizer.unk_token for i in unread}

    def reads_as_unknown(self, symbol: str) -> bool:
        """Whether the vocabulary has no token for ``symbol`` (``EsmTokenizer`` gives the unknown id)."""
        ids = self.hf(symbol, add_special_tokens=False)["input_ids"]
        return not ids or any(i is None or i == self.hf.unk_token_id for i in ids)

    @classmethod
    def from_folder(cls, folder: str | Path, symbols: str, add_special_tokens: bool = True) -> HFTokenizer:
        """The tokenizer saved in ``folder`` (its ``vocab.txt`` and ``tokenizer_config.json``)."""
        transformers = transformers_module()
        with _quiet():
            tok = transformers.EsmTokenizer.from_pretrained(
                str(folder), local_files_only=True, trust_remote_code=False
            )
        special = {name: getattr(tok, name, None) for name in SPECIAL_TOKENS}
        special = {k: None if v is None else str(v) for k, v in special.items()}
        return cls(tok, symbols, special, add_special_tokens)

    @classmethod
    def from_dict(cls, data: dict, folder: str | Path) -> HFTokenizer:
        """Rebuild from :meth:`to_dict` and the ``vocab.txt`` saved beside it in ``folder``."""
        transformers = transformers_module()
        vocab = Path(folder) / data.get("vocab", VOCAB_NAME)
        if not vocab.is_file():
            raise UserError(f"{vocab}: not found (the tokenizer vocabulary of an hf: model)")
        with _quiet():
            tok = transformers.EsmTokenizer(vocab_file=str(vocab), **data["special_tokens"])
        return cls(tok, data["symbols"], data["special_tokens"], data.get("add_special_tokens", True))

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "symbols": self.symbols,
            "vocab": VOCAB_NAME,
            "special_tokens": self.special_tokens,
            "add_special_tokens": self.add_special_tokens,
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``vocab.txt`` into ``folder`` (atomically), what :meth:`from_dict` reads."""
        from . import io

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with io.atomic_path(folder / VOCAB_NAME) as tmp:
            Path(tmp).write_text("\n".join(self.hf.all_tokens), encoding="utf-8")
        return folder / VOCAB_NAME

    # vocabulary ------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return int(self.hf.vocab_size)

    @property
    def pad_id(self) -> int:
        return int(self.hf.pad_token_id)

    @property
    def mask_id(self) -> int:
        return int(self.hf.mask_token_id)

    def n_tokens(self, n_residues: int) -> int:
        """The most tokens ``n_residues`` residues can give: one per residue, plus the specials."""
        return max(0, n_residues) + self.n_special

    def max_residues(self, n_tokens: int) -> int:
        """The longest input, in residues, that is sure to fit in ``n_tokens`` tokens."""
        return n_tokens - self.n_special

    # encoding --------------------------------------------------------------------------------
    def text(self, codes: np.ndarray) -> str:
        """Residue codes -> the sequence string (upper case alphabet symbols; a symbol the
        vocabulary cannot read, its unknown token)."""
        codes = np.asarray(codes, dtype=np.int64)
        if self._spelling is not None:
            return "".join(self._spelling[codes])
        return self._letters[codes].tobytes().decode("ascii")

    def _ids(self, texts):
        return self.hf(texts, add_special_tokens=self.add_special_tokens)["input_ids"]

    def encode_codes(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(self._ids(self.text(codes)), dtype=np.int64)

    def encode(self, sequence: str) -> np.ndarray:
        return np.asarray(self._ids(sequence.upper().translate(self._unread)), dtype=np.int64)

    def batch(self, code_arrays: list[np.ndarray], max_tokens: int | None = None) -> dict[str, Tensor]:
        """Tokenize and right-pad: ``input_ids`` LongTensor ``[B, L]``, ``attention_mask``
        BoolTensor ``[B, L]`` (cropped to ``max_tokens`` when given), as sciPT's tokenizer does."""
        encoded = self._ids([self.text(c) for c in code_arrays]) if code_arrays else []
        if max_tokens is not None:
            encoded = [e[:max_tokens] for e in encoded]
        length = max((len(e) for e in encoded), default=0)
        ids = np.full((len(encoded), length), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encoded), length), dtype=bool)
        for i, e in enumerate(encoded):
            ids[i, : len(e)] = e
            mask[i, : len(e)] = True
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
