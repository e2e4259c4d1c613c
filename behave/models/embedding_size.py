"""How many dimensions a token embedding gets: a fixed number, or a rule of thumb over the vocabulary size.

    rule           dimension for a vocabulary of n tokens
    int            the int itself
    fourth_root    max(2, round(n ** 0.25))             Google's rule of thumb (feature columns guide)
    fastai         min(600, round(1.6 * n ** 0.56))     fastai's `emb_sz_rule` for tabular categories

A rule keeps the embedding proportionate when the same config runs on datasets whose vocabularies differ
by orders of magnitude; the resolved size is what the model reports.
"""

from __future__ import annotations

from collections.abc import Callable


def _fourth_root(vocab_size: int) -> int:
    return max(2, round(vocab_size**0.25))


def _fastai(vocab_size: int) -> int:
    return min(600, round(1.6 * vocab_size**0.56))


EMBEDDING_RULES: dict[str, Callable[[int], int]] = {"fourth_root": _fourth_root, "fastai": _fastai}


def resolve_embedding_dim(rule: int | str, vocab_size: int) -> int:
    """The embedding dimension for `vocab_size` tokens (padding and unknown included) under `rule`."""
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    # bool is an int subclass; `embedding_dim: true` in YAML is a typo, not a size.
    if isinstance(rule, int) and not isinstance(rule, bool):
        if rule < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {rule}")
        return rule
    if rule not in EMBEDDING_RULES:
        valid = ", ".join(["<positive int>", *EMBEDDING_RULES])
        raise ValueError(f"unknown embedding_dim rule {rule!r}; valid: {valid}")
    return EMBEDDING_RULES[rule](vocab_size)
