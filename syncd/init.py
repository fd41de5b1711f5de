"""`syncd init`: a commented starter config from a few answers (or flags, for scripts), then checks it
offline.

Like borgmatic's `config generate`, but asking only what a first run needs: the 7pace URL, one source and its
connection, one group → role rule. Secrets are never asked for and never written: the file gets a reference
(`{ env = "NAME" }` or `{ file = "path" }`) and the admin stores the secret there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from syncd.errors import UsageError

SOURCE_TYPES = ("file", "ldap", "azure_devops", "entra")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")


@dataclass(frozen=True)
class Question:
    key: str  # the flag's dest, e.g. "target_url"
    prompt: str
    default: str = ""
    secret_ref: bool = False  # the answer is where a secret lives, never the secret


COMMON = (
    Question("target_url", "7pace Timetracker URL", "https://contoso.timehub.7pace.com"),
    Question(
        "token_env",
        "environment variable that will hold the 7pace API token",
        "SYNCD_TIMETRACKER_TOKEN",
        True,
    ),
    Question("source_type", f"source type ({' | '.join(SOURCE_TYPES)})", "file"),
)
PER_SOURCE: Mapping[str, tuple[Question, ...]] = {
    "file": (Question("path", "export file (CSV: group,email[,display_name][,enabled])", "members.csv"),),
    "ldap": (
        Question("url", "LDAP URL of a domain controller", "ldaps://dc1.corp.example.com"),
        Question("bind_user", "service account (UPN or DN)", "svc-syncd@corp.example.com"),
        Question(
            "secret_env", "environment variable that will hold its password", "SYNCD_LDAP_PASSWORD", True
        ),
        Question("base_dn", "base DN", "DC=corp,DC=example,DC=com"),
    ),
    "azure_devops": (
        Question("organization", "Azure DevOps organization", "contoso"),
        Question(
            "secret_env", "environment variable that will hold the PAT (Graph read)", "SYNCD_ADO_PAT", True
        ),
    ),
    "entra": (
        Question("tenant_id", "Entra tenant id", "00000000-0000-0000-0000-000000000000"),
        Question("client_id", "app (client) id", "11111111-1111-1111-1111-111111111111"),
        Question(
            "secret_env", "environment variable that will hold the client secret", "SYNCD_ENTRA_SECRET", True
        ),
    ),
}
RULE = (
    Question("group", "group that gives the role", "Timetracker Users"),
    Question("role", "role it gives (Administrator | Budget | Product | Team)", "Team"),
)


def answers(given: Mapping[str, str | None], ask: Callable[[Question], str] | None) -> dict[str, str]:
    """The flags given, and for the others the answer to `ask` (None: not interactive, a missing flag is an
    error naming it)."""
    result: dict[str, str] = {}
    missing: list[str] = []

    def take(question: Question) -> None:
        value = given.get(question.key)
        if value is None and ask is not None:
            value = ask(question).strip() or question.default
        if value is None:
            missing.append("--" + question.key.replace("_", "-"))
            return
        if question.secret_ref and not _ENV_NAME.match(value):
            # a pasted token or password would otherwise end up in the file
            raise UsageError(
                f"--{question.key.replace('_', '-')}: {question.prompt} must be a variable name such as "
                f"{question.default} (A-Z, 0-9, _); syncd init never writes a secret"
            )
        result[question.key] = value

    for question in COMMON:
        take(question)
    kind = result.get("source_type", "")
    if kind and kind not in SOURCE_TYPES:
        raise UsageError(f"--source-type {kind!r}: choose one of {', '.join(SOURCE_TYPES)}")
    for question in (*PER_SOURCE.get(kind, ()), *RULE):
        take(question)
    if missing:
        raise UsageError(f"syncd init without a terminal needs {', '.join(missing)} (see syncd init --help)")
    return result


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a TOML basic string is a JSON string


def render(a: Mapping[str, str]) -> str:
    kind = a["source_type"]
    lines = [
        "# syncd configuration written by `syncd init`. Every key is explained in config.example.toml.",
        "# Secrets are never written here: store them where the references below point, then run",
        "#   syncd check     (reaches the target and the source read-only)",
        "#   syncd plan      (what a run would change; never writes)",
        "",
        "[target]",
        'type = "timetracker"',
        f"url = {_q(a['target_url'])}",
        f"token = {{ env = {_q(a['token_env'])} }}",
        "# (the token: Timetracker > Settings > Reporting & API > Create New Token)",
        "",
        "[[sources]]",
        'name = "main"',
        f"type = {_q(kind)}",
    ]
    if kind == "file":
        lines.append(f"path = {_q(a['path'])}                     # relative paths are relative to this file")
    elif kind == "ldap":
        lines += [
            f"url = {_q(a['url'])}",
            f"bind_user = {_q(a['bind_user'])}",
            f"bind_password = {{ env = {_q(a['secret_env'])} }}",
            f"base_dn = {_q(a['base_dn'])}",
            '# ca_bundle = "corp-ca.pem"   # the CA of the DCs\' certificates, if not trusted system-wide',
        ]
    elif kind == "azure_devops":
        lines += [f"organization = {_q(a['organization'])}", f"pat = {{ env = {_q(a['secret_env'])} }}"]
    else:
        lines += [
            f"tenant_id = {_q(a['tenant_id'])}",
            f"client_id = {_q(a['client_id'])}",
            f"client_secret = {{ env = {_q(a['secret_env'])} }}",
        ]
    lines += [
        "",
        "[[rules]]",
        'source = "main"',
        f"group = {_q(a['group'])}",
        f"role = {_q(a['role'])}",
        "",
        "[policy]",
        'unmanaged = "keep"                # seats assigned outside syncd are left alone',
        'grace = "24h"                     # absence needed before a seat is removed',
        "max_removals = 50                 # more removals in one run stop it (exit 3)",
        "",
        "[state]",
        'dir = "state"',
        "",
        "[audit]",
        'dir = "logs"',
        "",
    ]
    return "\n".join(lines)


def write_starter(path: Path, text: str, *, force: bool) -> None:
    if path.exists() and not force:
        raise UsageError(f"{path} exists; choose another --out or add --force to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"{path}: cannot write the config: {error.strerror}") from None
