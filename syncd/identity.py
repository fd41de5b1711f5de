"""Identity keys. A person is the same person across sources and the target when their normalised e-mail
addresses are equal (7pace identifies a named user "typically by his email address", docs/contract.md §1)."""

from __future__ import annotations

import re
import unicodedata
from typing import NewType

EmailKey = NewType("EmailKey", str)

# Deliberately loose: one @, a non-empty local part, a dotted domain, no whitespace. Directories hold
# addresses that RFC 5322 parsers reject but mail systems accept; we only need to refuse what is clearly
# not an address (empty, "N/A", a bare account name) so that such people are reported, never guessed.
# Control characters (category Cc: C0, DEL, C1) and lone surrogates (a JSON "\ud800" escape: text that
# cannot be encoded, so storing or sending it would crash) are never part of an address either.
_CHAR = r"[^\s@\x00-\x1f\x7f-\x9f\ud800-\udfff]"
_SHAPE = re.compile(rf"^{_CHAR}+@{_CHAR}+\.{_CHAR}+$")


def normalise_email(raw: str | None) -> EmailKey | None:
    """Return the identity key for `raw` (NFC, case-folded, stripped), or None when it is not an address."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFC", raw).strip().casefold()
    if text.startswith("smtp:"):
        text = text[len("smtp:") :]
    if not _SHAPE.match(text):
        return None
    return EmailKey(text)
