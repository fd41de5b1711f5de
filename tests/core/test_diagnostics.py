"""Diagnostics: what the libraries syncd uses log through the standard library is rendered like syncd's own
events, so a JSON diagnostics stream stays one JSON object per line, and secret-looking fields stay masked."""

from __future__ import annotations

import importlib.util
import io
import json
import logging

import pytest
import structlog

from syncd import diagnostics


def test_a_library_warning_is_a_json_event_on_a_json_stream() -> None:
    stream = io.StringIO()
    diagnostics.configure("json", 0, stream)
    logging.getLogger("urllib3.connectionpool").warning("Retrying (%s) after %s", "Retry(total=0)", "a reset")
    logging.getLogger("ldap3").info("below WARNING: not shown, whatever -v says")
    structlog.get_logger("syncd.test").warning("syncd's own", token="sentinel-value")
    lines = stream.getvalue().splitlines()
    events = [json.loads(line) for line in lines]  # every line parses: nothing plain-text in between
    assert [(e["event"], e.get("logger"), e["level"]) for e in events] == [
        ("Retrying (Retry(total=0)) after a reset", "urllib3.connectionpool", "warning"),
        ("syncd's own", None, "warning"),
    ]
    assert events[1]["token"] == "***" and "sentinel-value" not in stream.getvalue()


def test_console_format_renders_library_warnings_with_their_logger_name() -> None:
    stream = io.StringIO()
    diagnostics.configure("console", 0, stream)
    logging.getLogger("msal").warning("token cache miss")
    (line,) = stream.getvalue().splitlines()
    assert "token cache miss" in line and "[msal]" in line and "warning" in line


def test_colours_only_on_a_terminal_and_on_windows_only_with_colorama(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert diagnostics.can_show_colours(tty=True, platform="linux")
    assert not diagnostics.can_show_colours(tty=False, platform="linux")
    assert not diagnostics.can_show_colours(tty=False, platform="win32")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "colorama" else real(name))
    assert not diagnostics.can_show_colours(tty=True, platform="win32")
    assert diagnostics.can_show_colours(tty=True, platform="linux")  # no colorama needed off Windows
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: object() if name == "colorama" else real(name)
    )
    assert diagnostics.can_show_colours(tty=True, platform="win32")
