"""Sending alerts once per condition: a small ledger (`alerts.json` in the state folder) remembers, per
channel, which conditions it was told about, when, and what they looked like.

- a new condition alerts at once; an open one again only after the channel's `interval`, or at once when
  its fingerprint changes (another group missing, a different failure);
- a condition the run judged absent is closed, with a `recovered` message if the channel hears it;
- a channel that fails is logged and audited and retried at the next run: it never fails the run.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from syncd.alerts.channels import AlertNotSent, Channel, open_channel
from syncd.alerts.conditions import COMPLETED_CODES, Condition, RunFacts, judge, stale
from syncd.alerts.message import AlertMessage
from syncd.alerts.settings import AlertSettings
from syncd.audit import AuditLog
from syncd.config import Config
from syncd.plan_file import write_atomically
from syncd.state import State

log = structlog.get_logger("syncd.alerts")

LEDGER = "alerts.json"
HISTORY = 1000  # runs looked at to find the last completed one


@dataclass(frozen=True)
class Delivery:
    channel: str
    event: str
    title: str
    error: str = ""  # empty when sent


def last_completed(state_dir: Path) -> datetime | None:
    """When the last run that ran to its end (exit 0 or 4) finished; None when none has (or no state)."""
    if not (state_dir / "syncd.sqlite3").exists():
        return None
    with State(state_dir) as state:
        runs = state.recent_runs(HISTORY)
    done = [r.finished for r in runs if r.finished is not None and r.exit_code in COMPLETED_CODES]
    return max(done) if done else None


class Notifier:
    """Alerts for one config. `channels` is injectable for tests; by default one per `[[alerts]]`."""

    def __init__(
        self,
        config: Config,
        clock: Callable[[], datetime],
        channels: Sequence[tuple[AlertSettings, Channel]] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        if channels is None:
            channels = [(a, open_channel(a)) for a in config.alerts]
        self.channels = list(channels)
        self.host = socket.gethostname()
        self._stale: Condition | None = None

    # -- the two moments of a run ------------------------------------------------------------------
    def run_started(self) -> list[Delivery]:
        """Checked at every start: a task that stopped running is noticed by the next one that runs."""
        now = self.clock()
        try:
            last = last_completed(self.config.state_dir)
        except Exception as error:  # noqa: BLE001 - a locked or damaged state: the run itself will say so
            log.warning("stale check skipped", error=str(error))
            return []
        self._stale = stale(last, now, self.config.schedule.stale_after, str(self.config.file))
        if self._stale is None:
            return []
        stale_now = [self._stale]
        return self._dispatch(None, {s.name: (stale_now, frozenset()) for s, _ in self.channels}, now)

    def run_finished(self, facts: RunFacts) -> list[Delivery]:
        now = self.clock()
        by_channel: dict[str, tuple[list[Condition], frozenset[str]]] = {}
        for settings, _ in self.channels:
            present, judged = judge(facts, settings.seat_limit_near_percent)
            if self._stale is not None and "stale" not in judged:
                present.append(self._stale)
            by_channel[settings.name] = (present, judged)
        return self._dispatch(facts.run_id, by_channel, now)

    def test(self) -> list[Delivery]:
        """`syncd alerts test`: one test message to every channel, outside the ledger."""
        message = AlertMessage(
            "test",
            "test message: this channel reaches you",
            "",
            ("Sent by `syncd alerts test`. Nothing is wrong.",),
            f"syncd status -c {self.config.file}",
            None,
            str(self.config.file),
            self.host,
        )
        return [self._send(None, settings, channel, message) for settings, channel in self.channels]

    # -- de-duplication --------------------------------------------------------------------------------
    def _dispatch(
        self,
        run_id: str | None,
        by_channel: dict[str, tuple[list[Condition], frozenset[str]]],
        now: datetime,
    ) -> list[Delivery]:
        """Per channel: the conditions present and the events judged (a judged event absent is over)."""
        ledger = self._load()
        deliveries: list[Delivery] = []
        for settings, channel in self.channels:
            conditions, seen = by_channel[settings.name]
            open_items: dict[str, Any] = ledger.setdefault(settings.name, {})
            for condition in conditions:
                if condition.event not in settings.events:
                    continue
                known = open_items.get(condition.key)
                due = (
                    known is None
                    or known.get("fingerprint") != condition.fingerprint
                    or now - datetime.fromisoformat(known["sent"]) >= settings.interval
                )
                if not due:
                    continue
                delivery = self._send(run_id, settings, channel, self._message(condition, run_id))
                deliveries.append(delivery)
                if not delivery.error:
                    opened = known["opened"] if known is not None else now.isoformat()
                    open_items[condition.key] = {
                        "event": condition.event,
                        "fingerprint": condition.fingerprint,
                        "title": condition.title,
                        "opened": opened,
                        "sent": now.isoformat(),
                    }
            present_keys = {c.key for c in conditions}
            for key, item in list(open_items.items()):
                if key in present_keys or item.get("event") not in seen:
                    continue
                if "recovered" in settings.events:
                    delivery = self._send(run_id, settings, channel, self._recovered(item, run_id))
                    deliveries.append(delivery)
                    if delivery.error:
                        continue  # tell it again next run
                del open_items[key]
        self._save(ledger)
        return deliveries

    def _message(self, condition: Condition, run_id: str | None) -> AlertMessage:
        return AlertMessage(
            condition.event,
            condition.title,
            condition.cost,
            condition.details,
            condition.command,
            run_id,
            str(self.config.file),
            self.host,
        )

    def _recovered(self, item: dict[str, Any], run_id: str | None) -> AlertMessage:
        return AlertMessage(
            "recovered",
            f"recovered: {item.get('title', item.get('event', ''))}",
            "",
            (f"first reported {item.get('opened', '?')[:16].replace('T', ' ')} UTC; over as of this run",),
            f"syncd status -c {self.config.file}",
            run_id,
            str(self.config.file),
            self.host,
        )

    def _send(
        self, run_id: str | None, settings: AlertSettings, channel: Channel, message: AlertMessage
    ) -> Delivery:
        try:
            channel.send(message)
            delivery = Delivery(settings.name, message.event, message.title)
            log.info("alert sent", channel=settings.name, alert=message.event, title=message.title)
        except AlertNotSent as error:
            delivery = Delivery(settings.name, message.event, message.title, str(error))
        except Exception as error:  # noqa: BLE001 - a channel must never fail the run
            delivery = Delivery(settings.name, message.event, message.title, f"{type(error).__name__}")
        if delivery.error:
            log.error("alert not sent", channel=settings.name, alert=message.event, error=delivery.error)
        self._audit(run_id, delivery)
        return delivery

    def _audit(self, run_id: str | None, delivery: Delivery) -> None:
        try:
            audit = AuditLog(
                self.config.audit_dir,
                run_id=run_id or "-",
                dry_run=False,
                target=self.config.target.type,
                clock=self.clock,
            )
            try:
                audit.alert(delivery.channel, delivery.event, delivery.title, delivery.error)
            finally:
                audit.close()
        except OSError as error:
            log.warning("alert not audited", error=error.strerror)

    # -- the ledger ------------------------------------------------------------------------------------
    @property
    def _ledger_path(self) -> Path:
        return self.config.state_dir / LEDGER

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self._ledger_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            # a damaged ledger costs at most repeated alerts, never a run
            log.warning(
                "alert ledger unreadable; starting afresh", path=str(self._ledger_path), error=str(error)
            )
            return {}
        channels = data.get("channels") if isinstance(data, dict) else None
        return channels if isinstance(channels, dict) else {}

    def _save(self, channels: dict[str, Any]) -> None:
        try:
            self._ledger_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self._ledger_path, json.dumps({"version": 1, "channels": channels}, indent=1))
        except OSError as error:
            log.warning("alert ledger not written", path=str(self._ledger_path), error=error.strerror)
