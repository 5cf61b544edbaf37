"""What the API and the media worker accept as a secret. Both refuse to start with a secret
that is missing, a value published in this repository (the defaults Parlor once shipped,
the placeholders its stack once seeded), a placeholder, or too short to resist guessing:
anyone who reads the code could otherwise forge sessions, control calls and webhooks."""

from __future__ import annotations

# HMAC keys (HS256 sessions, signed calls, Stripe webhooks) and key seeds: 256 bits of
# generated text is at least 32 characters (Stripe's own keys and webhook secrets are longer).
MIN_LENGTH = 32

# Published values: Parlor's old defaults (chalicelib/settings.py, local/stack.py), its old
# CDK placeholder, and Stripe's documented example key.
KNOWN_DEFAULTS = frozenset({
    "dev-only-insecure-secret-change-me-0123456789",
    "dev-only-service-secret-0123456789abcdef",
    "sk_test_local",
    "whsec_local",
    "set-me",
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
})

# Words that mark a value someone meant to replace. Long enough (with their separator) that a
# generated secret never contains one by chance.
PLACEHOLDER_MARKS = ("set-me", "set_me", "change-me", "change_me", "changeme", "replace-me", "replace_me",
                     "placeholder", "insecure", "dev-only")


def weakness(value: str, min_length: int = MIN_LENGTH) -> str | None:
    """Why ``value`` may not serve as a secret, in words that follow its variable's name
    ("is not set"); None when it may."""
    if not value.strip():
        return "is not set"
    if value.strip() in KNOWN_DEFAULTS:
        return "is a value published with Parlor's code"
    if any(mark in value.lower() for mark in PLACEHOLDER_MARKS):
        return "is a placeholder"
    if len(value) < min_length:
        return f"is shorter than {min_length} characters"
    return None
