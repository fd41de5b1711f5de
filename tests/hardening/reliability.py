"""Collects what the hardening suites tried and saw, and writes docs/reliability.md at the end of a session
that ran the whole of tests/hardening (a partial run, `-k`, `-x` stopping early or a deselection leaves the
committed file alone). Rows hold only facts that do not change from run to run (exit codes, counts,
verdicts; no timings, no dates), so a clean re-run reproduces the file byte for byte.

It is written only when asked (`scripts/reliability-doc`, or SYNCD_RELIABILITY_DOC=1 for docs/reliability.md,
or a path to write it elsewhere): a plain test run, `.ci/run` included, leaves every tracked file alone, so a
fresh clone's `git status` stays clean (issue 15).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SECTIONS: dict[str, str] = {
    "Fault matrix": (
        "Each fault is injected into the 7pace emulator (or a proxy in front of it) while `syncd plan`, "
        "`apply` or `run` works on a 24-change plan (5 removals, 2 downgrades, 2 upgrades, 15 new seats; "
        "batches of 5; 532 seats, so the target read is 2 pages). *Changed* is how many people the "
        "emulator's roles moved during the faulted command; *harm* counts people moved to a role that is "
        "neither what they had nor what they should have; *audit gaps* counts people the emulator changed "
        "without a success event or a batch intent naming them, plus success events the emulator "
        "contradicts. *Recovery* is the exit code of the next clean `run` and whether a `plan "
        "--detailed-exitcode` after it is empty and the roles equal the desired state. The retry budget is "
        "shortened to 2 attempts (syncd.http defaults to 6 attempts / 300 s, exercised by the "
        "default-budget row) so a dead peer costs seconds, not minutes."
    ),
    "Dialect matrix": (
        "Each way a real 7pace may answer where its documentation is silent (docs/contract.md) is a switch "
        "of the emulator's contract. Against each: `plan`, `run`, `plan` again, on an organization of 252 "
        "seats (150 Administrators who are only in the Team group and must keep their role, 100 Team "
        "seats, a Budget member of the Admins group to upgrade, a seat with a role the config does not "
        "know) plus 60 people of the organization to assign and 2 who are not in it. *Harm* counts "
        "unintended role moves plus every downgrade or removal; *seats counted* is the plan's seats held "
        "(unmatched and ambiguous rows included); *left alone* is what the plan lists as not sent."
    ),
    "Crash convergence": (
        "`python -m syncd run` is killed with SIGKILL at seeded random points while it applies 2,000 "
        "changes (batches of 100) through the proxy, which holds the chosen request so the kill lands "
        "exactly there: during the target read, between two batches (the next batch's intent written, its "
        "POST never arriving), inside a batch (the POST reaches 7pace only after the kill), with the "
        "answer lost (7pace applied the batch, the client died waiting), and during the verify re-read. "
        "After each kill a clean `run` (in-process) must converge to the desired state, every person 7pace "
        "changed must have a success audit event (the killed run's or the recovery's), the killed run must "
        "have written an intent for every POST 7pace received, and nobody may hold a role that is neither "
        "their old nor their desired one at any point."
    ),
    "TrackingTime": (
        'The fault matrix for `[target] type = "trackingtime"` (issue 19): each fault is injected into the '
        "TrackingTime emulator (or a reshaping front in the same process) while `syncd plan`, `apply` or `run` "
        "works on a 24-change plan (5 archives, 2 downgrades, 2 upgrades, 5 re-opens of archived users, 10 "
        "invitations; batches of 5; 265 users, so the read is 3 pages of 100 and an empty fourth). Columns as "
        "in the fault matrix above; *envelope status* rows answer HTTP 200 with an error status in the "
        "TrackingTime envelope, as third parties measured the real API doing. Retry budget 2 attempts. The second "
        "table kills `python -m syncd run` with SIGKILL at seeded points of a 300-change apply (start-up, the "
        "read, a write held before it arrives, a write delivered after the kill, a write applied whose answer "
        "is lost, the verify read) and checks the same invariants as the crash-convergence suite."
    ),
    "Hostile input": (
        "Configs and exports that are broken, mistyped or adversarial. Configs must give exit 2, every "
        "stderr line starting `syncd: error:`, no traceback, nothing written to the state or audit folders. "
        "Exports must be read exactly (or refused with exit 2), never stretched into a match."
    ),
    "Secret hygiene": (
        "A full cycle at `-vv` with sentinel values in every secret slot; the sentinels (and their base64 "
        "and URL-encoded forms) are searched for in every byte syncd wrote or printed."
    ),
    "Integrity": (
        "Tried as an attacker with write access to syncd's files and as an unlucky operator (issue 21): "
        "reviewed plans edited by hand, state emptied or shared between targets, clocks that lie, stops "
        "by signal, a deleted lock file, read-only and full disks. Each row runs the real CLI against the "
        "7pace emulator and checks the exit code, the message and what reached 7pace."
    ),
    "TLS by default": (
        "Peers with certificates from a private CA, and plain-HTTP URLs, with and without the settings that "
        "allow them."
    ),
}


@dataclass(frozen=True)
class Row:
    section: str
    columns: tuple[str, ...]
    cells: tuple[str, ...]
    nodeid: str
    order: tuple[object, ...] = ()


@dataclass
class Recorder:
    rows: list[Row] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)  # nodeid → passed | failed | skipped: reason
    expected: set[str] = field(default_factory=set)  # hardening nodeids collected
    deselected: int = 0
    files_seen: set[str] = field(default_factory=set)

    def add(
        self,
        section: str,
        columns: Sequence[str],
        cells: Sequence[object],
        nodeid: str,
        order: Sequence[object] = (),
    ) -> None:
        """One table row. Rows sort by `order` (then cells), so the table reads in the suite's own order
        whatever order the tests ran in."""
        assert section in SECTIONS, section
        assert len(columns) == len(cells), (columns, cells)
        row = Row(section, tuple(columns), tuple(_cell(c) for c in cells), nodeid, tuple(order))
        self.rows.append(row)

    def complete(self, folder: Path) -> bool:
        files = {p.name for p in folder.glob("test_*.py")}
        return (
            bool(self.expected)
            and self.deselected == 0
            and files <= self.files_seen
            and self.expected <= set(self.outcomes)
        )

    def render(self) -> str:
        lines = [
            "# Reliability",
            "",
            "Generated by the last full run of `tests/hardening` (`scripts/reliability-doc`); do "
            "not edit by hand. What each suite does and checks is above its table; the tests are the "
            "specification.",
            "",
        ]
        totals = {"passed": 0, "failed": 0, "skipped": 0}
        for outcome in self.outcomes.values():
            totals[outcome.split(":")[0]] = totals.get(outcome.split(":")[0], 0) + 1
        lines.append(
            f"Tests: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped."
        )
        lines.append("")
        for section, intro in SECTIONS.items():
            rows = [r for r in self.rows if r.section == section]
            lines += [f"## {section}", "", intro, ""]
            if not rows:
                lines += ["(nothing recorded)", ""]
                continue
            # one table per column layout, rows in a stable order
            layouts: dict[tuple[str, ...], list[Row]] = {}
            for row in rows:
                layouts.setdefault(row.columns, []).append(row)
            for columns, group in layouts.items():
                lines.append("| " + " | ".join(columns) + " | test |")
                lines.append("|" + " --- |" * (len(columns) + 1))
                for row in sorted(group, key=lambda r: (r.order, r.cells)):
                    outcome = self.outcomes.get(row.nodeid, "not run")
                    lines.append("| " + " | ".join(row.cells) + f" | {outcome} |")
                lines.append("")
        skipped = sorted(
            (nodeid, outcome) for nodeid, outcome in self.outcomes.items() if outcome.startswith("skipped")
        )
        if skipped:
            lines += ["## Not run here", ""]
            lines += [f"- `{nodeid}`: {outcome.partition(': ')[2]}" for nodeid, outcome in skipped]
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def write(self, repo: Path, folder: Path) -> Path | None:
        setting = os.environ.get("SYNCD_RELIABILITY_DOC", "")
        if setting in ("", "0", "skip") or not self.complete(folder):
            return None
        path = repo / "docs" / "reliability.md" if setting == "1" else Path(setting)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render(), encoding="utf-8")
        return path


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
