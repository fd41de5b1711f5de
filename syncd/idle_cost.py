"""What idle seats cost, in one line, under the configured `[pricing]` model (issue 18). Pure.

- per month: `idle × price_per_seat` (a yearly price divided by 12), rounded once to the currency's unit;
- 7pace: the credit if the assignable-user count were lowered by the idle seats today (the pricing
  module's day-count rule, plan minimums respected; a credit is never paid out);
- per-active-user: no credit (removals are not prorated); the saving starts at the next renewal.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from syncd.pricing import MINOR_UNITS, PricingModel, PricingSettings, preview


def _money(settings: PricingSettings, amount: Decimal) -> str:
    unit = MINOR_UNITS.get(settings.currency, 2)
    rounded = amount.quantize(Decimal(1).scaleb(-unit), rounding=ROUND_HALF_UP)
    return f"{settings.currency} {rounded:,.{unit}f}"


def monthly_cost(settings: PricingSettings, seats: int) -> Decimal:
    return Decimal(seats) * settings.price_per_seat / settings.period.months


def idle_summary(settings: PricingSettings | None, idle: int, today: date) -> str:
    """E.g. "14 idle seats: USD 126.00 a month; USD 37.80 credit if reclaimed today"."""
    if idle == 0:
        return "No idle seats."
    head = f"{idle} idle seat{'s' if idle != 1 else ''}"
    if settings is None:
        return f"{head} (add [pricing] to see what they cost)"
    monthly = _money(settings, monthly_cost(settings, idle))
    if settings.model is PricingModel.SEVENPACE:
        limit = max(settings.assignable or 0, idle)
        result = preview(settings, limit, limit - idle, today, assignable=limit)
        credit = _money(settings, result.credit_if_lowered)
        lowered = limit - (result.lower_to if result.lower_to is not None else limit)
        floor = f" (the plan's minimum allows lowering by {lowered} only)" if lowered < idle else ""
        return (
            f"{head}: {monthly} a month; {credit} credit if reclaimed today and assignable users lowered by "
            f"{idle}{floor}, {result.days_left} of {result.cycle.days} days left"
        )
    result = preview(settings, idle, 0, today)
    stop = result.removals_stop_costing.isoformat() if result.removals_stop_costing else "the next renewal"
    return (
        f"{head}: {monthly} a month; no credit if reclaimed today (per active user): the saving starts {stop}"
    )
