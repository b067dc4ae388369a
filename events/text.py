"""Text as people type it: the one string type of every event and command field.

PostgreSQL's `text` and `jsonb` cannot hold NUL, UTF-8 cannot carry half a surrogate
pair, and no person types a control character or a Unicode non-character: such a value
would be stored, then break every reader downstream (one NUL stopped every projection).
So `Text` refuses them where they come in, naming the character and where it is, and
NFC-normalises the rest, so that one name typed on two keyboards is one name. Tabs and
line breaks are kept (a Windows line break becomes one newline); bidirectional marks
are kept too (right-to-left names need them). Every field states its maximum length,
checked on the normalised text.

Events stored before this check existed load unchanged (the mapper validates them
with `STORED`): what is in the store is history, refused only at the edge.

What a request may hold is stated in its JSON Schema (the OpenAPI document): every
`Text` there has the `pattern` TEXT_PATTERN, unless its field has a stricter pattern of
its own. (Unpaired surrogates cannot be named in a pattern; JSON text in UTF-8 cannot
carry them anyway, only a `\ud800` escape can.) Schemas of what is stored and published
(serialization mode: events, answers) do not have it, as history may not match it.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, GetJsonSchemaHandler, ValidationInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

__all__ = [
    "ACCEPTED_TEXT",
    "STORED",
    "TEXT_ERROR",
    "TEXT_PATTERN",
    "Text",
    "unusable_character",
    "usable_text",
]

TEXT_ERROR: Final = "text_character"
"""The pydantic error type of a refused character (the API's problems name what is accepted)."""

ACCEPTED_TEXT: Final = (
    "printable Unicode text; tabs and line breaks allowed; no NUL or other control "
    "characters, unpaired surrogates or non-characters"
)

STORED: Final = {"stored": True}
"""Validation context for events read back from the store (not checked again)."""

_KEPT_CONTROLS: Final = frozenset("\t\n")


def unusable_character(char: str) -> str | None:
    """Why `char` cannot be in a text field, or None when it can."""
    code = ord(char)
    if code == 0:
        return "a NUL character"
    if (code < 0x20 and char not in _KEPT_CONTROLS) or 0x7F <= code <= 0x9F:
        return "a control character"
    if 0xD800 <= code <= 0xDFFF:
        return "half of a surrogate pair"
    if 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE:
        return "a Unicode non-character"
    return None


def _first_unusable(text: str) -> tuple[int, str, str] | None:
    for at, char in enumerate(text):
        if char.isprintable() or char in _KEPT_CONTROLS:
            continue  # the common case, decided in C
        why = unusable_character(char)
        if why is not None:
            return at, char, why
    return None


def _checked(value: Any, info: ValidationInfo) -> Any:
    if info.context and info.context.get("stored"):
        return value
    return usable_text(value)


def usable_text(value: Any) -> Any:
    """`value` NFC-normalised, or a refusal naming the first character no field accepts.

    Anything but a string is passed on for the `str` schema to refuse."""
    if not isinstance(value, str):
        return value
    if value.isascii() and value.isprintable():
        return value  # nothing to refuse or normalise
    text = value.replace("\r\n", "\n")
    found = _first_unusable(text)
    if found is not None:
        at, char, why = found
        raise PydanticCustomError(
            TEXT_ERROR,
            "contains {what} (U+{code}) at character {at}; " + ACCEPTED_TEXT,
            {"what": why, "code": f"{ord(char):04X}", "at": at + 1},
        )
    return unicodedata.normalize("NFC", text)


_NON_CHARACTERS_BEYOND_BMP = "".join(
    chr(plane << 16 | low) for plane in range(1, 17) for low in (0xFFFE, 0xFFFF)
)

TEXT_PATTERN: Final = (
    r"^(?:[^\x00-\x08\x0b-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff"
    + _NON_CHARACTERS_BEYOND_BMP
    + r"]|\r\n)*$"
)
"""`unusable_character` as a JSON Schema pattern (ECMA-262, Python and Rust alike): no
control character but tab and newline (a carriage return only before a newline), no
non-character; the 32 beyond the first plane are in it as themselves."""


class _StatesWhatItAccepts:
    """Adds TEXT_PATTERN to a validation-mode JSON Schema without a pattern of its own."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        found = handler(schema)
        if handler.mode == "validation" and found.get("type") == "string":
            found.setdefault("pattern", TEXT_PATTERN)
        return found


Text = Annotated[str, BeforeValidator(_checked), _StatesWhatItAccepts()]
"""A string field: usable characters only, NFC-normalised; give each its `max_length`."""
