"""The vendors' worked examples, day-count edge cases, plan-boundary warnings and the rendered block."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from syncd.pricing import (
    DEFAULT_PLANS,
    Period,
    Plan,
    PricingModel,
    PricingSettings,
    billing_cycle,
    preview,
)

FREE, START, TEAM, ULTIMATE = DEFAULT_PLANS


def per_user(
    price: str = "7", period: Period = Period.MONTH, renewal: date = date(2026, 12, 1), currency: str = "USD"
) -> PricingSettings:
    return PricingSettings(PricingModel.PER_ACTIVE_USER, Decimal(price), period, renewal, currency)


def sevenpace(
    assignable: int,
    plan: Plan | None = TEAM,
    price: str = "9",
    period: Period = Period.MONTH,
    renewal: date = date(2027, 1, 1),
    currency: str = "USD",
) -> PricingSettings:
    return PricingSettings(
        PricingModel.SEVENPACE, Decimal(price), period, renewal, currency, assignable, plan, DEFAULT_PLANS
    )


# -- the worked examples ------------------------------------------------------------------------------------


def test_a_user_added_on_nov_15_of_a_30_day_november_at_7_dollars_costs_3_50_today() -> None:
    result = preview(per_user("7"), 1, 2, date(2026, 11, 15))
    assert (result.days_left, result.cycle.days) == (15, 30)
    assert result.charge_now == Decimal("3.50")
    assert str(result.charge_now) == "3.50"
    assert result.removals_stop_costing is None
    assert result.period_cost_after == Decimal("14.00")


def test_an_archived_user_is_not_prorated_and_stops_costing_at_the_next_cycle() -> None:
    result = preview(per_user("7"), 2, 1, date(2026, 11, 15))
    assert result.charge_now == Decimal("0.00")
    assert result.credit_if_lowered == Decimal("0.00")
    assert result.removals_stop_costing == date(2026, 12, 1)
    assert (result.period_cost_now, result.period_cost_after) == (Decimal("14.00"), Decimal("7.00"))


def test_the_annual_plan_prorates_additions_over_the_real_year_and_gives_no_credit_for_removals() -> None:
    settings = per_user("60", Period.YEAR, renewal=date(2027, 1, 1))
    added = preview(settings, 10, 12, date(2026, 7, 1))
    # 2026-07-01 -> 2027-01-01 is 184 days; the 183 after today of 365: 2 x 60 x 183/365 = 60.164...
    assert (added.cycle.start, added.cycle.next_renewal) == (date(2026, 1, 1), date(2027, 1, 1))
    assert (added.days_left, added.cycle.days) == (183, 365)
    assert added.charge_now == Decimal("60.16")
    removed = preview(settings, 12, 10, date(2026, 7, 1))
    assert removed.charge_now == Decimal("0.00")
    assert removed.credit_if_lowered == Decimal("0.00")
    assert removed.removals_stop_costing == date(2027, 1, 1)


def test_7pace_charges_exactly_the_shortfall_when_assignable_users_must_rise() -> None:
    result = preview(sevenpace(50), 48, 53, date(2026, 11, 15))
    # 3 users short x $9 x 15/30 days
    assert (result.raise_to, result.lower_to) == (53, None)
    assert result.charge_now == Decimal("13.50")
    assert result.credit_if_lowered == Decimal("0.00")
    assert (result.period_cost_now, result.period_cost_after) == (Decimal("450.00"), Decimal("477.00"))
    assert result.net == Decimal("-13.50")


def test_7pace_shows_the_credit_if_assignable_users_were_lowered_to_the_seats_still_needed() -> None:
    result = preview(sevenpace(50), 48, 45, date(2026, 11, 15))
    assert (result.raise_to, result.lower_to) == (None, 45)
    assert result.charge_now == Decimal("0.00")
    assert result.credit_if_lowered == Decimal("22.50")  # 5 x $9 x 15/30
    assert result.period_cost_after == Decimal("405.00")


def test_7pace_needs_no_change_when_the_seats_after_the_run_equal_the_assignable_count() -> None:
    result = preview(sevenpace(50), 50, 50, date(2026, 11, 15))
    assert (result.raise_to, result.lower_to, result.charge_now, result.credit_if_lowered) == (
        None,
        None,
        Decimal("0.00"),
        Decimal("0.00"),
    )
    assert result.warnings == ()


def test_a_live_assignable_count_from_the_target_wins_over_the_configured_one() -> None:
    result = preview(sevenpace(50), 48, 53, date(2026, 11, 15), assignable=52)
    assert (result.seat_limit, result.raise_to, result.charge_now) == (52, 53, Decimal("4.50"))


# -- day count ----------------------------------------------------------------------------------------------


def test_a_31_day_month_prices_the_days_after_today_out_of_31() -> None:
    result = preview(per_user("7"), 1, 2, date(2026, 12, 15))
    assert (result.days_left, result.cycle.days) == (16, 31)
    assert result.charge_now == Decimal("3.61")  # 7 x 16/31 = 3.6129


def test_february_of_a_leap_year_has_29_days_and_its_leap_day_is_the_cycles_last_day() -> None:
    mid = preview(per_user("7"), 1, 2, date(2028, 2, 14))
    assert (mid.cycle.start, mid.cycle.next_renewal, mid.days_left, mid.cycle.days) == (
        date(2028, 2, 1),
        date(2028, 3, 1),
        15,
        29,
    )
    assert mid.charge_now == Decimal("3.62")  # 7 x 15/29 = 3.6206
    leap_day = preview(per_user("7"), 1, 2, date(2028, 2, 29))
    assert (leap_day.days_left, leap_day.charge_now) == (0, Decimal("0.00"))


def test_an_annual_subscription_renewing_on_a_leap_day_renews_on_feb_28_in_other_years() -> None:
    cycle = billing_cycle(date(2028, 2, 29), Period.YEAR, date(2029, 6, 1))
    assert (cycle.start, cycle.next_renewal, cycle.days) == (date(2029, 2, 28), date(2030, 2, 28), 365)
    leap_cycle = billing_cycle(date(2028, 2, 29), Period.YEAR, date(2031, 12, 31))
    assert (leap_cycle.start, leap_cycle.next_renewal, leap_cycle.days) == (
        date(2031, 2, 28),
        date(2032, 2, 29),
        366,
    )


def test_a_change_on_the_renewal_day_starts_the_new_cycle_and_is_priced_for_the_days_after_today() -> None:
    result = preview(per_user("7", renewal=date(2026, 12, 1)), 1, 2, date(2026, 12, 1))
    assert (result.cycle.start, result.cycle.next_renewal) == (date(2026, 12, 1), date(2027, 1, 1))
    assert (result.days_left, result.cycle.days) == (30, 31)
    assert result.charge_now == Decimal("6.77")  # 7 x 30/31 = 6.774


def test_a_change_on_the_cycles_last_day_costs_nothing() -> None:
    result = preview(sevenpace(50), 50, 60, date(2026, 12, 31))
    assert (result.days_left, result.charge_now) == (0, Decimal("0.00"))


def test_the_configured_renewal_may_be_past_or_future_and_gives_the_same_cycle() -> None:
    today = date(2026, 11, 15)
    cycles = {
        billing_cycle(date(y, m, 1), Period.MONTH, today) for y, m in [(2020, 3), (2026, 11), (2030, 7)]
    }
    assert {(c.start, c.next_renewal) for c in cycles} == {(date(2026, 11, 1), date(2026, 12, 1))}


def test_a_cycle_anchored_on_the_31st_clamps_to_short_months_without_drifting() -> None:
    anchor = date(2027, 1, 31)
    feb = billing_cycle(anchor, Period.MONTH, date(2027, 2, 15))
    mar = billing_cycle(anchor, Period.MONTH, date(2027, 3, 10))
    apr = billing_cycle(anchor, Period.MONTH, date(2027, 4, 29))
    assert (feb.start, feb.next_renewal, feb.days) == (date(2027, 1, 31), date(2027, 2, 28), 28)
    assert (mar.start, mar.next_renewal, mar.days) == (date(2027, 2, 28), date(2027, 3, 31), 31)
    assert (apr.start, apr.next_renewal, apr.days) == (date(2027, 3, 31), date(2027, 4, 30), 30)


# -- rounding and currencies ---------------------------------------------------------------------------------


def test_money_is_rounded_once_half_up_to_the_cent() -> None:
    # 0.01 x 15/30 = 0.005 exactly: half-up gives 0.01 (half-even would give 0.00)
    assert preview(per_user("0.01"), 0, 1, date(2026, 11, 15)).charge_now == Decimal("0.01")
    # rounding once: 3 x (9.99 x 15/30) = 14.985 -> 14.99; rounding per seat first would give 3 x 5.00 = 15.00
    assert preview(sevenpace(1, price="9.99"), 1, 4, date(2026, 11, 15)).charge_now == Decimal("14.99")


def test_currencies_round_to_their_iso_4217_minor_unit() -> None:
    yen = preview(sevenpace(10, price="1000", currency="JPY"), 10, 11, date(2026, 11, 14))
    assert str(yen.charge_now) == "533"  # 1000 x 16/30 = 533.33
    dinar = preview(sevenpace(10, price="3", currency="KWD"), 10, 11, date(2026, 11, 14))
    assert str(dinar.charge_now) == "1.600"
    euro = preview(sevenpace(10, price="3", currency="EUR"), 10, 11, date(2026, 11, 14))
    assert str(euro.charge_now) == "1.60"


# -- plan boundaries --------------------------------------------------------------------------------


def test_going_above_three_users_on_free_warns_that_the_plan_must_change() -> None:
    result = preview(sevenpace(3, FREE, price="0"), 3, 4, date(2026, 11, 15))
    assert result.warnings == (
        "4 seats after this run would cross plan Free's limit of at most 3 users: change the plan before "
        "applying (the charge shown uses today's price); plans that allow 4: Start, Team",
    )
    assert result.raise_to == 4


def test_going_below_twenty_users_on_ultimate_warns_and_the_credit_stops_at_the_plan_minimum() -> None:
    result = preview(sevenpace(25, ULTIMATE), 22, 15, date(2026, 11, 15))
    assert result.warnings == (
        "15 seats after this run would cross plan Ultimate's minimum of 20 users: assignable users cannot "
        "fall below 20 on this plan; plans that allow 15: Start, Team",
    )
    assert result.lower_to == 20
    assert result.credit_if_lowered == Decimal("22.50")  # 5 (25 -> 20) x $9 x 15/30, not 10


def test_staying_inside_the_plan_range_gives_no_warning() -> None:
    assert preview(sevenpace(3, FREE, price="0"), 2, 3, date(2026, 11, 15)).warnings == ()
    assert preview(sevenpace(25, ULTIMATE), 22, 20, date(2026, 11, 15)).warnings == ()


def test_a_run_that_stays_outside_the_plan_range_says_so_rather_than_would_cross() -> None:
    result = preview(sevenpace(20, ULTIMATE), 18, 17, date(2026, 11, 15))
    assert result.warnings[0].startswith("17 seats after this run stays outside plan Ultimate's minimum")
    assert result.lower_to is None  # already at the floor


def test_per_active_user_has_no_seat_limit_and_no_plan_warnings() -> None:
    result = preview(per_user(), 0, 5000, date(2026, 11, 15))
    assert (result.seat_limit, result.plan, result.warnings) == (None, None, ())


# -- rendering --------------------------------------------------------------------------------


def test_lines_render_the_7pace_block_for_the_plan_table() -> None:
    assert preview(sevenpace(50), 48, 53, date(2026, 11, 15)).lines() == [
        "Seats: 48 held now -> 53 after this run; limit 50 assignable users (plan Team)",
        "Billing: 7pace, USD 9.00 per user per month; cycle 2026-11-01 to 2026-11-30, "
        "15 of 30 days left after today",
        "Assignable users must rise by 3 to 53: USD 13.50 charged today (prorated; the renewal date does "
        "not move)",
        "Next invoice: USD 477.00 per month for 53 users (now USD 450.00 for 50)",
    ]
    assert preview(sevenpace(50), 48, 45, date(2026, 11, 15)).lines()[2:] == [
        "Assignable users could fall by 5 to 45: USD 22.50 credit on the next invoice if lowered today "
        "(credits are never paid out)",
        "Next invoice: USD 405.00 per month for 45 users if lowered (now USD 450.00 for 50)",
    ]


def test_lines_render_the_per_active_user_block_and_warnings_last() -> None:
    assert preview(per_user("1234.5"), 10, 8, date(2026, 11, 15)).lines() == [
        "Seats: 10 held now -> 8 after this run (no seat limit: billed per active user)",
        "Billing: per active user, USD 1,234.50 per user per month; cycle 2026-11-01 to 2026-11-30, "
        "15 of 30 days left after today",
        "2 users removed: still billed this cycle; costs stop from 2026-12-01 (removals are not prorated, "
        "no credit)",
        "Next invoice: USD 9,876.00 per month for 8 users (now USD 12,345.00 for 10)",
    ]
    lines = preview(sevenpace(3, FREE, price="0"), 3, 4, date(2026, 11, 15)).lines()
    assert lines[-1].startswith("Warning: 4 seats after this run would cross plan Free's limit")
    assert all(line.isascii() for line in lines)


def test_as_dict_is_flat_exact_and_json_ready() -> None:
    result = preview(per_user("7"), 1, 2, date(2026, 11, 15))
    assert result.as_dict() == {
        "model": "per-active-user",
        "currency": "USD",
        "price_per_seat": "7",
        "period": "month",
        "today": "2026-11-15",
        "cycle_start": "2026-11-01",
        "cycle_last_day": "2026-11-30",
        "next_renewal": "2026-12-01",
        "days_left": 15,
        "days_in_cycle": 30,
        "seats_before": 1,
        "seats_after": 2,
        "seat_limit": None,
        "plan": None,
        "raise_to": None,
        "charge_now": "3.50",
        "lower_to": None,
        "credit_if_lowered": "0.00",
        "removals_stop_costing": None,
        "period_cost_now": "7.00",
        "period_cost_after": "14.00",
        "warnings": [],
    }
    seven = preview(sevenpace(25, ULTIMATE), 22, 15, date(2026, 11, 15)).as_dict()
    assert json.loads(json.dumps(seven)) == seven
    assert (seven["seat_limit"], seven["plan"], seven["lower_to"], seven["credit_if_lowered"]) == (
        25,
        "Ultimate",
        20,
        "22.50",
    )
    assert len(seven["warnings"]) == 1  # type: ignore[arg-type]


def test_preview_refuses_negative_seat_counts_and_a_7pace_setting_without_assignable() -> None:
    with pytest.raises(ValueError, match=r"seat counts must not be negative \(got -1 -> 2\)"):
        preview(per_user(), -1, 2, date(2026, 11, 15))
    no_count = PricingSettings(PricingModel.SEVENPACE, Decimal(9), Period.MONTH, date(2027, 1, 1), "USD")
    with pytest.raises(ValueError, match=r"needs the assignable-user count \(\[pricing\] assignable\)"):
        preview(no_count, 1, 2, date(2026, 11, 15))
