"""Randomised nested trees on the real Samba DC, with users and groups placed inside and outside base_dn:
a read is OK only when every member of every group of the closure came back, and otherwise PARTIAL naming
each member that did not — never a silently short OK read.

Each tree lives in its own OU (OU=T<seed>) with two children, OU=In (the base_dn) and OU=Out. Groups outside
base_dn are read across the domain, so only *people* outside base_dn make the read partial. Seeds are fixed
(reproducible); SYNCD_TREE_SEEDS="1,2,3" picks others.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ldap3 import MODIFY_ADD, Connection

from syncd.config_section import Section
from syncd.models import Health
from syncd.sources.ldap import LdapSource
from syncd.sources.ldap_settings import parse_ldap_settings

pytestmark = pytest.mark.samba

PASSWORD_ENV = "SYNCD_TREES_LDAP_PASSWORD"
SEEDS = [int(s) for s in os.environ.get("SYNCD_TREE_SEEDS", "1,2,3,4,5,6,7,8,9,10,11,12").split(",")]


@dataclass
class Tree:
    """Groups g0 (the rule's group, always inside) … gN and users u0 … uM; `inside` says where each lives."""

    seed: int
    ou: str
    groups: list[str]
    users: list[str]
    inside: dict[str, bool]
    members: dict[str, list[str]] = field(default_factory=dict)  # group → member names (groups and users)

    def dn(self, name: str) -> str:
        return f"CN={name},OU={'In' if self.inside[name] else 'Out'},{self.ou}"

    @property
    def base_dn(self) -> str:
        return f"OU=In,{self.ou}"

    def email(self, user: str) -> str:
        return f"{user}@example.com"

    def reachable(self) -> set[str]:
        """Everything in the closure of g0 (cycle-safe), g0 excluded."""
        seen: set[str] = set()
        pending = list(self.members.get(self.groups[0], []))
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            pending.extend(self.members.get(name, []))
        seen.discard(self.groups[0])
        return seen


def generate(seed: int, root: str) -> Tree:
    rng = random.Random(seed)
    groups = [f"t{seed}g{i}" for i in range(rng.randint(2, 7))]
    users = [f"t{seed}u{i}" for i in range(rng.randint(3, 10))]  # ≤ 10: the detail names up to 10
    inside = {groups[0]: True}
    inside |= {g: rng.random() < 0.6 for g in groups[1:]}
    inside |= {u: rng.random() < 0.75 for u in users}
    tree = Tree(seed, f"OU=T{seed},{root}", groups, users, inside)
    for index, group in enumerate(groups[1:], start=1):
        # each nested group hangs under an earlier one; now and then a second parent, or a cycle back up
        parents = {groups[rng.randrange(index)]}
        if rng.random() < 0.3:
            parents.add(groups[rng.randrange(len(groups))])
        for parent in parents:
            if parent != group:
                tree.members.setdefault(parent, []).append(group)
    for user in users:
        for group in rng.sample(groups, k=rng.choice((1, 1, 2))):
            tree.members.setdefault(group, []).append(user)
    return tree


def write(conn: Connection, tree: Tree) -> None:
    for ou in (tree.ou, f"OU=In,{tree.ou}", f"OU=Out,{tree.ou}"):
        conn.add(ou, ["top", "organizationalUnit"])
    for user in tree.users:
        conn.add(
            tree.dn(user),
            ["top", "person", "organizationalPerson", "user"],
            {"sAMAccountName": user, "mail": tree.email(user), "userAccountControl": "512"},
        )
    for group in tree.groups:
        conn.add(tree.dn(group), ["top", "group"], {"sAMAccountName": group, "groupType": "-2147483646"})
    for group, members in tree.members.items():
        conn.modify(tree.dn(group), {"member": [(MODIFY_ADD, [tree.dn(m) for m in members])]})


@pytest.fixture
def trees(second_dc: Any, dataset: ModuleType) -> Iterator[list[Tree]]:
    root = f"OU=Trees,{dataset.BASE_DN}"
    admin = second_dc.admin()
    admin.add(root, ["top", "organizationalUnit"])
    built = [generate(seed, root) for seed in SEEDS]
    for tree in built:
        write(admin, tree)
    admin.unbind()
    yield built


def source_for(dc: Any, dataset: ModuleType, base_dn: str) -> LdapSource:
    values = {
        "url": dc.ldaps_url,
        "bind_user": dataset.SERVICE_USER,
        "bind_password": {"env": PASSWORD_ENV},
        "base_dn": base_dn,
        "ca_bundle": str(dc.ca_file),
        "tls_server_name": "DC1.test.example.com",
    }
    problems: list[str] = []
    settings = parse_ldap_settings(Section(values, "sources[0]", Path("/x.toml"), problems), "corp")
    assert problems == []
    return LdapSource(settings)


def test_random_nested_trees_are_ok_only_when_complete(
    trees: list[Tree], second_dc: Any, dataset: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, dataset.SERVICE_PASSWORD)
    outcomes = {Health.OK: 0, Health.PARTIAL: 0}
    reads = []
    for tree in trees:
        source = source_for(second_dc, dataset, tree.base_dn)
        try:
            read = source.read_group(tree.dn(tree.groups[0]))
        finally:
            source.close()
        reachable = tree.reachable()
        outside_people = sorted(n for n in reachable if n in tree.users and not tree.inside[n])
        expected = sorted(tree.email(n) for n in reachable if n in tree.users and tree.inside[n])
        where = f"seed {tree.seed}: members {tree.members}, inside {tree.inside}"
        reads.append((tree, read, outside_people, expected, where))
    # first the verdicts of every tree (a short read that says ok is the failure this test is about)
    wrong = [
        (tree.seed, read.health.value, outside)
        for tree, read, outside, _, _ in reads
        if read.health is not (Health.PARTIAL if outside else Health.OK)
    ]
    assert wrong == [], "seed, health, people outside base_dn in the closure"
    for tree, read, outside_people, expected, where in reads:
        assert sorted(p.key for p in read.members) == expected, where
        if outside_people:
            assert read.health is Health.PARTIAL, where
            assert read.detail.startswith(f"{len(outside_people)} member(s) of {tree.groups[0]}"), (
                read.detail,
                where,
            )
            for name in outside_people:
                assert f"{tree.dn(name)} (member of".casefold() in read.detail.casefold(), (
                    read.detail,
                    where,
                )
            assert f"outside base_dn {tree.base_dn}" in read.detail
        else:
            assert (read.health, read.detail) == (Health.OK, ""), where
        outcomes[read.health] += 1
    # the seeds exercise both outcomes (else the generator drifted and the test would prove little)
    assert outcomes[Health.OK] and outcomes[Health.PARTIAL], outcomes
