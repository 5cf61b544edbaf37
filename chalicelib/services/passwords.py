"""The password policy, after NIST SP 800-63B (5.1.1.2, memorized secrets): length matters,
composition rules do not; a password must not be one attackers try first.

- at least 8 characters, counted as code points after NFC, not counting invisible ones
  (so eight zero-width spaces are not eight characters); at most 256, so passphrases fit;
- not only spaces and invisible characters;
- not the handle, and not containing it (case-insensitively);
- not in the list of common passwords that ships with ``zxcvbn`` (Dropbox's strength
  estimator; its 30,000 most frequent leaked passwords), case-insensitively.

The hash is of the password as typed: normalizing only decides what counts, so accounts
made before the policy keep signing in with what they always typed.
"""

from __future__ import annotations

import unicodedata
from functools import cache

from chalicelib.errors import WeakPassword
from chalicelib.text import is_invisible

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
PASSWORD_RULES = (f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters, not only spaces, not containing the "
                  "handle, not a common password")


def check_password(password: str, handle: str) -> None:
    """Refuse (422 ``weak_password``, saying why) a password the policy above does not accept."""
    text = unicodedata.normalize("NFC", password)
    if all(is_invisible(c) for c in text):
        raise WeakPassword("The password must not be only spaces or invisible characters.")
    counted = [c for c in text if c.isspace() or not is_invisible(c)]  # spaces count, zero-width ones do not
    if len(counted) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if len(text) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"The password must have at most {MAX_PASSWORD_LENGTH} characters.")
    folded = text.casefold()
    if handle.casefold() in folded:
        raise WeakPassword("The password must not contain the handle.")
    if folded.strip() in _common_passwords():
        raise WeakPassword("That password is one of the most common ones; attackers try those first.")


@cache
def _common_passwords() -> frozenset[str]:
    # Loaded on the first sign-up, not at every cold start; shorter ones are refused anyway.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p for p in FREQUENCY_LISTS["passwords"] if len(p) >= MIN_PASSWORD_LENGTH)
