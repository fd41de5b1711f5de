"""One AD account as syncd sees it: identity from the configured attributes in order, objectGUID as the
stable id, display name, and enabled/disabled from userAccountControl."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from syncd.identity import EmailKey, normalise_email
from syncd.models import Person, Unidentified
from syncd.sources.ldap_connection import Entry

# userAccountControl ACCOUNTDISABLE (0x2), [MS-ADTS] 2.2.16 / learn.microsoft.com "UserAccountControl flags"
UAC_ACCOUNTDISABLE = 0x2
PERSON_ATTRIBUTES = ("objectClass", "objectGUID", "sAMAccountName", "cn", "displayName", "userAccountControl")


def source_id(entry: Entry) -> str:
    """objectGUID as a GUID string (16 bytes, little-endian layout); survives renames and moves."""
    raw = entry.values("objectGUID")
    if raw and len(raw[0]) == 16:
        return str(uuid.UUID(bytes_le=bytes(raw[0])))
    return entry.dn


def display_name(entry: Entry) -> str:
    return entry.text("displayName") or entry.text("cn") or entry.text("sAMAccountName") or entry.dn


def is_disabled(entry: Entry) -> bool:
    text = entry.text("userAccountControl")
    try:
        return bool(int(text or "0") & UAC_ACCOUNTDISABLE)
    except ValueError:
        return False


def identity(entry: Entry, attributes: Sequence[str]) -> tuple[EmailKey, str] | None:
    """The first usable address among `attributes`, as (key, address as written)."""
    for attribute in attributes:
        values = entry.texts(attribute)
        if attribute.casefold() == "proxyaddresses":
            # only the primary address counts: the one with the upper-case "SMTP:" prefix (Exchange's
            # convention; lower-case "smtp:" values are secondary aliases)
            values = [v[len("SMTP:") :] for v in values if v.startswith("SMTP:")]
        for value in values:
            key = normalise_email(value)
            if key is not None:
                return key, value.strip()
    return None


def to_person(
    entry: Entry, attributes: Sequence[str], *, include_disabled: bool, via: tuple[str, ...]
) -> Person | Unidentified:
    found = identity(entry, attributes)
    name = display_name(entry)
    if found is None:
        account = entry.text("sAMAccountName") or entry.dn
        return Unidentified(
            source_id=source_id(entry),
            display_name=name,
            detail=f"{account}: no usable e-mail address in {', '.join(attributes)}",
        )
    key, email = found
    return Person(
        key=key,
        email=email,
        display_name=name,
        source_id=source_id(entry),
        enabled=include_disabled or not is_disabled(entry),
        via=via,
    )
