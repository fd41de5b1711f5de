"""The `[pricing]` table read into `PricingSettings` (the TOML side of syncd.pricing, which stays pure)."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from syncd.config_section import Section
from syncd.pricing import DEFAULT_PLANS, Period, Plan, PricingModel, PricingSettings

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_SEVENPACE_ONLY: Final = ("assignable", "plan", "plans")


def parse_pricing(section: Section) -> PricingSettings | None:
    """Read the `[pricing]` table. Returns None when the table is absent or empty, or when it has problems
    (appended to `section.problems`, one line each, naming the key). Always calls section.finish()."""
    if not section.written_keys():
        section.finish()
        return None
    problems_before = len(section.problems)

    model_text = section.str("model", choices=[m.value for m in PricingModel])
    price = section.decimal("price_per_seat", minimum=Decimal(0))
    period_text = section.str("period", choices=[p.value for p in Period])
    renewal = _read_date(section, "renewal")
    currency = _read_currency(section)

    model = PricingModel(model_text) if model_text else None
    assignable: int | None = None
    plan: Plan | None = None
    plans = DEFAULT_PLANS
    if model is PricingModel.SEVENPACE:
        plans = _read_plans(section.section("plans"))
        plan = _read_plan_name(section, plans)
        assignable = section.int("assignable", minimum=0)
        if plan is not None and section.has("assignable") and not plan.allows(assignable):
            section.error(
                "assignable",
                f"{assignable} is outside plan {plan.name}'s range ({plan.describe_range()}); "
                "change the plan or the number",
            )
    else:
        # per-active-user, or a model already reported as missing/wrong: still read the 7pace keys so finish()
        # does not also call them unknown, and say plainly that they do not apply to this model
        if section.has("plans"):
            _read_plans(section.section("plans"))
        section.optional_str("plan")
        section.optional_int("assignable", minimum=0)
        if model is PricingModel.PER_ACTIVE_USER:
            for key in _SEVENPACE_ONLY:
                if section.has(key):
                    section.error(
                        key, f'only used with model = "7pace" (this table has model = "{model.value}")'
                    )

    section.finish()
    if len(section.problems) > problems_before:
        return None
    # Every required reader succeeded when no problem was added, so these hold; the asserts document it.
    assert model is not None and price is not None and renewal is not None
    return PricingSettings(
        model=model,
        price_per_seat=price,
        period=Period(period_text),
        renewal=renewal,
        currency=currency,
        assignable=assignable,
        plan=plan,
        plans=plans,
    )


def billed_as(target_kind: str) -> PricingModel | None:
    """How the vendor of a target type bills (its `TargetType.pricing_model`)."""
    from syncd.targets import target_type

    return target_type(target_kind).pricing_model


def target_pricing(
    own: PricingSettings | None, top: PricingSettings | None, target_kind: str
) -> PricingSettings | None:
    """A target's pricing: its own `[targets.pricing]`, else the top-level `[pricing]` when that is the model
    its vendor bills by, else none. A 7pace table on a TrackingTime target would preview assignable users,
    plans and credits TrackingTime does not have: no cost block is better than another vendor's."""
    if own is not None:
        return own
    if top is not None and top.model is billed_as(target_kind):
        return top
    return None


def wrong_vendor(pricing: PricingSettings, target_kind: str) -> str | None:
    """Why `pricing` cannot price a target of this type (None: it can)."""
    model = billed_as(target_kind)
    if pricing.model is model:
        return None
    fits = f'is billed as model = "{model.value}"' if model is not None else "has no pricing model"
    return f'model = "{pricing.model.value}" is another vendor\'s billing; a {target_kind} target {fits}'


def unfit_note(pricing: PricingSettings, target_kinds: list[str]) -> str | None:
    """One line when the top-level `[pricing]` names a model none of the config's targets is billed by (it
    then prices nothing); None when it fits one of them."""
    if any(pricing.model is billed_as(kind) for kind in target_kinds):
        return None
    billed = ", ".join(
        f'{kind} "{model.value}"' if (model := billed_as(kind)) else f"{kind} none"
        for kind in dict.fromkeys(target_kinds)
    )
    return (
        f'pricing.model: "{pricing.model.value}" fits none of the targets (billed as: {billed}), so no cost '
        "preview is shown; write the model of the target's type"
    )


def _read_date(section: Section, key: str) -> date | None:
    value = section.date(key)
    if isinstance(value, datetime):  # a TOML date-time is a datetime, which is also a date: refuse it
        section.error(key, f"expected a date such as 2027-01-01, got a date-time {value.isoformat()!r}")
        return None
    return value


def _read_currency(section: Section) -> str:
    text = section.str("currency", expected="an ISO 4217 currency code such as USD or EUR")
    code = text.strip().upper()
    if text and not _CURRENCY.match(code):
        section.error("currency", f"{text!r} is not an ISO 4217 currency code; use three letters such as USD")
        return ""
    return code


def _read_plans(section: Section) -> tuple[Plan, ...]:
    """Merge `[pricing.plans.<Name>]` tables over the defaults; a name matching a default (case-insensitively)
    overrides just the keys it gives, any other name adds a plan."""
    plans = {plan.name.casefold(): plan for plan in DEFAULT_PLANS}
    for name in section.written_keys():
        table = section.section(name)
        if not name.strip():
            section.error(name, "a plan needs a name")
            continue
        base = plans.get(name.casefold(), Plan(name))
        min_users = table.optional_int("min_users", minimum=0)
        max_users = table.optional_int("max_users", minimum=1)
        table.finish()
        low = base.min_users if min_users is None else min_users
        high = base.max_users if max_users is None else max_users
        if high is not None and low > high:
            table.error("max_users", f"{high} is less than min_users ({low})")
            continue
        plans[name.casefold()] = Plan(base.name, low, high)
    return tuple(plans.values())


def _read_plan_name(section: Section, plans: tuple[Plan, ...]) -> Plan | None:
    by_folded = {plan.name.casefold(): plan for plan in plans}
    names = [plan.name for plan in plans]
    text = section.str("plan", expected=f"a plan name: {', '.join(names)}")
    if not text:
        return None
    plan = by_folded.get(text.strip().casefold())
    if plan is None:
        # re-read with the exact choices so the message has the standard "is not one of … did you mean" form
        section.str("plan", choices=names)
    return plan
