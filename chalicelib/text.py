"""Free text that people show each other: display names, space titles, chat; and topics
(cleaned as names, then looked up in the curated list, ``chalicelib.topics``).

One cleaning for all of it. Text is NFC-normalized, so the same name is the same string
(for search and comparison) and lengths count characters as people see them. Then the
characters that deceive or hide are refused, not silently dropped, so what is stored is
what was sent:

- names (display names, titles, topics) refuse every control and format character
  (Unicode Cc, Cf: bidi overrides U+202A–U+202E and isolates U+2066–U+2069 that make a
  name read backwards, zero-width U+200B–U+200D, U+2060, U+FEFF that make two names look
  alike), line and paragraph separators, surrogates, private-use and unassigned code
  points. The price: emoji ZWJ sequences and the Persian ZWNJ are refused in names.
- chat keeps what conversation needs (newlines, ZWJ emoji sequences, ZWNJ) and refuses
  the other control characters and the bidi overrides and isolates.

A value that is blank, or only spaces and invisible characters, is refused in both.
Refusals are ``InvalidText`` (422) naming the field. The pydantic types below apply the
rules to request bodies; a ``DomainError`` raised in a pydantic validator is not turned
into a validation error (only ``ValueError`` and ``AssertionError`` are), so it reaches
the API edge as itself.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo

from chalicelib.errors import InvalidText, UnknownTopic
from chalicelib.topics import TOPIC_IDS

BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
_NAME_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_CHAT_ALLOWED_CONTROLS = frozenset("\n")
# Characters that render as nothing though they are not Cc/Cf (Unicode's default-ignorables):
# the combining grapheme joiner, Hangul fillers, Khmer inherent vowels, Mongolian and other
# variation selectors. Allowed next to visible text (emoji need variation selectors), never alone.
_IGNORABLE = frozenset({"\u034f", "\u115f", "\u1160", "\u17b4", "\u17b5", "\u3164", "\uffa0",
                        *map(chr, range(0x180B, 0x1810)), *map(chr, range(0xFE00, 0xFE10)),
                        *map(chr, range(0xE0100, 0xE01F0))})


def is_invisible(char: str) -> bool:
    """A character that shows nothing: whitespace, control, format or default-ignorable."""
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") or char in _IGNORABLE


def clean_name(value: str, field: str, max_length: int, min_length: int = 1) -> str:
    """A display name, title or topic as stored: NFC, trimmed; refused (422) if it hides anything."""
    return _clean(value, field, max_length, min_length, _refused_in_name)


def clean_message(value: str, field: str, max_length: int) -> str:
    """A chat message as stored: NFC, trimmed; refused (422) for control characters and bidi overrides."""
    return _clean(value, field, max_length, 1, _refused_in_chat)


def _refused_in_name(char: str) -> bool:
    return unicodedata.category(char) in _NAME_REFUSED_CATEGORIES


def _refused_in_chat(char: str) -> bool:
    category = unicodedata.category(char)
    return (char in BIDI_CONTROLS or category == "Cs"
            or (category == "Cc" and char not in _CHAT_ALLOWED_CONTROLS))


def _clean(value: str, field: str, max_length: int, min_length: int, refused: Any) -> str:
    text = unicodedata.normalize("NFC", value).strip()
    bad = next((c for c in text if refused(c)), None)
    if bad is not None:
        raise InvalidText(f"{field}: the character U+{ord(bad):04X} ({_name(bad)}) is not allowed.")
    if all(is_invisible(c) for c in text):
        raise InvalidText(f"{field}: must not be blank or only invisible characters.")
    if not min_length <= len(text) <= max_length:
        raise InvalidText(f"{field}: must have {min_length} to {max_length} characters.")
    return text


def _name(char: str) -> str:
    return unicodedata.name(char, unicodedata.category(char))


def _name_type(max_length: int) -> Any:
    """A request-body string cleaned as a name. The bounds are also declared in the schema
    (and checked as sent, 400); the rules are checked after cleaning (422)."""

    def validate(value: str, info: ValidationInfo) -> str:
        return clean_name(value, info.field_name or "text", max_length)

    return Annotated[str, Field(min_length=1, max_length=max_length), AfterValidator(validate)]


def _language_tag(value: str, info: ValidationInfo) -> str:
    import langcodes  # its data loads on first use, not at every cold start

    field = info.field_name or "lang"
    try:
        if langcodes.tag_is_valid(value):
            return str(langcodes.standardize_tag(value))
    except (ValueError, LookupError):
        pass
    raise InvalidText(f"{field}: {value!r} is not a BCP 47 language tag (such as en, pt-BR, zh-Hant).",
                      code="invalid_lang")


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


BIO_MAX_LENGTH = 160


def _bio(value: str, info: ValidationInfo) -> str:
    # An empty bio clears it; otherwise it is cleaned like chat (a line break is fine in a bio).
    return "" if value == "" else clean_message(value, info.field_name or "bio", BIO_MAX_LENGTH)


Bio = Annotated[str, Field(max_length=BIO_MAX_LENGTH, description=f"up to {BIO_MAX_LENGTH} characters; empty clears it"),
                AfterValidator(_bio)]
DisplayName = _name_type(50)
Title = _name_type(70)
TOPIC_MAX_LENGTH = 30


def _topic(value: str, info: ValidationInfo) -> str:
    """A topic id from the curated list (``chalicelib.topics``), matched case-insensitively."""
    topic = clean_name(value, info.field_name or "topic", TOPIC_MAX_LENGTH).lower()
    if topic not in TOPIC_IDS:
        raise UnknownTopic(f"{info.field_name or 'topic'}: {topic!r} is not a topic; GET /v1/topics lists them.")
    return topic


Topic = Annotated[str, Field(min_length=1, max_length=TOPIC_MAX_LENGTH, description="a topic id from GET /v1/topics"),
                  AfterValidator(_topic)]
# BCP 47, stored in its standard form ("EN-us" -> "en-US", "eng" -> "en").
LanguageTag = Annotated[str, Field(min_length=2, max_length=35), AfterValidator(_language_tag)]
# A search query: normalized as titles are, so it finds them however it was typed.
SearchText = Annotated[str, AfterValidator(_nfc)]
