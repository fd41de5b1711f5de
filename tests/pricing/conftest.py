"""Shared helpers for the pricing tests: a [pricing] table read from real TOML text through Section."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from syncd.config_section import Section
from syncd.pricing import PricingSettings
from syncd.pricing_settings import parse_pricing


@pytest.fixture
def parse() -> Callable[[str], tuple[PricingSettings | None, list[str]]]:
    """TOML text (a whole config) -> (settings or None, the one-line problems)."""

    def run(text: str) -> tuple[PricingSettings | None, list[str]]:
        problems: list[str] = []
        root = Section(tomllib.loads(text), "", Path("syncd.toml"), problems)
        return parse_pricing(root.section("pricing")), problems

    return run
