"""Complete `$skip`/`$count` paging of a 7pace list, whatever the server's page size (docs/contract.md §1.3).

7pace returns lists "in batches (usually of up to 500 rows)": a page shorter than the `$count` asked is
not the end. A read ends only at an **empty** page (one extra GET per read). Three guards:
- a server that ignores `$skip` answers the first rows again: page k > 1 starting with the first row of
  page 1 stops the read (partial), instead of reading the same page forever;
- a server that ignores `$count` answers more rows than asked: noted (the probe and the plan say so), and
  the read stays correct because the next `$skip` is what was actually received;
- at most `max_pages` pages: a server that never answers an empty page stops with a clear error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from syncd.target_read import ReadHealth, TargetReadRefused

# a bound on one read of a target's user list (both targets): 5,000,000 rows at 500 a page, 1,000,000 at 100
MAX_USER_PAGES = 10_000


class PagedList:
    """Pages of one list endpoint. `fetch(skip)` returns the rows of one page; `identity(row)` a row's id
    (empty when it has none). Iterate `pages()` once; `count`, `largest` and `notes()` describe the read."""

    def __init__(
        self,
        fetch: Callable[[int], list[Any]],
        *,
        page_size: int,
        max_pages: int,
        describe: str,
        what: str,
        identity: Callable[[Any], str],
    ) -> None:
        self._fetch = fetch
        self.page_size = page_size
        self.max_pages = max_pages
        self.describe = describe
        self.what = what
        self._identity = identity
        self.count = 0  # pages fetched, the final empty one included
        self.largest = 0
        self.over_count = 0  # the largest page above the `$count` asked (0: `$count` honoured)
        self.short_pages = 0  # non-empty pages shorter than asked that were not the last

    def pages(self) -> Iterator[list[Any]]:
        skip = 0
        first = ""
        short_before = False
        while True:
            if self.count >= self.max_pages:
                raise TargetReadRefused(
                    ReadHealth.PARTIAL,
                    self.describe,
                    f"still returned {self.what} after {self.max_pages:,} pages ($skip={skip}); a list that "
                    "never ends cannot be read completely",
                )
            rows = self._fetch(skip)
            self.count += 1
            if not rows:
                return
            if short_before:
                self.short_pages += 1
            short_before = len(rows) < self.page_size
            self.largest = max(self.largest, len(rows))
            if len(rows) > self.page_size:
                self.over_count = max(self.over_count, len(rows))
            head = self._identity(rows[0])
            if skip == 0:
                first = head
            elif head and head == first:
                raise TargetReadRefused(
                    ReadHealth.PARTIAL,
                    self.describe,
                    f"answered $skip={skip} with the first {self.what} again: it ignores $skip, so the list "
                    "cannot be read completely",
                )
            yield rows
            skip += len(rows)

    def notes(self) -> tuple[str, ...]:
        found = []
        if self.over_count:
            found.append(
                f"the server ignores $count: it answered {self.over_count} rows for $count={self.page_size} "
                "(read correctly by $skip = rows received)"
            )
        if self.short_pages or (self.count > 2 and self.largest < self.page_size):
            found.append(
                f"the server pages by {self.largest} rows although $count={self.page_size} was asked "
                "(read until an empty page)"
            )
        return tuple(found)
