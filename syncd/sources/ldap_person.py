"""One AD account as syncd sees it: identity from the configured attributes in order, objectGUID as the
stable id, display name, and enabled/disabled from userAccountControl and accountExpires."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from syncd.identity import EmailKey, normalise_email, normalise_identifier
from syncd.models import Person, Unidentified, utc_stamp
from syncd.sources.ldap_connection import Entry

# userAccountControl ACCOUNTDISABLE (0x2), [MS-ADTS] 2.2.16 / learn.microsoft.com "UserAccountControl flags"
UAC_ACCOUNTDISABLE = 0x2
PERSON_ATTRIBUTES = ("objectClass", "objectGUID", "sAMAccountName", "cn", "displayName", "userAccountControl")
EXPIRY_ATTRIBUTES = ("accountExpires",)
# accountExpires is a FILETIME (100 ns ticks since 1601-01-01 UTC); 0 and 0x7FFFFFFFFFFFFFFF mean "never"
# ([MS-ADA1] 2.1 Attribute accountExpires; learn.microsoft.com "Account-Expires attribute")
NEVER_EXPIRES = frozenset({0, 0x7FFFFFFFFFFFFFFF})
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


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


def expired_at(entry: Entry, now: datetime) -> datetime | None:
    """When the account expired, if `accountExpires` is at or before `now` (the DC then refuses its logon,
    "data 701"); None when it never expires, has not expired yet, or the value is not a FILETIME."""
    text = entry.text("accountExpires")
    try:
        ticks = int(text or "0")
        if ticks in NEVER_EXPIRES or ticks < 0:
            return None
        moment = _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)
    except (ValueError, OverflowError):
        return None  # beyond year 9999: in practice "never"
    return moment if moment <= now else None


def inactive_reason(entry: Entry, now: datetime) -> str:
    """Why the account cannot sign in ('' when it can): disabled, or expired (with the time)."""
    if is_disabled(entry):
        return "account disabled in Active Directory"
    expired = expired_at(entry, now)
    if expired is not None:
        return f"account expired {utc_stamp(expired)} (accountExpires)"
    return ""


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
    entry: Entry,
    attributes: Sequence[str],
    *,
    include_disabled: bool,
    via: tuple[str, ...],
    now: datetime | None = None,
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
    # include_disabled reports disabled and expired accounts alike as enabled (one switch: "cannot sign in")
    inactive = "" if include_disabled else inactive_reason(entry, now or datetime.now(UTC))
    return Person(
        key=key,
        email=email,
        display_name=name,
        source_id=source_id(entry),
        enabled=not inactive,
        via=via,
        inactive=inactive,
        upn=entry.text("userPrincipalName") or "",
        aliases=identifiers(entry, key),
    )


# issue 16: every name a 7pace row may carry for this account, read with every member
IDENTIFIER_ATTRIBUTES = ("mail", "userPrincipalName", "proxyAddresses")


def identifiers(entry: Entry, key: EmailKey) -> tuple[EmailKey, ...]:
    """Every identifier but `key`: proxy addresses (primary "SMTP:" first, then the "smtp:" secondaries),
    mail, the UPN, and the implicit UPN sAMAccountName@<DNS domain of the DN> (what an on-prem
    `DOMAIN\\user` unique name stands for, through `[identity] domain_aliases`)."""
    proxies = sorted(
        (v for v in entry.texts("proxyAddresses") if v[:5].casefold() == "smtp:"),
        key=lambda v: v[:5] != "SMTP:",
    )
    raw = [*proxies, entry.text("mail"), entry.text("userPrincipalName")]
    account = entry.text("sAMAccountName")
    domain = ".".join(part[3:] for part in entry.dn.split(",") if part[:3].casefold() == "dc=")
    if account and domain:
        raw.append(f"{account}@{domain}")
    found = dict.fromkeys(k for k in map(normalise_identifier, raw) if k is not None and k != key)
    return tuple(found) if found else ()
