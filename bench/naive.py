"""The naive baseline: what 7pace's group-sync advice literally describes, with `requests` and nothing else.

7pace suggests "a Windows Scheduled Task that monitors the group's user list, and then, assign or unassign
roles with a POST function to call the /api/rest/users/roles endpoint" (apis.md 1.10, source S3). Taken
literally: read the group, read who holds a seat, then one POST per person whose seat must change. It is
given the benefit of the doubt on everything else: it pages the seat list at 500 per GET and, on a 429,
sleeps the Retry-After the server sends and tries again (so it is quota-bound, not broken).

    python bench/naive.py --url URL --token T --members members.csv --group G --role Team [--limit N]

Prints one JSON line: requests by kind, 429s, changes sent, wall seconds.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import requests

API_VERSION = "3.2"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8090")
    parser.add_argument("--token", required=True)
    parser.add_argument("--members", type=Path, required=True, help="CSV group,email")
    parser.add_argument("--group", required=True)
    parser.add_argument("--role", default="Team")
    parser.add_argument("--limit", type=int, default=0, help="send only the first N changes (0 = all)")
    args = parser.parse_args()

    started = time.perf_counter()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {args.token}"
    counts: dict[str, int] = {}
    throttled = 0
    endpoint = args.url.rstrip("/") + "/api/rest/users/roles"

    def call(method: str, **kwargs: Any) -> Any:
        nonlocal throttled
        while True:
            kind = f"{method} users/roles"
            counts[kind] = counts.get(kind, 0) + 1
            response = session.request(method, endpoint, timeout=30, **kwargs)
            if response.status_code == 429:
                throttled += 1
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            response.raise_for_status()
            return response.json()["data"]

    with args.members.open(encoding="utf-8-sig", newline="") as handle:
        members = {
            row["email"].strip().lower() for row in csv.DictReader(handle) if row["group"] == args.group
        }
    seats: dict[str, str] = {}
    skip = 0
    while True:
        page = call("GET", params={"api-version": API_VERSION, "$count": 500, "$skip": skip})
        for row in page:
            seats[str(row["email"]).lower()] = row["role"]["name"]
        if len(page) < 500:
            break
        skip += len(page)
    changes = [(email, args.role) for email in sorted(members) if seats.get(email) != args.role]
    changes += [(email, "None") for email in sorted(seats) if email not in members]
    if args.limit:
        changes = changes[: args.limit]
    for email, role in changes:  # one POST per person changed
        call(
            "POST",
            params={"api-version": API_VERSION},
            json={"users": [{"email": email, "role": {"name": role}}]},
        )
    print(
        json.dumps(
            {
                "requests": counts,
                "throttled": throttled,
                "changes": len(changes),
                "wall": time.perf_counter() - started,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
