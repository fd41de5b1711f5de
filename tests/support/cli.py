"""Running syncd's command line in-process, and a port to point it at when nothing may answer."""

from __future__ import annotations

import socket

import pytest

from syncd.cli import main


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`syncd ARGV` in this process: its exit code, stdout and stderr (what earlier output there was is dropped)."""
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released): a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
