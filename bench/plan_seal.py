"""What sealing costs (issue 21): `plan --out` and `apply --plan` of a 100,000-change plan, with and without
the seal and signature. Not a test: it measures and prints.

    .venv/bin/python bench/plan_seal.py [--changes N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from syncd import plan_file
from syncd.identity import EmailKey
from syncd.models import Action, Change, Plan, Reason
from syncd.secrets import Secret


def build(n: int) -> plan_file.SavedPlan:
    changes = tuple(
        Change(
            EmailKey(f"user{i:06d}@example.com"),
            f"user{i:06d}@example.com",
            Action.ASSIGN,
            "None",
            "Team",
            Reason("member of 'Staff' (hr) → Team by rules[0]", "rules[0]", "hr", "Staff"),
        )
        for i in range(n)
    )
    plan = Plan(changes=changes, seats_before=0, seats_after=n)
    return plan_file.SavedPlan(plan, "0" * 64, datetime.now(UTC), "syncd.toml")


def timed(label: str, action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    seconds = time.perf_counter() - started
    print(f"  {label:<52} {seconds:6.2f} s")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=100_000)
    args = parser.parse_args()
    saved = build(args.changes)
    key = Secret("bench-signing-key")
    print(f"plan of {args.changes:,} changes")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plan.json"
        bare = Path(folder) / "bare.json"
        timed(
            "save, unsealed (as before issue 21)",
            lambda: plan_file.write_atomically(
                bare, json.dumps(plan_file.saved_plan_to_dict(saved), indent=2, ensure_ascii=False) + "\n"
            ),
        )
        timed(
            "load, unsealed (parse and build the plan)",
            lambda: plan_file.plan_from_dict(json.loads(bare.read_text(encoding="utf-8")), "bare"),
        )
        timed("save, sealed", lambda: plan_file.save(path, saved))
        timed("load, seal verified", lambda: plan_file.load(path, datetime.now(UTC)))
        timed("save, sealed and signed", lambda: plan_file.save(path, saved, key))
        timed("load, seal and signature verified", lambda: plan_file.load(path, datetime.now(UTC), key))
        print(f"  file size {path.stat().st_size / 1e6:.1f} MB")
        body = plan_file.saved_plan_to_dict(saved)
        document = plan_file.sealed(body, key)
        timed("the seal alone (canonical JSON + SHA-256 per field)", lambda: plan_file.sealed(body))
        timed("the signature check alone", lambda: plan_file.verify_seal(document, path, key))


if __name__ == "__main__":
    main()
