"""Identity keys. A person is keyed by their normalised e-mail address (7pace identifies a named user
"typically by his email address", docs/contract.md §1); since issue 16 every other identifier they have (UPN,
proxy addresses, `DOMAIN\\user`, ids) is normalised the same way, and `matching` compares all of them
(docs/contract.md, *Identity matching*)."""

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


# -- identifiers other than e-mail (issue 16) ------------------------------------------------------------
# A person is also known by their user principal name, proxy addresses, other mails, an on-prem
# `DOMAIN\user` name and the immutable ids of the systems that list them. All of them are compared as
# identifier keys: NFC, stripped, case-folded; a GUID loses its braces; an address its "smtp:" prefix.
_ID_SHAPE = re.compile(r"^[^\s\x00-\x1f\x7f-\x9f\ud800-\udfff]+$")


def normalise_identifier(raw: str | None) -> EmailKey | None:
    """The key of any identifier: an address as `normalise_email`, anything else (a `DOMAIN\\user` name, a
    GUID, a descriptor) case-folded without surrounding braces. None when empty or not one token."""
    if not raw:
        return None
    if raw.isascii():
        # the common case, per identifier of 100,000 people: for ASCII, NFC changes nothing and casefold is
        # lower; "not one token" is whitespace or a control character (neither is printable, bar the space)
        text = raw.strip().lower()
        if text.startswith("smtp:"):
            text = text[len("smtp:") :]
        elif text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        return EmailKey(text) if text and text.isprintable() and " " not in text else None
    key = normalise_email(raw)
    if key is not None:
        return key
    text = unicodedata.normalize("NFC", raw).strip().casefold()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if not _ID_SHAPE.match(text):
        return None
    return EmailKey(text)


class DomainAliases:
    """`[identity] domain_aliases`: alias → canonical domain. An address in an alias domain is compared as the
    same address in the canonical domain, and a `NAME\\user` name whose NAME is listed compares as
    `user@canonical` (the implicit UPN an on-prem unique name stands for)."""

    __slots__ = ("_map",)

    def __init__(self, aliases: dict[str, str] | None = None) -> None:
        self._map = {k.strip().casefold(): v.strip().casefold() for k, v in (aliases or {}).items()}

    def __bool__(self) -> bool:
        return bool(self._map)

    def canonical(self, key: str) -> str:
        if not self._map:
            return key
        local, at, domain = key.rpartition("@")
        if at:
            target = self._map.get(domain)
            return f"{local}@{target}" if target else key
        name, slash, user = key.partition("\\")
        if slash:
            target = self._map.get(name)
            return f"{user}@{target}" if target else key
        return key
