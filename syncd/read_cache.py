"""One source read per run, shared by every target that uses it (issue 19).

With several targets the cycle runs once per target; without this, a group that two targets' rules name would
be read twice, and could differ between the two reads (a member added in between), so two targets would act on
two versions of one group. `SharedReads` remembers, for one multi-target run, every group read and every
whole-source failure; the cycle's `SourceSet` hands out each source through `SharedReads.source`, so a read
(or a failure: a source that refused its credentials is not asked again) is reused by the next target.

Only raw reads are shared: each target still judges health against its own baselines and plans on its own.
"""

from __future__ import annotations

from collections.abc import Callable

from syncd.errors import SourceError
from syncd.models import GroupRead
from syncd.sources.interface import Source


class SharedReads:
    """The reads of one run. Not thread-safe: the targets of a run are cycled one after another."""

    def __init__(self) -> None:
        self._reads: dict[tuple[str, str], GroupRead] = {}
        self._failed: dict[str, SourceError] = {}
        self.reused = 0  # reads answered from here (diagnostics, tests)

    def source(self, name: str, open_source: Callable[[], Source]) -> Source:
        """`name` as a source that answers from this run's reads, opening the real one on the first miss."""
        return _SharedSource(name, open_source, self)

    def _read(self, name: str, group: str, opened: Callable[[], Source]) -> GroupRead:
        failed = self._failed.get(name)
        if failed is not None:
            self.reused += 1
            raise failed
        found = self._reads.get((name, group))
        if found is not None:
            self.reused += 1
            return found
        try:
            read = opened().read_group(group)
        except SourceError as error:
            # a whole-source failure stays one for the run; a group-level one is a GroupRead, not an error
            self._failed[name] = error
            raise
        self._reads[(name, group)] = read
        return read


class _SharedSource:
    """A source read through `SharedReads`; the real source is opened only when a group is not known yet."""

    def __init__(self, name: str, open_source: Callable[[], Source], shared: SharedReads) -> None:
        self._name = name
        self._open = open_source
        self._inner: Source | None = None
        self._shared = shared

    @property
    def name(self) -> str:
        return self._name

    def _opened(self) -> Source:
        if self._inner is None:
            self._inner = self._open()
        return self._inner

    def read_group(self, group: str) -> GroupRead:
        return self._shared._read(self._name, group, self._opened)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
            self._inner = None
