"""Who may read a file on Windows: the decision from ACL data (an SDDL string), and the one small Windows
call that fetches it. A secret file must be readable only by the task account, SYSTEM and Administrators;
Windows mode bits say nothing about that (os.stat reports 0o666 for any writable file).

The decision is pure and tested here from SDDL text; `read_sddl` and `current_user_sid` are the only code
that runs on Windows alone (ctypes: GetNamedSecurityInfoW, its SDDL string form, and the process token's
user SID), verified only on a Windows host.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SYSTEM = "S-1-5-18"
ADMINISTRATORS = "S-1-5-32-544"
TRUSTED = frozenset({SYSTEM, ADMINISTRATORS})

# SDDL's two-letter SID aliases that can appear in a file's DACL (learn.microsoft.com: "SID strings")
SID_ALIASES = {
    "SY": SYSTEM,
    "BA": ADMINISTRATORS,
    "WD": "S-1-1-0",  # Everyone
    "AU": "S-1-5-11",  # Authenticated Users
    "BU": "S-1-5-32-545",  # Users
    "BG": "S-1-5-32-546",  # Guests
    "IU": "S-1-5-4",  # INTERACTIVE
    "NU": "S-1-5-2",  # NETWORK
    "AN": "S-1-5-7",  # ANONYMOUS LOGON
    "CO": "S-1-3-0",  # CREATOR OWNER (only in inheritable entries)
    "OW": "S-1-3-4",  # OWNER RIGHTS
    "LS": "S-1-5-19",  # LOCAL SERVICE
    "NS": "S-1-5-20",  # NETWORK SERVICE
    "PU": "S-1-5-32-547",  # Power Users
    "RD": "S-1-5-32-555",  # Remote Desktop Users
    "SU": "S-1-5-6",  # SERVICE
    "BO": "S-1-5-32-551",  # Backup Operators
}
# groups of many people: never acceptable readers of a secret
BROAD = frozenset(
    {"S-1-1-0", "S-1-5-11", "S-1-5-32-545", "S-1-5-32-546", "S-1-5-4", "S-1-5-2", "S-1-5-7", "S-1-5-32-547"}
)
_BROAD_DOMAIN_RIDS = ("-513", "-514", "-515")  # Domain Users, Domain Guests, Domain Computers
NAMES = {
    "S-1-1-0": "Everyone",
    "S-1-5-11": "Authenticated Users",
    "S-1-5-32-545": "Users",
    "S-1-5-32-546": "Guests",
    "S-1-5-4": "INTERACTIVE",
    "S-1-5-2": "NETWORK",
    "S-1-5-7": "ANONYMOUS LOGON",
    SYSTEM: "SYSTEM",
    ADMINISTRATORS: "Administrators",
}

# access-mask letters ConvertSecurityDescriptorToStringSecurityDescriptor writes (an exact file-right
# combination comes out as FA/FR/FW/FX, anything else as directory-service letters or hex)
_RIGHTS = {
    "GA": 0x10000000,
    "GR": 0x80000000,
    "GW": 0x40000000,
    "GX": 0x20000000,
    "FA": 0x1F01FF,
    "FR": 0x120089,
    "FW": 0x120116,
    "FX": 0x1200A0,
    "RC": 0x20000,
    "SD": 0x10000,
    "WD": 0x40000,
    "WO": 0x80000,
    "CC": 0x1,
    "DC": 0x2,
    "LC": 0x4,
    "SW": 0x8,
    "RP": 0x10,
    "WP": 0x20,
    "DT": 0x40,
    "LO": 0x80,
    "CR": 0x100,
}
_READS = 0x1 | 0x80000000 | 0x10000000  # FILE_READ_DATA, GENERIC_READ, GENERIC_ALL
_INHERIT_ONLY = "IO"
_ACE = re.compile(r"\(([^;()]*);([^;()]*);([^;()]*);[^;()]*;[^;()]*;([^;()]+)(?:;[^()]*)?\)")


@dataclass(frozen=True, slots=True)
class Ace:
    allow: bool
    mask: int
    sid: str
    inherit_only: bool = False


def access_mask(rights: str) -> int:
    if rights.lower().startswith("0x"):
        return int(rights, 16)
    mask = 0
    for index in range(0, len(rights), 2):
        mask |= _RIGHTS.get(rights[index : index + 2], 0)
    return mask


def parse_dacl(sddl: str) -> list[Ace]:
    """The DACL entries of an SDDL string ("O:BAG:SYD:PAI(A;;FA;;;SY)(A;;FR;;;S-1-5-21-…)")."""
    dacl = sddl.split("D:", 1)[1] if "D:" in sddl else ""
    dacl = dacl.split("S:", 1)[0]  # a SACL, if any, follows
    entries = []
    for kind, flags, rights, sid in _ACE.findall(dacl):
        if kind not in ("A", "D"):
            continue  # object and callback entries do not appear on plain files
        entries.append(
            Ace(kind == "A", access_mask(rights), SID_ALIASES.get(sid, sid), _INHERIT_ONLY in flags)
        )
    return entries


def readers(entries: Iterable[Ace]) -> list[str]:
    """SIDs that an allow entry lets read the file's content (deny entries are ignored: an allow for a
    broad group is a mistake to report even if a deny narrows it)."""
    found: list[str] = []
    for ace in entries:
        if ace.allow and not ace.inherit_only and ace.mask & _READS and ace.sid not in found:
            found.append(ace.sid)
    return found


def _broad(sid: str) -> bool:
    return sid in BROAD or (sid.startswith("S-1-5-21-") and sid.endswith(_BROAD_DOMAIN_RIDS))


def secret_acl_problem(sddl: str, current_user: str) -> str | None:
    """Why this ACL exposes a secret, or None. Allowed readers: SYSTEM, Administrators, the account running
    syncd, and one more account (the task account, when an administrator runs `syncd check`)."""
    if "D:NO_ACCESS_CONTROL" in sddl:  # a null DACL: no restriction at all
        return "has no access control list (everyone can read it)"
    who = readers(parse_dacl(sddl))
    broad = [sid for sid in who if _broad(sid)]
    if broad:
        return "is readable by " + ", ".join(NAMES.get(sid, sid) for sid in broad)
    others = [sid for sid in who if sid not in TRUSTED and sid != current_user]
    if len(others) > 1:
        return "is readable by more than one account besides SYSTEM and Administrators: " + ", ".join(others)
    return None


def fix_command(path: str, account: str = "DOMAIN\\task-account$") -> str:
    return (
        f'icacls "{path}" /inheritance:r /grant:r *{SYSTEM}:F *{ADMINISTRATORS}:F "{account}:R"'
        " (or write it with: syncd secret set NAME)"
    )


# -- the Windows calls (Windows only) ---------------------------------------------------------------------

_SE_FILE_OBJECT = 1
_OWNER_GROUP_DACL = 0x1 | 0x2 | 0x4
_SDDL_REVISION_1 = 1
_TOKEN_QUERY = 0x0008
_TOKEN_USER = 1


def _last_error() -> int:
    return int(getattr(ctypes, "get_last_error")())  # noqa: B009 (Windows only: absent on POSIX for mypy)


def _win(name: str) -> Any:
    return getattr(ctypes, "WinDLL")(name, use_last_error=True)  # noqa: B009 (absent on POSIX for mypy)


def read_sddl(path: str) -> str:
    """The file's owner, group and DACL as SDDL (GetNamedSecurityInfoW, then its string form)."""
    advapi32, kernel32 = _win("advapi32"), _win("kernel32")
    descriptor = ctypes.c_void_p()
    status = advapi32.GetNamedSecurityInfoW(
        ctypes.c_wchar_p(path),
        _SE_FILE_OBJECT,
        _OWNER_GROUP_DACL,
        None,
        None,
        None,
        None,
        ctypes.byref(descriptor),
    )
    if status != 0:
        raise OSError(status, f"GetNamedSecurityInfoW failed with error {status}")
    text = ctypes.c_wchar_p()
    try:
        if not advapi32.ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor, _SDDL_REVISION_1, _OWNER_GROUP_DACL, ctypes.byref(text), None
        ):
            raise OSError(_last_error(), "ConvertSecurityDescriptorToStringSecurityDescriptorW failed")
        return text.value or ""
    finally:
        kernel32.LocalFree(descriptor)
        if text.value is not None:
            kernel32.LocalFree(text)


def current_user_sid() -> str:
    """The SID of the account this process runs as (the task account when Task Scheduler runs it)."""
    advapi32, kernel32 = _win("advapi32"), _win("kernel32")
    token = ctypes.c_void_p()
    if not advapi32.OpenProcessToken(kernel32.GetCurrentProcess(), _TOKEN_QUERY, ctypes.byref(token)):
        raise OSError(_last_error(), "OpenProcessToken failed")
    try:
        size = ctypes.c_ulong()
        advapi32.GetTokenInformation(token, _TOKEN_USER, None, 0, ctypes.byref(size))
        buffer = ctypes.create_string_buffer(size.value)
        if not advapi32.GetTokenInformation(token, _TOKEN_USER, buffer, size, ctypes.byref(size)):
            raise OSError(_last_error(), "GetTokenInformation failed")
        sid = ctypes.c_void_p.from_buffer(buffer).value  # TOKEN_USER starts with the SID pointer
        text = ctypes.c_wchar_p()
        if not advapi32.ConvertSidToStringSidW(ctypes.c_void_p(sid), ctypes.byref(text)):
            raise OSError(_last_error(), "ConvertSidToStringSidW failed")
        try:
            return text.value or ""
        finally:
            kernel32.LocalFree(text)
    finally:
        kernel32.CloseHandle(token)
