"""Seat and cost preview: what a run will do to the subscription, in seats and money, before it does it.

Pure: no I/O and no clock (today is passed in). Two billing models, as the vendors publish them:

* ``7pace`` -- 7pace Timetracker sells a number of *assignable users*. The number may change at any time;
  the rest of the subscription period is re-computed per day: a rise is charged at once, a fall becomes a
  credit on the next invoice (never paid out); the renewal date does not move. Plans bound the number (Free
  at most 3 users, Ultimate at least 20), and a plan outside its range cannot be chosen.
  NOTE: https://support.7pace.com/hc/en-us/articles/115000583046 ("How to change the number of users on your
  7pace Timetracker subscription").
* ``per-active-user`` -- TrackingTime's "Fair Billing Policy": a price per active user per month (or per
  year); adding or re-activating a user is prorated by the time left in the cycle and invoiced at once;
  archiving is *not* prorated and stops costing from the next cycle (so annual plans give no credit for
  removals). NOTE: https://support.trackingtime.co/en/articles/1134688-the-user-plan ("halfway through ... on
  the 15th of November ... you owe $3.5 (7 / 2) ... for the time period between Nov 15 and Nov 30").

Day-count rule (one rule for both models)
-----------------------------------------
The billing cycle is the calendar period that contains today: the configured ``renewal`` date stepped by
whole months (or years) backwards or forwards, the day of month clamped to the month's length and always
computed from the configured date (a cycle anchored on the 31st runs 31 Jan -> 29 Feb -> 31 Mar; it does not
drift to the 29th). A cycle has its actual number of days: 28-31 for a month, 365 or 366 for a year.

A change made today is priced for the *days after today* up to the last day of the cycle::

    days_left     = next_renewal - today - 1          (0 on the cycle's last day)
    days_in_cycle = next_renewal - cycle_start
    amount        = seats x price x days_left / days_in_cycle     (rounded once, at the end)

Why: it is the plain calendar rule that reproduces the vendor's worked example exactly -- a user added on
15 Nov of a 30-day November costs 15/30 x $7 = $3.50 ("between Nov 15 and Nov 30" is 30 - 15 = 15 days);
counting today as well would give 16/30 x $7 = $3.73. The day of a change stays at the old count in both
directions, so raising by k and lowering by k on the same day nets to exactly zero under 7pace. A consequence
worth knowing: a change on the renewal day itself is priced for days_in_cycle - 1 days.

Money is ``decimal.Decimal`` throughout and is rounded once, at the end, half-up to the currency's ISO 4217
minor unit (0 for JPY, 3 for KWD, 2 when the code is not in the small table below).
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Final

# ISO 4217 minor units that are not 2 (the default). Source: the ISO 4217 list as published by SIX
# (https://www.six-group.com/en/products-services/financial-information/data-standards.html).
MINOR_UNITS: Final[dict[str, int]] = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
DEFAULT_MINOR_UNIT: Final = 2


class PricingModel(enum.Enum):
    SEVENPACE = "7pace"
    PER_ACTIVE_USER = "per-active-user"


class Period(enum.Enum):
    MONTH = "month"
    YEAR = "year"

    @property
    def months(self) -> int:
        return 1 if self is Period.MONTH else 12


@dataclass(frozen=True, slots=True)
class Plan:
    """A 7pace plan and the number of assignable users it allows (max_users None: no upper bound)."""

    name: str
    min_users: int = 1
    max_users: int | None = None

    def allows(self, users: int) -> bool:
        return users >= self.min_users and (self.max_users is None or users <= self.max_users)

    def describe_range(self) -> str:
        if self.max_users is None:
            return f"at least {self.min_users} user{_s(self.min_users)}"
        return f"{self.min_users}-{self.max_users} users"


# The vendor's plan table (issue 7): Free is cloud-only and at most 3 users, Ultimate needs at least 20; Start
# and Team have no published bounds. Every entry can be overridden by [pricing.plans.<Name>].
DEFAULT_PLANS: Final[tuple[Plan, ...]] = (
    Plan("Free", 1, 3),
    Plan("Start", 1, None),
    Plan("Team", 1, None),
    Plan("Ultimate", 20, None),
)


@dataclass(frozen=True, slots=True)
class PricingSettings:
    """The `[pricing]` table, validated. `assignable` and `plan` are set for the 7pace model only."""

    model: PricingModel
    price_per_seat: Decimal
    period: Period
    renewal: date
    currency: str
    assignable: int | None = None
    plan: Plan | None = None
    plans: tuple[Plan, ...] = DEFAULT_PLANS

    @property
    def minor_unit(self) -> int:
        return MINOR_UNITS.get(self.currency, DEFAULT_MINOR_UNIT)


# -- calendar ------------------------------------------------------------------------------------------------


def _add_months(anchor: date, months: int) -> date:
    """`anchor` moved by whole months, the day clamped to the month's length (31 Jan + 1 = 28/29 Feb)."""
    year, month0 = divmod(anchor.year * 12 + anchor.month - 1 + months, 12)
    day = min(anchor.day, calendar.monthrange(year, month0 + 1)[1])
    return date(year, month0 + 1, day)


@dataclass(frozen=True, slots=True)
class BillingCycle:
    """[start, next_renewal): the cycle containing a day."""

    start: date
    next_renewal: date

    @property
    def days(self) -> int:
        return (self.next_renewal - self.start).days

    @property
    def last_day(self) -> date:
        return self.next_renewal - timedelta(days=1)

    def days_left_after(self, today: date) -> int:
        """Days after `today` up to the cycle's last day (the module docstring's day-count rule)."""
        return (self.next_renewal - today).days - 1


def billing_cycle(renewal: date, period: Period, today: date) -> BillingCycle:
    """The cycle that contains `today`: `renewal` (any renewal date, past or future) stepped by periods."""
    step = period.months
    n = ((today.year - renewal.year) * 12 + today.month - renewal.month) // step
    # the month estimate is off by at most one step either way (day of month); both loops run at most twice
    while _add_months(renewal, n * step) > today:
        n -= 1
    while _add_months(renewal, (n + 1) * step) <= today:
        n += 1
    return BillingCycle(_add_months(renewal, n * step), _add_months(renewal, (n + 1) * step))


# -- preview -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CostPreview:
    """Seats and money for one run. Amounts are rounded to the currency's minor unit.

    7pace: `seat_limit` is the assignable-user count; `raise_to`/`charge_now` when it must rise (due today),
    `lower_to`/`credit_if_lowered` when it could fall (credit on the next invoice, never paid out).
    per-active-user: `charge_now` is the prorated charge for the net additions; `removals_stop_costing` is the
    next renewal when seats are removed (no proration, no credit)."""

    model: PricingModel
    currency: str
    price_per_seat: Decimal
    period: Period
    today: date
    cycle: BillingCycle
    days_left: int
    seats_before: int
    seats_after: int
    seat_limit: int | None
    plan: str | None
    raise_to: int | None
    charge_now: Decimal
    lower_to: int | None
    credit_if_lowered: Decimal
    removals_stop_costing: date | None
    period_cost_now: Decimal
    period_cost_after: Decimal
    warnings: tuple[str, ...] = field(default=())

    @property
    def net(self) -> Decimal:
        """Credit minus charge if the preview's changes are made today (negative: you pay)."""
        return self.credit_if_lowered - self.charge_now

    def _money(self, amount: Decimal) -> str:
        # a price may carry more digits than the currency (9.995): pad to the minor unit, never round it away
        digits = max(MINOR_UNITS.get(self.currency, DEFAULT_MINOR_UNIT), -int(amount.as_tuple().exponent))
        return f"{self.currency} {amount:,.{digits}f}"

    def lines(self) -> list[str]:
        """A short human block for the plan table (ASCII only: it also goes to Windows consoles and logs)."""
        unit = f"per user per {self.period.value}"
        days = f"{self.days_left} of {self.cycle.days} days left after today"
        seats = f"Seats: {self.seats_before} held now -> {self.seats_after} after this run"
        if self.model is PricingModel.SEVENPACE:
            plan = f" (plan {self.plan})" if self.plan else ""
            out = [f"{seats}; limit {self.seat_limit} assignable users{plan}"]
            out.append(
                f"Billing: 7pace, {self._money(self.price_per_seat)} {unit}; "
                f"cycle {self.cycle.start.isoformat()} to {self.cycle.last_day.isoformat()}, {days}"
            )
            limit = self.seat_limit or 0
            if self.raise_to is not None:
                out.append(
                    f"Assignable users must rise by {self.raise_to - limit} to {self.raise_to}: "
                    f"{self._money(self.charge_now)} charged today (prorated; the renewal date does not move)"
                )
                after_count = self.raise_to
            elif self.lower_to is not None:
                out.append(
                    f"Assignable users could fall by {limit - self.lower_to} to {self.lower_to}: "
                    f"{self._money(self.credit_if_lowered)} credit on the next invoice if lowered today "
                    "(credits are never paid out)"
                )
                after_count = self.lower_to
            else:
                out.append(f"Assignable users: no change needed ({self.seats_after} of {limit} used)")
                after_count = limit
            lowered = " if lowered" if self.lower_to is not None else ""
            out.append(
                f"Next invoice: {self._money(self.period_cost_after)} per {self.period.value} "
                f"for {after_count} users{lowered} (now {self._money(self.period_cost_now)} for {limit})"
            )
        else:
            out = [f"{seats} (no seat limit: billed per active user)"]
            out.append(
                f"Billing: per active user, {self._money(self.price_per_seat)} {unit}; cycle "
                f"{self.cycle.start.isoformat()} to {self.cycle.last_day.isoformat()}, {days}"
            )
            change = self.seats_after - self.seats_before
            if change > 0:
                out.append(
                    f"{change} user{_s(change)} added: "
                    f"{self._money(self.charge_now)} charged today (prorated)"
                )
            elif change < 0 and self.removals_stop_costing is not None:
                out.append(
                    f"{-change} user{_s(-change)} removed: still billed this cycle; costs stop from "
                    f"{self.removals_stop_costing.isoformat()} (removals are not prorated, no credit)"
                )
            else:
                out.append("Active users: no change")
            out.append(
                f"Next invoice: {self._money(self.period_cost_after)} per {self.period.value} for "
                f"{self.seats_after} users (now {self._money(self.period_cost_now)} for {self.seats_before})"
            )
        out.extend(f"Warning: {warning}" for warning in self.warnings)
        return out

    def as_dict(self) -> dict[str, str | int | list[str] | None]:
        """Flat and JSON-ready (money as exact decimal strings, dates as ISO) for JSON, CSV and status."""

        def text(value: Decimal | date | None) -> str | None:
            if value is None:
                return None
            return value.isoformat() if isinstance(value, date) else str(value)

        return {
            "model": self.model.value,
            "currency": self.currency,
            "price_per_seat": str(self.price_per_seat),
            "period": self.period.value,
            "today": self.today.isoformat(),
            "cycle_start": self.cycle.start.isoformat(),
            "cycle_last_day": self.cycle.last_day.isoformat(),
            "next_renewal": self.cycle.next_renewal.isoformat(),
            "days_left": self.days_left,
            "days_in_cycle": self.cycle.days,
            "seats_before": self.seats_before,
            "seats_after": self.seats_after,
            "seat_limit": self.seat_limit,
            "plan": self.plan,
            "raise_to": self.raise_to,
            "charge_now": str(self.charge_now),
            "lower_to": self.lower_to,
            "credit_if_lowered": str(self.credit_if_lowered),
            "removals_stop_costing": text(self.removals_stop_costing),
            "period_cost_now": str(self.period_cost_now),
            "period_cost_after": str(self.period_cost_after),
            "warnings": list(self.warnings),
        }


def preview(
    settings: PricingSettings,
    seats_before: int,
    seats_after: int,
    today: date,
    *,
    assignable: int | None = None,
) -> CostPreview:
    """What changing from `seats_before` to `seats_after` seats today does to the subscription.

    `assignable` (7pace) overrides the configured count, for when the target reports the live figure. Raises
    ValueError for negative seat counts or a 7pace settings object without an assignable count."""
    if seats_before < 0 or seats_after < 0:
        raise ValueError(f"seat counts must not be negative (got {seats_before} -> {seats_after})")
    cycle = billing_cycle(settings.renewal, settings.period, today)
    days_left = cycle.days_left_after(today)

    def prorated(seats: int) -> Decimal:
        # exact up to the one rounding: 34 significant digits whatever the caller's decimal context says
        with localcontext(prec=34):
            return _round(Decimal(seats) * settings.price_per_seat * days_left / cycle.days, settings)

    def per_period(seats: int) -> Decimal:
        return _round(Decimal(seats) * settings.price_per_seat, settings)

    warnings: list[str] = []
    if settings.model is PricingModel.PER_ACTIVE_USER:
        # additions are prorated and invoiced now; removals are not prorated: they stop costing next cycle
        limit: int | None = None
        plan_name: str | None = None
        raise_to: int | None = None
        lower_to: int | None = None
        charge = prorated(max(0, seats_after - seats_before))
        credit = prorated(0)
        removals_stop = cycle.next_renewal if seats_after < seats_before else None
        cost_now, cost_after = per_period(seats_before), per_period(seats_after)
    else:
        limit = assignable if assignable is not None else settings.assignable
        if limit is None:
            raise ValueError("the 7pace model needs the assignable-user count ([pricing] assignable)")
        plan = settings.plan
        plan_name = plan.name if plan is not None else None
        raise_to = seats_after if seats_after > limit else None
        # a plan's minimum is a floor for the assignable count: Ultimate cannot go below 20, used or not
        floor = max(seats_after, plan.min_users if plan is not None else 0)
        lower_to = floor if floor < limit else None
        if plan is not None and not plan.allows(seats_after):
            warnings.append(_plan_warning(plan, seats_before, seats_after, settings.plans))
        charge = prorated(raise_to - limit if raise_to is not None else 0)
        credit = prorated(limit - lower_to if lower_to is not None else 0)
        removals_stop = None
        # the cost per period at the count this run needs: raised if it must rise, lowered if it could fall
        needed = raise_to if raise_to is not None else lower_to if lower_to is not None else limit
        cost_now, cost_after = per_period(limit), per_period(needed)
    return CostPreview(
        model=settings.model,
        currency=settings.currency,
        price_per_seat=settings.price_per_seat,
        period=settings.period,
        today=today,
        cycle=cycle,
        days_left=days_left,
        seats_before=seats_before,
        seats_after=seats_after,
        seat_limit=limit,
        plan=plan_name,
        raise_to=raise_to,
        charge_now=charge,
        lower_to=lower_to,
        credit_if_lowered=credit,
        removals_stop_costing=removals_stop,
        period_cost_now=cost_now,
        period_cost_after=cost_after,
        warnings=tuple(warnings),
    )


def _plan_warning(plan: Plan, before: int, after: int, plans: tuple[Plan, ...]) -> str:
    crossing = "would cross" if plan.allows(before) else "stays outside"
    fits = [p.name for p in plans if p.allows(after)]
    suggestion = f"; plans that allow {after}: {', '.join(fits)}" if fits else ""
    if plan.max_users is not None and after > plan.max_users:
        return (
            f"{after} seats after this run {crossing} plan {plan.name}'s limit of at most {plan.max_users} "
            f"users: change the plan before applying (the charge shown uses today's price){suggestion}"
        )
    return (
        f"{after} seats after this run {crossing} plan {plan.name}'s minimum of {plan.min_users} users: "
        f"assignable users cannot fall below {plan.min_users} on this plan{suggestion}"
    )


def _round(amount: Decimal, settings: PricingSettings) -> Decimal:
    """The one rounding step: half-up (the usual invoice rule) to the currency's minor unit."""
    return amount.quantize(Decimal(1).scaleb(-settings.minor_unit), rounding=ROUND_HALF_UP)


def _s(count: int) -> str:
    return "" if count == 1 else "s"


__all__ = [
    "DEFAULT_PLANS",
    "MINOR_UNITS",
    "BillingCycle",
    "CostPreview",
    "Period",
    "Plan",
    "PricingModel",
    "PricingSettings",
    "billing_cycle",
    "preview",
]
