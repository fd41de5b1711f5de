"""Properties over many dates, prices and counts (hypothesis)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from syncd.pricing import DEFAULT_PLANS, Period, PricingModel, PricingSettings, billing_cycle, preview

TEAM = DEFAULT_PLANS[2]
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
prices = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False, allow_infinity=False)
periods = st.sampled_from(Period)
currencies = st.sampled_from(["USD", "EUR", "JPY", "KWD"])


@given(
    price=prices,
    period=periods,
    renewal=dates,
    today=dates,
    currency=currencies,
    assignable=st.integers(min_value=1, max_value=100_000),
    k=st.integers(min_value=1, max_value=5_000),
)
def test_under_7pace_adding_k_seats_then_removing_them_the_same_day_nets_to_zero(
    price: Decimal, period: Period, renewal: date, today: date, currency: str, assignable: int, k: int
) -> None:
    def settings(count: int) -> PricingSettings:
        return PricingSettings(
            PricingModel.SEVENPACE, price, period, renewal, currency, count, TEAM, DEFAULT_PLANS
        )

    raised = preview(settings(assignable), assignable, assignable + k, today)
    lowered = preview(settings(assignable + k), assignable + k, assignable, today)
    assert raised.raise_to == assignable + k
    assert lowered.lower_to == assignable
    assert raised.charge_now >= 0
    assert lowered.credit_if_lowered - raised.charge_now == 0
    assert raised.net + lowered.net == 0


@given(renewal=dates, today=dates, period=periods)
def test_the_billing_cycle_contains_today_and_has_a_real_length(
    renewal: date, today: date, period: Period
) -> None:
    cycle = billing_cycle(renewal, period, today)
    assert cycle.start <= today < cycle.next_renewal
    lengths = {28, 29, 30, 31} if period is Period.MONTH else {365, 366}
    assert cycle.days in lengths
    assert cycle.start.day == cycle.next_renewal.day or cycle.start.day > 27 or cycle.next_renewal.day > 27
    assert 0 <= cycle.days_left_after(today) < cycle.days


@given(price=prices, renewal=dates, today=dates, before=st.integers(0, 10_000), after=st.integers(0, 10_000))
def test_per_active_user_charges_only_additions_and_never_credits(
    price: Decimal, renewal: date, today: date, before: int, after: int
) -> None:
    settings = PricingSettings(PricingModel.PER_ACTIVE_USER, price, Period.MONTH, renewal, "USD")
    result = preview(settings, before, after, today)
    assert result.credit_if_lowered == 0
    if after <= before:
        assert result.charge_now == 0
    assert (result.removals_stop_costing is not None) == (after < before)
    # never more than a whole period per added seat
    assert result.charge_now <= max(0, after - before) * price
