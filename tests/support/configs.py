"""Pieces of syncd.toml that many tests write the same way. Each piece ends with a newline; tests join them
with a blank line ("\n") the way a hand-written config reads."""

from __future__ import annotations

# the cloud 7pace, with a token from the environment: for tests that load a config but never connect
CLOUD_TARGET = """\
[target]
url = "https://contoso.timehub.7pace.com"
token = { env = "SYNCD_TEST_TOKEN" }
"""

TOKEN_FILE = 'token = { file = "token.txt" }'

# the export every end-to-end test writes next to syncd.toml
FILE_SOURCE = """\
[[sources]]
name = "hr"
type = "file"
path = "members.csv"
"""


def rule(group: str, role: str, source: str = "hr", target: str = "") -> str:
    named = f'target = "{target}"\n' if target else ""
    return f'[[rules]]\nsource = "{source}"\ngroup = "{group}"\nrole = "{role}"\n{named}'


# the smallest membership config: everyone in the export's group Users gets a Team seat
USERS_ARE_TEAM = FILE_SOURCE + "\n" + rule("Users", "Team")


def local_target(url: str, credentials: str = TOKEN_FILE, name: str = "") -> str:
    """A 7pace emulator on 127.0.0.1: plain HTTP allowed, no client-side rate limit. With `name`, an entry of
    `[[targets]]` instead of the single `[target]`."""
    table = f'[[targets]]\nname = "{name}"\ntype = "timetracker"\n' if name else "[target]\n"
    return (
        f'{table}url = "{url}"\n{credentials}\n'
        "allow_insecure_http = true\nrequests_per_second = 0\nrequests_per_minute = 0\n"
    )
