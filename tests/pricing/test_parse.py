"""[pricing] parsing: good tables become settings; every bad key is one line naming file and key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from syncd.pricing import DEFAULT_PLANS, Period, Plan, PricingModel, PricingSettings

ParsePricing = Callable[[str], tuple[PricingSettings | None, list[str]]]  # the `parse` fixture (conftest.py)

SEVENPACE = """
[pricing]
model = "7pace"
price_per_seat = 9.99
period = "month"
renewal = 2027-01-01
currency = "USD"
assignable = 50
plan = "Team"
"""


def test_a_7pace_table_parses_to_exact_settings(parse: ParsePricing) -> None:
    settings, problems = parse(SEVENPACE)
    assert problems == []
    assert settings == PricingSettings(
        model=PricingModel.SEVENPACE,
        price_per_seat=Decimal("9.99"),  # the TOML float's shortest repr, not 9.9900000000000002131...
        period=Period.MONTH,
        renewal=date(2027, 1, 1),
        currency="USD",
        assignable=50,
        plan=Plan("Team", 1, None),
        plans=DEFAULT_PLANS,
    )


def test_a_per_active_user_table_needs_no_plan_and_takes_strings_for_dates_and_prices(
    parse: ParsePricing,
) -> None:
    settings, problems = parse(
        '[pricing]\nmodel = "per-active-user"\nprice_per_seat = "60.00"\nperiod = "year"\n'
        'renewal = "2027-03-31"\ncurrency = "eur"\n'
    )
    assert problems == []
    assert settings == PricingSettings(
        PricingModel.PER_ACTIVE_USER, Decimal("60.00"), Period.YEAR, date(2027, 3, 31), "EUR"
    )


def test_no_pricing_table_or_an_empty_one_means_no_preview(parse: ParsePricing) -> None:
    assert parse('[policy]\ngrace = "24h"\n') == (None, [])
    assert parse("[pricing]\n") == (None, [])


def test_plan_names_match_case_insensitively_and_the_plan_table_can_be_overridden(
    parse: ParsePricing,
) -> None:
    settings, problems = parse(
        SEVENPACE.replace('plan = "Team"', 'plan = "team"')
        + "[pricing.plans.Team]\nmax_users = 60\n[pricing.plans.ultimate]\nmin_users = 25\n"
        + "[pricing.plans.Enterprise]\nmin_users = 500\n"
    )
    assert problems == []
    assert settings is not None
    assert settings.plan == Plan("Team", 1, 60)
    assert settings.plans == (
        Plan("Free", 1, 3),
        Plan("Start", 1, None),
        Plan("Team", 1, 60),
        Plan("Ultimate", 25, None),
        Plan("Enterprise", 500, None),
    )


def test_every_bad_key_is_reported_on_one_line_naming_the_key(parse: ParsePricing) -> None:
    settings, problems = parse(
        '[pricing]\nmodel = "per-active-users"\nprice_per_seat = -1\nperiod = "monthly"\n'
        'renewal = "2027-13-01"\ncurrency = "US Dollar"\nprice_per_set = 3\n'
    )
    assert settings is None
    assert problems == [
        "syncd.toml: pricing.model: 'per-active-users' is not one of: 7pace, per-active-user "
        "(did you mean 'per-active-user'?)",
        "syncd.toml: pricing.price_per_seat: -1 is out of range: must be at least 0",
        "syncd.toml: pricing.period: 'monthly' is not one of: month, year (did you mean 'month'?)",
        "syncd.toml: pricing.renewal: expected a date such as 2027-01-01, got a string '2027-13-01'",
        "syncd.toml: pricing.currency: 'US Dollar' is not an ISO 4217 currency code; use three letters such "
        "as USD",
        "syncd.toml: pricing.price_per_set: unknown key; did you mean 'price_per_seat'? (allowed here: "
        "assignable, currency, model, period, plan, price_per_seat, renewal)",
    ]


def test_missing_keys_are_required_and_named(parse: ParsePricing) -> None:
    settings, problems = parse('[pricing]\nmodel = "7pace"\n')
    assert settings is None
    assert problems == [
        'syncd.toml: pricing.price_per_seat: required (a number such as 9.99, or a string such as "9.99")',
        "syncd.toml: pricing.period: required (a string)",
        "syncd.toml: pricing.renewal: required (a date such as 2027-01-01)",
        "syncd.toml: pricing.currency: required (an ISO 4217 currency code such as USD or EUR)",
        "syncd.toml: pricing.plan: required (a plan name: Free, Start, Team, Ultimate)",
        "syncd.toml: pricing.assignable: required (an integer)",
    ]


def test_a_price_that_is_not_a_number_and_a_renewal_with_a_time_are_refused(parse: ParsePricing) -> None:
    _, problems = parse(
        SEVENPACE.replace("price_per_seat = 9.99", 'price_per_seat = "nine"').replace(
            "renewal = 2027-01-01", "renewal = 2027-01-01T00:00:00"
        )
    )
    assert problems == [
        "syncd.toml: pricing.price_per_seat: 'nine' is not a number such as 9.99, or a string such as "
        '"9.99"',
        "syncd.toml: pricing.renewal: expected a date such as 2027-01-01, got a date-time "
        "'2027-01-01T00:00:00'",
    ]


def test_an_unknown_plan_gets_a_did_you_mean(parse: ParsePricing) -> None:
    _, problems = parse(SEVENPACE.replace('plan = "Team"', 'plan = "Teams"'))
    assert problems == [
        "syncd.toml: pricing.plan: 'Teams' is not one of: Free, Start, Team, Ultimate (did you mean 'Team'?)"
    ]


def test_an_assignable_count_outside_the_plans_range_is_refused(parse: ParsePricing) -> None:
    _, free = parse(SEVENPACE.replace('plan = "Team"', 'plan = "Free"'))
    assert free == [
        "syncd.toml: pricing.assignable: 50 is outside plan Free's range (1-3 users); change the plan or the "
        "number"
    ]
    _, ultimate = parse(SEVENPACE.replace('plan = "Team"', 'plan = "Ultimate"').replace("= 50", "= 12"))
    assert ultimate == [
        "syncd.toml: pricing.assignable: 12 is outside plan Ultimate's range (at least 20 users); change the "
        "plan or the number"
    ]


def test_bad_plan_overrides_name_their_table_key(parse: ParsePricing) -> None:
    _, problems = parse(
        SEVENPACE
        + "[pricing.plans.Start]\nmin_users = 10\nmax_users = 5\n[pricing.plans.Team]\nmax_user = 9\n"
    )
    assert problems == [
        "syncd.toml: pricing.plans.Start.max_users: 5 is less than min_users (10)",
        "syncd.toml: pricing.plans.Team.max_user: unknown key; did you mean 'max_users'? (allowed here: "
        "max_users, min_users)",
    ]


def test_7pace_keys_under_per_active_user_are_refused_with_the_reason(parse: ParsePricing) -> None:
    _, problems = parse(
        SEVENPACE.replace('model = "7pace"', 'model = "per-active-user"')
        + "[pricing.plans.Team]\nmax_users = 9\n"
    )
    assert problems == [
        'syncd.toml: pricing.assignable: only used with model = "7pace" (this table has model = '
        '"per-active-user")',
        'syncd.toml: pricing.plan: only used with model = "7pace" (this table has model = "per-active-user")',
        'syncd.toml: pricing.plans: only used with model = "7pace" (this table has model = '
        '"per-active-user")',
    ]


def test_a_wrong_model_does_not_also_call_the_7pace_keys_unknown(parse: ParsePricing) -> None:
    _, problems = parse(SEVENPACE.replace('model = "7pace"', 'model = "7-pace"'))
    assert problems == [
        "syncd.toml: pricing.model: '7-pace' is not one of: 7pace, per-active-user (did you mean '7pace'?)"
    ]
