"""What the test directory holds, and what a correct reader must return for it.

Written once into the cached Samba template (samba_dc.cached_template). Change anything here → bump
DATASET_VERSION so the cached template is rebuilt.

People (OU=People,OU=SyncTest): user00000 … user02999. By index i:
- disabled when i % 10 == 0 (userAccountControl 514), else enabled (512);
- identity: i % 50 == 7 → nothing usable (only a secondary smtp: proxy address) → unidentified;
  i % 25 == 3 → only proxyAddresses (primary "SMTP:User{i}.Primary@Example.COM");
  i % 7 == 2 or i % 50 == 17 (mail is "N/A") → userPrincipalName user{i}@test.example.com only;
  otherwise mail "User{i}@Example.COM" (and a UPN, which mail outranks).
Groups (OU=Groups,OU=SyncTest): see GROUPS below.
Contractors (OU=Contractors,OU=SyncTest), in group Contractors: accounts whose accountExpires is in the past,
in the future, 0 and 0x7FFFFFFFFFFFFFFF (both "never"), and one both disabled and expired (CONTRACTORS).
Narrow (OU=Narrow,OU=SyncTest), read with base_dn = NARROW_BASE: NarrowTeam ⊃ NarrowNested ⊃ user00601, who
lives outside that base_dn (NARROW_* below).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ldap3 import BASE, MODIFY_ADD, MODIFY_REPLACE, NONE, Connection, Server
from ldap3.utils.dn import escape_rdn

DATASET_VERSION = "v2-expiry-narrow"
BASE_DN = "DC=test,DC=example,DC=com"
ROOT = f"OU=SyncTest,{BASE_DN}"
PEOPLE = f"OU=People,{ROOT}"
GROUPS = f"OU=Groups,{ROOT}"
GROUPS2 = f"OU=MoreGroups,{ROOT}"
SERVICE = f"OU=Service,{ROOT}"
CONTRACTORS_OU = f"OU=Contractors,{ROOT}"
NARROW_BASE = f"OU=Narrow,{ROOT}"
USERS = 3000

SERVICE_USER = "svc-syncd@test.example.com"
SERVICE_DN = f"CN=svc-syncd,{SERVICE}"
SERVICE_PASSWORD = "Svc-Passw0rd!1"

META_CN = r"Team (R&D) *Ops* \ #1, EU"
META_SAM = "R&D (EU) #1"
META_DN = f"CN={escape_rdn(META_CN)},{GROUPS}"


def user_name(i: int) -> str:
    return f"user{i:05d}"


def user_dn(i: int) -> str:
    return f"CN={user_name(i)},{PEOPLE}"


def group_dn(name: str, ou: str = GROUPS) -> str:
    return f"CN={name},{ou}"


def disabled(i: int) -> bool:
    return i % 10 == 0


def identity_kind(i: int) -> str:
    if i % 50 == 7:
        return "none"
    if i % 25 == 3:
        return "proxy"
    if i % 7 == 2 or i % 50 == 17:
        return "upn"
    return "mail"


def expected_key(i: int) -> str | None:
    """The identity key a reader with the default identity_attributes must give user i."""
    kind = identity_kind(i)
    if kind == "mail":
        return f"user{i:05d}@example.com"
    if kind == "proxy":
        return f"user{i:05d}.primary@example.com"
    if kind == "upn":
        return f"user{i:05d}@test.example.com"
    return None


def user_attributes(i: int) -> dict[str, Any]:
    name = user_name(i)
    attributes: dict[str, Any] = {
        "sAMAccountName": name,
        "givenName": "User",
        "sn": f"{i:05d}",
        "displayName": f"User {i:05d}",
        "userAccountControl": "514" if disabled(i) else "512",
    }
    kind = identity_kind(i)
    if kind in ("mail", "upn"):
        attributes["userPrincipalName"] = f"{name}@test.example.com"
    if kind == "mail":
        attributes["mail"] = f"User{i:05d}@Example.COM"
    if i % 50 == 17:
        attributes["mail"] = "N/A"
    if kind == "proxy":
        attributes["proxyAddresses"] = [
            f"smtp:{name}@alias.example.org",
            f"SMTP:User{i:05d}.Primary@Example.COM",
            f"X500:/o=Test/ou=Exchange/cn=Recipients/cn={name}",
        ]
    if kind == "none":
        attributes["proxyAddresses"] = [f"smtp:{name}@alias.example.org"]
    return attributes


# name → (direct user indexes, direct member groups as (name, ou)), created in this order
GROUP_SPECS: dict[str, tuple[Sequence[int], Sequence[str]]] = {
    "GroupC": (range(200, 250), ()),
    "GroupB": (range(100, 200), ("GroupC",)),
    "GroupA": ([*range(10), 205], ("GroupB",)),
    "CycleX": (range(300, 305), ()),
    "CycleY": (range(305, 310), ("CycleX",)),
    "BigGroup": (range(1000, 3000), ()),
    "PrimaryGroup": ([311], ()),
    "PrimaryOuter": ([312], ("PrimaryGroup",)),
    "EmptyGroup": ((), ()),
    "Mixed": ([500, 501], ()),
}
PRIMARY_USER = 310  # its primaryGroupID is PrimaryGroup's RID (so it is absent from `member`)

EXPECTED_VIA = {  # the shortest nested path a reader should report, outermost first (group excluded)
    ("GroupA", 1): (),
    ("GroupA", 205): (),  # direct member as well as member of GroupC
    ("GroupA", 150): ("GroupB",),
    ("GroupA", 210): ("GroupB", "GroupC"),
    ("CycleX", 306): ("CycleY",),
    ("PrimaryOuter", PRIMARY_USER): ("PrimaryGroup",),
    ("PrimaryOuter", 311): ("PrimaryGroup",),
}


def expected_users(group: str) -> set[int]:
    """Transitive user indexes of `group` per GROUP_SPECS (cycle-safe), including primary-group users."""
    seen_groups: set[str] = set()
    users: set[int] = set()
    pending = [group]
    while pending:
        name = pending.pop()
        if name in seen_groups:
            continue
        seen_groups.add(name)
        direct, nested = GROUP_SPECS[name]
        users.update(direct)
        if name == "PrimaryGroup":
            users.add(PRIMARY_USER)
        pending.extend(nested)
        if name == "CycleX":
            pending.append(
                "CycleY"
            )  # CycleY ⊃ CycleX is in the spec; CycleX ⊃ CycleY is added after both exist
    return users


def expected_members(group: str, *, include_disabled: bool = False) -> dict[str, bool]:
    """identity key → enabled, as a correct reader reports `group` (disabled shown as enabled=False)."""
    result: dict[str, bool] = {}
    for i in expected_users(group):
        key = expected_key(i)
        if key is not None:
            result[key] = include_disabled or not disabled(i)
    return result


def expected_unidentified(group: str) -> set[str]:
    """sAMAccountNames of enabled members without a usable address."""
    return {user_name(i) for i in expected_users(group) if expected_key(i) is None and not disabled(i)}


# -- accounts that expire: kind → (accountExpires FILETIME, disabled) --------------------------------------
EXPIRED_AT = "2020-01-01 00:00 UTC"
CONTRACTORS: dict[str, tuple[int, bool]] = {
    "expired": (132223104000000000, False),  # 2020-01-01 00:00 UTC
    "future": (157766880000000000, False),  # 2100-12-11 13:20 UTC
    "never0": (0, False),
    "nevermax": (0x7FFFFFFFFFFFFFFF, False),
    "disabledexpired": (132223104000000000, True),
}


def contractor_dn(kind: str) -> str:
    return f"CN=contractor-{kind},{CONTRACTORS_OU}"


def contractor_key(kind: str) -> str:
    return f"contractor-{kind}@example.com"


def expected_contractors() -> dict[str, bool]:
    """identity key → enabled for group Contractors (expired and disabled accounts are not enabled)."""
    return {contractor_key(k): k in ("future", "never0", "nevermax") for k in CONTRACTORS}


# -- members outside a narrowed base_dn, one nesting level down --------------------------------------------
NARROW_TEAM = f"CN=NarrowTeam,{NARROW_BASE}"
NARROW_NESTED = f"CN=NarrowNested,{NARROW_BASE}"
NARROW_INSIDE = ("narrow-direct", "narrow-nested")  # users inside NARROW_BASE: in NarrowTeam, NarrowNested
NARROW_OUTSIDE_USER = 601  # user00601 (OU=People): a member of NarrowNested, outside NARROW_BASE


def narrow_user_dn(name: str) -> str:
    return f"CN={name},{NARROW_BASE}"


# -- writing it ----------------------------------------------------------------------------------------


def _connect(host: str, admin_dn: str, password: str) -> Connection:
    return Connection(
        Server(host, 389, get_info=NONE), admin_dn, password, auto_bind=True, raise_exceptions=True,
        check_names=False,
    )  # fmt: skip


def add_users(host: str, admin_dn: str, password: str, entries: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Add user entries with 2 client threads (measured fastest on Samba, directory-server.md)."""
    chunks = [entries[0::2], entries[1::2]]
    errors: list[BaseException] = []

    def work(chunk: Sequence[tuple[str, dict[str, Any]]]) -> None:
        try:
            conn = _connect(host, admin_dn, password)
            for dn, attributes in chunk:
                conn.add(dn, ["top", "person", "organizationalPerson", "user"], attributes)
            conn.unbind()
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def add_group(conn: Connection, dn: str, sam: str, members: Iterable[str] = ()) -> None:
    conn.add(dn, ["top", "group"], {"sAMAccountName": sam, "groupType": "-2147483646"})
    member_list = list(members)
    if member_list:
        conn.modify(dn, {"member": [(MODIFY_ADD, member_list)]})


def populate(host: str, admin_dn: str, password: str) -> dict[str, float]:
    """Write the whole data set; returns timings in seconds."""
    conn = _connect(host, admin_dn, password)
    for ou in (ROOT, PEOPLE, GROUPS, GROUPS2, SERVICE):
        conn.add(ou, ["top", "organizationalUnit"])
    t0 = time.monotonic()
    add_users(host, admin_dn, password, [(user_dn(i), user_attributes(i)) for i in range(USERS)])
    t1 = time.monotonic()
    # the service account syncd binds as (unicodePwd over plain LDAP: Samba allows it with strong auth off)
    conn.add(SERVICE_DN, ["top", "person", "organizationalPerson", "user"], {
        "sAMAccountName": "svc-syncd", "userPrincipalName": SERVICE_USER, "userAccountControl": "512",
        "unicodePwd": f'"{SERVICE_PASSWORD}"'.encode("utf-16-le"),
    })  # fmt: skip
    for name, (direct, nested) in GROUP_SPECS.items():
        add_group(conn, group_dn(name), name, [*map(user_dn, direct), *map(group_dn, nested)])
    conn.modify(group_dn("CycleX"), {"member": [(MODIFY_ADD, [group_dn("CycleY")])]})
    # a primary group: AD wants membership first, then primaryGroupID = the group's RID (primaryGroupToken)
    conn.modify(group_dn("PrimaryGroup"), {"member": [(MODIFY_ADD, [user_dn(PRIMARY_USER)])]})
    conn.search(group_dn("PrimaryGroup"), "(objectClass=group)", BASE, attributes=["primaryGroupToken"])
    token = conn.response[0]["raw_attributes"]["primaryGroupToken"][0].decode()
    conn.modify(user_dn(PRIMARY_USER), {"primaryGroupID": [(MODIFY_REPLACE, [token])]})
    # names with LDAP filter and DN metacharacters
    add_group(conn, META_DN, META_SAM, [user_dn(i) for i in range(400, 405)])
    # same cn in two OUs: resolving "Ambiguous" by name must refuse to guess
    add_group(conn, group_dn("Ambiguous"), "Ambiguous1", [user_dn(410)])
    add_group(conn, group_dn("Ambiguous", GROUPS2), "Ambiguous2", [user_dn(411)])
    # non-person members of Mixed: a computer and a contact are skipped, not members
    conn.add(f"CN=WS01,{PEOPLE}", ["top", "person", "organizationalPerson", "user", "computer"], {
        "sAMAccountName": "WS01$", "userAccountControl": "4096",
    })  # fmt: skip
    conn.add(f"CN=Outside Contact,{PEOPLE}", ["top", "person", "organizationalPerson", "contact"], {
        "mail": "contact@partner.example.net", "displayName": "Outside Contact",
    })  # fmt: skip
    conn.modify(
        group_dn("Mixed"), {"member": [(MODIFY_ADD, [f"CN=WS01,{PEOPLE}", f"CN=Outside Contact,{PEOPLE}"])]}
    )
    _populate_contractors_and_narrow(conn)
    conn.unbind()
    t2 = time.monotonic()
    return {"users": t1 - t0, "groups": t2 - t1}


def _populate_contractors_and_narrow(conn: Connection) -> None:
    classes = ["top", "person", "organizationalPerson", "user"]
    conn.add(CONTRACTORS_OU, ["top", "organizationalUnit"])
    for kind, (expires, is_disabled) in CONTRACTORS.items():
        conn.add(contractor_dn(kind), classes, {
            "sAMAccountName": f"contractor-{kind}"[:20], "displayName": f"Contractor {kind}",
            "mail": contractor_key(kind), "userAccountControl": "514" if is_disabled else "512",
            "accountExpires": str(expires),
        })  # fmt: skip
    add_group(conn, group_dn("Contractors"), "Contractors", [contractor_dn(k) for k in CONTRACTORS])
    conn.add(NARROW_BASE, ["top", "organizationalUnit"])
    for name in NARROW_INSIDE:
        conn.add(narrow_user_dn(name), classes, {
            "sAMAccountName": name, "mail": f"{name}@example.com", "userAccountControl": "512",
        })  # fmt: skip
    add_group(
        conn, NARROW_NESTED, "NarrowNested", [narrow_user_dn("narrow-nested"), user_dn(NARROW_OUTSIDE_USER)]
    )
    add_group(conn, NARROW_TEAM, "NarrowTeam", [narrow_user_dn("narrow-direct"), NARROW_NESTED])


# -- the bench's 10,000-member nested group ------------------------------------------------------------

BENCH_VERSION = "v1"
BENCH_USERS = 10_000
BENCH_GROUP = "Bench10k"
BENCH_PEOPLE = f"OU=BenchPeople,{BASE_DN}"
BENCH_GROUPS = f"OU=BenchGroups,{BASE_DN}"


def bench_user_dn(i: int) -> str:
    return f"CN=bench{i:05d},{BENCH_PEOPLE}"


def populate_bench(host: str, admin_dn: str, password: str) -> dict[str, float]:
    """Bench10k ⊃ Div0…Div4 ⊃ two teams each ⊃ 1,000 users each: 10,000 members, 3 levels deep."""
    conn = _connect(host, admin_dn, password)
    for ou in (BENCH_PEOPLE, BENCH_GROUPS):
        conn.add(ou, ["top", "organizationalUnit"])
    t0 = time.monotonic()
    entries = []
    for i in range(BENCH_USERS):
        name = f"bench{i:05d}"
        entries.append((bench_user_dn(i), {
            "sAMAccountName": name, "displayName": f"Bench {i:05d}", "mail": f"{name}@example.com",
            "userPrincipalName": f"{name}@test.example.com", "userAccountControl": "512",
        }))  # fmt: skip
    add_users(host, admin_dn, password, entries)
    t1 = time.monotonic()
    divisions = []
    for d in range(5):
        teams = []
        for t in range(2):
            first = (d * 2 + t) * 1000
            team = group_dn(f"Team{d}{t}", BENCH_GROUPS)
            add_group(conn, team, f"Team{d}{t}", [bench_user_dn(i) for i in range(first, first + 1000)])
            teams.append(team)
        division = group_dn(f"Div{d}", BENCH_GROUPS)
        add_group(conn, division, f"Div{d}", teams)
        divisions.append(division)
    add_group(conn, group_dn(BENCH_GROUP, BENCH_GROUPS), BENCH_GROUP, divisions)
    conn.unbind()
    return {"users": t1 - t0, "groups": time.monotonic() - t1}
