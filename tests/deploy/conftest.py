"""Fixtures for the shipped deployment artifacts (deploy/, requirements.lock, scripts/)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def cli_parser() -> argparse.ArgumentParser:
    """syncd's own argparse parser. Skipped only while syncd.cli does not exist yet; once it does, a missing
    build_parser() is a failure, not a skip."""
    cli = pytest.importorskip("syncd.cli", reason="syncd/cli.py has not landed yet")
    parser: argparse.ArgumentParser = cli.build_parser()
    return parser


def parse_args_or_fail(parser: argparse.ArgumentParser, args: list[str]) -> argparse.Namespace:
    """argparse exits on a bad command line; turn that into a readable test failure."""
    try:
        return parser.parse_args(args)
    except SystemExit as stop:  # argparse already printed the reason to stderr
        pytest.fail(f"syncd's CLI parser refused {args!r} (exit {stop.code})")


@pytest.fixture
def parse_cli(cli_parser: argparse.ArgumentParser):  # type: ignore[no-untyped-def]
    def run(args: list[str]) -> argparse.Namespace:
        return parse_args_or_fail(cli_parser, args)

    return run
