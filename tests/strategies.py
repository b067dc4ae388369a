"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

import unicodedata

from hypothesis import strategies as st

from events.text import unusable_character


def typed_text(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    """Text a person can type: what every text field accepts, as `Text` stores it (NFC)."""
    return (
        st.text(st.characters(codec="utf-8"), min_size=min_size, max_size=max_size)
        .filter(lambda t: not any(unusable_character(c) for c in t))
        .map(lambda t: unicodedata.normalize("NFC", t))
        .filter(lambda t: min_size <= len(t) <= max_size)
    )
