"""A source read is shared by every target of a run (issue 19): one read per group, one failure per source."""

from __future__ import annotations

import pytest

from syncd.errors import SourceUnreachable
from syncd.models import GroupRead, Health
from syncd.read_cache import SharedReads


class CountingSource:
    def __init__(self, fail: bool = False) -> None:
        self.reads: list[str] = []
        self.closed = 0
        self.fail = fail

    @property
    def name(self) -> str:
        return "hr"

    def read_group(self, group: str) -> GroupRead:
        self.reads.append(group)
        if self.fail:
            raise SourceUnreachable("hr: connection refused")
        return GroupRead("hr", group, Health.OK)

    def close(self) -> None:
        self.closed += 1


def test_a_group_is_read_once_for_every_target() -> None:
    shared, real, opened = SharedReads(), CountingSource(), []

    def open_source() -> CountingSource:
        opened.append(1)
        return real

    for _ in range(3):  # three targets, each with its own cycle and its own handle on the source
        source = shared.source("hr", open_source)
        assert source.read_group("Users").group == "Users"
        source.close()
    assert real.reads == ["Users"] and len(opened) == 1 and shared.reused == 2
    later = shared.source("hr", open_source)
    later.read_group("Admins")  # a group no earlier target read: read now
    later.close()
    assert real.reads == ["Users", "Admins"]


def test_a_source_that_failed_is_not_asked_again() -> None:
    shared, real = SharedReads(), CountingSource(fail=True)
    for group in ("Users", "Admins"):
        with pytest.raises(SourceUnreachable):
            shared.source("hr", lambda: real).read_group(group)
    assert real.reads == ["Users"]
