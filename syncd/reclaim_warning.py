"""`warn_before` by e-mail (issue 18): the warning goes to the person whose seat will be reclaimed,
through the SMTP settings of one `[[alerts]]` entry of type "email" (`[reclaim] warn_channel`), reusing its
channel code (verified TLS, credentials by reference). The entry's own recipients and events are untouched:
only this message's recipient is the person. A warning that could not be sent is not a warning: the caller
does not record it, so the reclaim waits and the next run tries again."""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import datetime

from syncd.alerts.channels import AlertNotSent, EmailChannel
from syncd.alerts.message import AlertMessage
from syncd.alerts.settings import AlertSettings

EVENT = "reclaim-warning"


def send_warning(
    alert: AlertSettings, email: str, due: datetime, reason: str, *, config: str, run_id: str | None
) -> str:
    """Mail the person; "" when the server took the message, else the one-line reason it did not."""
    if alert.email is None:
        return f"alerts entry {alert.name!r} is not of type email"
    channel = EmailChannel(alert.name, replace(alert.email, recipients=(email,)))
    message = AlertMessage(
        event=EVENT,
        title=f"Your 7pace Timetracker seat will be reclaimed on {due:%Y-%m-%d}",
        cost="",
        details=(
            reason,
            "Log time in 7pace Timetracker before then and the seat stays yours: any worklog cancels it.",
            "If you need the seat back later, ask your Timetracker administrator.",
        ),
        command="ask your Timetracker administrator (syncd status lists the seats to be reclaimed)",
        run_id=run_id,
        config=config,
        host=socket.gethostname(),
    )
    try:
        channel.send(message)
    except AlertNotSent as error:
        return str(error)
    return ""


def find_channel(alerts: tuple[AlertSettings, ...], name: str) -> AlertSettings | None:
    return next((a for a in alerts if a.name == name and a.email is not None), None)
