"""A domain controller that dies part-way through a read: never an OK read, and the next DC takes over.

The DC on 127.0.0.2 is reached through a proxy that, after a fixed number of answer bytes (well inside
the paged member search of BigGroup at 50 entries a page: the group lookup, the ranged `member` reads and
the nested-group search come to ~150 kB, the whole read to ~1.5 MB), kills the DC with SIGKILL and drops
every connection.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from syncd.errors import SourceUnreachable
from syncd.models import Health
from syncd.sources.ldap import LdapSource

pytestmark = pytest.mark.samba

CUT_AFTER = 400_000  # bytes of answers


def test_dc_killed_in_the_middle_of_a_paged_read_is_partial(
    make_source: Callable[..., LdapSource], second_dc: Any, cutting_proxy: Callable[..., Any]
) -> None:
    proxy = cutting_proxy((second_dc.host, 636), CUT_AFTER, second_dc.kill)
    url = f"ldaps://127.0.0.1:{proxy.port}"
    source = make_source(url=url, page_size=50)
    read = source.read_group("BigGroup")
    assert proxy.cut.is_set()
    assert not second_dc.running()
    assert (read.health, read.members, read.unidentified) == (Health.PARTIAL, (), ())
    reason, _, rest = read.detail.partition(" after ")
    assert reason.startswith(
        f"reading the nested members of BigGroup from {url} failed: the DC closed the connection"
    )
    entries, _, note = rest.partition(" entries; ")
    assert 2000 < int(entries) < 4000  # all 2000 member values, then some but not all 2000 entries
    assert note == f"reconnecting failed: connecting to {url} failed: connection refused"
    # the source is not silently "fine" afterwards either: the next read cannot connect
    with pytest.raises(SourceUnreachable) as caught:
        source.read_group("GroupC")
    assert str(caught.value) == f"connecting to {url} failed: connection refused"


def test_read_restarts_on_the_next_dc_when_the_first_dies_mid_read(
    make_source: Callable[..., LdapSource],
    second_dc: Any,
    samba: Any,
    cutting_proxy: Callable[..., Any],
    dataset: ModuleType,
) -> None:
    proxy = cutting_proxy((second_dc.host, 636), CUT_AFTER, second_dc.kill)
    source = make_source(url=[f"ldaps://127.0.0.1:{proxy.port}", samba.ldaps_url], page_size=50)
    read = source.read_group("BigGroup")
    assert proxy.cut.is_set()
    assert read.health is Health.OK
    assert {p.key: p.enabled for p in read.members} == dataset.expected_members("BigGroup")
    assert source.url == "ldaps://127.0.0.1:636"


def test_nothing_is_cut_below_the_threshold(
    make_source: Callable[..., LdapSource],
    second_dc: Any,
    cutting_proxy: Callable[..., Any],
    dataset: ModuleType,
) -> None:
    # the control: the same path with a threshold above the whole read gives the whole group
    proxy = cutting_proxy((second_dc.host, 636), 50_000_000, second_dc.kill)
    source = make_source(url=f"ldaps://127.0.0.1:{proxy.port}", page_size=50)
    read = source.read_group("BigGroup")
    assert read.health is Health.OK
    assert {p.key: p.enabled for p in read.members} == dataset.expected_members("BigGroup")
    assert not proxy.cut.is_set()
    assert 1_000_000 < proxy.forwarded < 3_000_000, proxy.forwarded
