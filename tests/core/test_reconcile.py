"""The pure planning rules: precedence, ownership, protection, health holds, grace, seat cap, convergence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.identity import EmailKey
from syncd.models import NONE_ROLE, Ambiguous, GroupRead, Health, LicensedUser, Owned, Person, Policy, Rule
from syncd.reconcile import PlanInputs, UnhealthyGroup, reconcile
from syncd.rules import desired_roles, inactive_members

ORDER = ("Administrator", "Budget", "Product", "Team")
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NO_GRACE = Policy(grace=timedelta(0))


def rank(role: str) -> int:
    return 0 if role == NONE_ROLE else len(ORDER) - ORDER.index(role)


def key(name: str) -> EmailKey:
    return EmailKey(f"{name}@example.com")


def person(name: str, enabled: bool = True) -> Person:
    return Person(key(name), f"{name}@example.com", name.title(), enabled=enabled)


RULES = (
    Rule(0, "corp", "admins", "Administrator"),
    Rule(1, "corp", "users", "Team"),
    Rule(2, "hr", "budget", "Budget"),
)


def reads(**groups: list[Person]) -> dict[tuple[str, str], GroupRead]:
    out = {}
    for rule in RULES:
        members = groups.get(rule.group, [])
        out[(rule.source, rule.group)] = GroupRead(rule.source, rule.group, Health.OK, tuple(members))
    return out


def licensed(**roles: str) -> dict[EmailKey, LicensedUser]:
    return {key(n): LicensedUser(key(n), f"{n}@example.com", r) for n, r in roles.items()}


def plan_for(
    groups: dict[tuple[str, str], GroupRead],
    held_roles: dict[EmailKey, LicensedUser],
    *,
    owned: dict[EmailKey, Owned] | None = None,
    policy: Policy = NO_GRACE,
    absent: dict[EmailKey, datetime] | None = None,
    waiting: dict[EmailKey, datetime] | None = None,
    unhealthy: tuple[UnhealthyGroup, ...] = (),
    target_limit: int | None = None,
    now: datetime = NOW,
):
    return reconcile(
        PlanInputs(
            desired=desired_roles(RULES, groups, rank),
            licensed=held_roles,
            owned=owned or {},
            absent_since=absent or {},
            waiting_since=waiting or {},
            unhealthy=unhealthy,
            policy=policy,
            rank=rank,
            now=now,
            target_seat_limit=target_limit,
        )
    )


def own(*names: str, role: str = "Team") -> dict[EmailKey, Owned]:
    return {key(n): Owned(role, "corp:users→Team", NOW - timedelta(days=3)) for n in names}


def summary(plan) -> list[tuple[str, str, str, str]]:
    return [(c.action.value, c.key.split("@")[0], c.before, c.after) for c in plan.changes]


def test_highest_role_wins_and_reason_names_the_rule() -> None:
    groups = reads(admins=[person("ann")], users=[person("ann"), person("bob")], budget=[person("bob")])
    result = plan_for(groups, {})
    assert summary(result.plan) == [
        ("seat-assign", "ann", "None", "Administrator"),
        ("seat-assign", "bob", "None", "Budget"),
    ]
    ann = result.plan.changes[0]
    assert ann.reason.rule == "rules[0]" and ann.reason.group == "admins" and ann.reason.source == "corp"
    assert "rules[0]" in ann.reason.text


def test_disabled_members_are_not_selected() -> None:
    result = plan_for(reads(users=[person("ann", enabled=False), person("bob")]), {})
    assert summary(result.plan) == [("seat-assign", "bob", "None", "Team")]


def test_an_inactive_members_removal_says_why_and_an_active_selection_wins() -> None:
    expired = replace(person("carl", enabled=False), inactive="account expired 2026-05-28 00:00 UTC")
    groups = reads(
        admins=[person("bob", enabled=False)], users=[expired, person("bob")], budget=[person("dana", False)]
    )
    desired = desired_roles(RULES, groups, rank)
    inactive = inactive_members(RULES, groups, desired)
    # bob is disabled in admins but active in users: selected, so not "inactive"
    assert inactive == {
        key("carl"): "account expired 2026-05-28 00:00 UTC, member of 'users' (corp)",
        key("dana"): "account disabled, member of 'budget' (hr)",
    }
    result = reconcile(
        PlanInputs(
            desired=desired,
            licensed=licensed(carl="Team"),
            owned=own("carl"),
            absent_since={},
            waiting_since={},
            unhealthy=(),
            policy=replace(NO_GRACE, grace=timedelta(hours=24)),
            rank=rank,
            now=NOW,
            inactive=inactive,
        )
    )
    # dana gets no new seat; carl's existing one waits for grace
    assert summary(result.plan) == [("seat-assign", "bob", "None", "Team")]
    [held] = result.plan.held
    assert (held.cause, held.change.action.value) == ("grace", "seat-unassign")
    assert held.change.reason.text.startswith(
        "account expired 2026-05-28 00:00 UTC, member of 'users' (corp); no rule selects them any more"
    )


def test_upgrade_is_a_role_change() -> None:
    result = plan_for(reads(admins=[person("ann")]), licensed(ann="Team"), owned=own("ann"))
    assert summary(result.plan) == [("role-change", "ann", "Team", "Administrator")]


def test_unmanaged_keep_leaves_seats_syncd_did_not_assign() -> None:
    result = plan_for(reads(users=[person("bob")]), licensed(bob="Team", carl="Team", dana="Administrator"))
    assert summary(result.plan) == []
    assert result.plan.notes and "2 seat(s) assigned outside syncd" in result.plan.notes[0]


def test_unmanaged_remove_removes_unselected_seats() -> None:
    policy = replace(NO_GRACE, unmanaged="remove")
    result = plan_for(reads(users=[person("bob")]), licensed(bob="Team", carl="Team"), policy=policy)
    assert summary(result.plan) == [("seat-unassign", "carl", "Team", "None")]


def test_owned_seat_is_removed_when_its_person_leaves() -> None:
    result = plan_for(reads(users=[person("bob")]), licensed(bob="Team", carl="Team"), owned=own("carl"))
    assert summary(result.plan) == [("seat-unassign", "carl", "Team", "None")]
    assert "no rule selects them" in result.plan.changes[0].reason.text


def test_owned_downgrade_and_unowned_higher_role_kept() -> None:
    groups = reads(users=[person("ann"), person("bob")])
    held = licensed(ann="Administrator", bob="Administrator")
    result = plan_for(groups, held, owned=own("ann", role="Administrator"))
    assert summary(result.plan) == [("role-change", "ann", "Administrator", "Team")]


def test_protected_person_is_never_removed_or_downgraded() -> None:
    policy = replace(NO_GRACE, unmanaged="remove", protected=frozenset({key("boss")}))
    groups = reads(users=[person("ann")])
    result = plan_for(groups, licensed(boss="Administrator", ann="Team"), policy=policy)
    assert summary(result.plan) == []
    assert [c.key for c in result.plan.protected] == [key("boss")]


def test_unhealthy_higher_group_holds_removals_and_downgrades_only() -> None:
    groups = reads(users=[person("bob"), person("new")])
    held = licensed(bob="Team", carl="Team", dana="Administrator")
    sick = (UnhealthyGroup("corp", "admins", Health.MISSING, rank("Administrator"), "not found"),)
    result = plan_for(groups, held, owned=own("carl") | own("dana", role="Administrator"), unhealthy=sick)
    # the assignment proceeds; carl's removal and dana's downgrade depend on the missing admins group
    assert summary(result.plan) == [("seat-assign", "new", "None", "Team")]
    assert sorted(h.change.key for h in result.plan.held) == [key("carl"), key("dana")]
    assert all(h.cause == "missing" and "'admins' of corp is missing" in h.why for h in result.plan.held)


def test_unhealthy_lower_group_does_not_hold_a_downgrade_to_its_level() -> None:
    groups = reads(users=[person("dana")])
    sick = (UnhealthyGroup("hr", "budget", Health.ERROR, rank("Budget"), "unreachable"),)
    result = plan_for(
        groups, licensed(dana="Administrator"), owned=own("dana", role="Administrator"), unhealthy=sick
    )
    # budget outranks Team: dana might be in it, so the downgrade to Team is held
    assert summary(result.plan) == []
    assert [h.change.after for h in result.plan.held] == ["Team"]
    sick_low = (UnhealthyGroup("x", "y", Health.ERROR, rank("Team"), ""),)
    result = plan_for(
        reads(admins=[], users=[person("dana")]),
        licensed(dana="Budget"),
        owned=own("dana", role="Budget"),
        unhealthy=sick_low,
    )
    assert summary(result.plan) == [("role-change", "dana", "Budget", "Team")]


def test_grace_holds_then_releases_and_return_cancels() -> None:
    policy = Policy(grace=timedelta(hours=24))
    first = plan_for(reads(users=[]), licensed(carl="Team"), owned=own("carl"), policy=policy)
    assert summary(first.plan) == []
    (held,) = first.plan.held
    assert held.cause == "grace" and held.due == NOW + timedelta(hours=24)
    assert first.absent_since == {key("carl"): NOW}

    later = NOW + timedelta(hours=23)
    second = plan_for(
        reads(users=[]),
        licensed(carl="Team"),
        owned=own("carl"),
        policy=policy,
        absent=first.absent_since,
        now=later,
    )
    assert summary(second.plan) == [] and second.absent_since == {key("carl"): NOW}

    due = NOW + timedelta(hours=24)
    third = plan_for(
        reads(users=[]),
        licensed(carl="Team"),
        owned=own("carl"),
        policy=policy,
        absent=first.absent_since,
        now=due,
    )
    assert summary(third.plan) == [("seat-unassign", "carl", "Team", "None")]

    back = plan_for(
        reads(users=[person("carl")]),
        licensed(carl="Team"),
        owned=own("carl"),
        policy=policy,
        absent=first.absent_since,
        now=later,
    )
    assert summary(back.plan) == [] and back.absent_since == {} and back.plan.held == ()


def test_seat_cap_frees_first_then_assigns_by_priority() -> None:
    policy = replace(NO_GRACE, seat_limit=3)
    groups = reads(admins=[person("zed")], users=[person("amy"), person("bea"), person("cat")])
    held = licensed(old="Team", amy="Team")
    waiting = {key("cat"): NOW - timedelta(days=2)}
    result = plan_for(groups, held, owned=own("old"), policy=policy, waiting=waiting)
    # old leaves (1 seat freed): 3 - (2 - 1) = 2 free; zed (Administrator) first, then cat (waited longest)
    assert summary(result.plan) == [
        ("seat-unassign", "old", "Team", "None"),
        ("seat-assign", "cat", "None", "Team"),
        ("seat-assign", "zed", "None", "Administrator"),
    ]
    assert [c.key for c in result.plan.blocked] == [key("bea")]
    assert result.waiting_since == {key("bea"): NOW}
    assert result.plan.seats_after == 3


def test_target_reported_cap_applies_too() -> None:
    result = plan_for(reads(users=[person("a"), person("b")]), {}, target_limit=1)
    assert len(result.plan.changes) == 1 and len(result.plan.blocked) == 1 and result.plan.seat_limit == 1


def test_adoption_and_disowning() -> None:
    result = plan_for(reads(users=[person("bob")]), licensed(bob="Team"), owned=own("gone"))
    assert set(result.adopt) == {key("bob")} and result.adopt[key("bob")].rule == RULES[1].identity
    assert result.disown == frozenset({key("gone")})
    no_adopt = plan_for(
        reads(users=[person("bob")]), licensed(bob="Team"), policy=replace(NO_GRACE, adopt=False)
    )
    assert no_adopt.adopt == {}


# -- properties ---------------------------------------------------------------------------------------
names = st.sampled_from(["ann", "bob", "carl", "dana", "eve", "fay", "gus"])
roles = st.sampled_from((*ORDER, NONE_ROLE))


@st.composite
def worlds(draw):
    groups = {
        rule.group: [person(n, enabled=draw(st.booleans()) or True) for n in draw(st.sets(names, max_size=5))]
        for rule in RULES
    }
    held = {n: r for n, r in draw(st.dictionaries(names, roles, max_size=6)).items() if r != NONE_ROLE}
    owned_names = draw(st.sets(names, max_size=4))
    unmanaged = draw(st.sampled_from(["keep", "remove"]))
    protected = draw(st.sets(names, max_size=2))
    return groups, held, owned_names, unmanaged, protected


def apply_changes(held: dict[EmailKey, LicensedUser], plan) -> dict[EmailKey, LicensedUser]:
    after = dict(held)
    for c in plan.changes:
        if c.after == NONE_ROLE:
            after.pop(c.key, None)
        else:
            after[c.key] = LicensedUser(c.key, c.email, c.after)
    return after


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_applying_a_plan_then_planning_again_is_empty(world) -> None:
    groups, held_roles, owned_names, unmanaged, protected = world
    policy = replace(NO_GRACE, unmanaged=unmanaged, protected=frozenset(key(n) for n in protected))
    g = reads(**groups)
    held = licensed(**held_roles)
    owned = {key(n): Owned(held_roles.get(n, "Team"), "x", NOW) for n in owned_names}
    first = plan_for(g, held, owned=owned, policy=policy)
    after = apply_changes(held, first.plan)
    owned_after = {k: v for k, v in owned.items() if k not in first.disown} | first.adopt
    for c in first.plan.changes:
        if c.after == NONE_ROLE:
            owned_after.pop(c.key, None)
        else:
            owned_after[c.key] = Owned(c.after, "x", NOW)
    second = plan_for(g, after, owned=owned_after, policy=policy)
    assert second.plan.changes == ()
    # deterministic: same inputs, same plan
    assert plan_for(g, held, owned=owned, policy=policy).plan == first.plan


@settings(max_examples=300, deadline=None)
@given(
    worlds(), st.lists(st.dictionaries(st.sampled_from([r.group for r in RULES]), st.sets(names)), max_size=4)
)
def test_never_touches_protected_or_unowned_seats_under_keep(world, history) -> None:
    groups, held_roles, owned_names, _, protected = world
    policy = replace(NO_GRACE, unmanaged="keep", protected=frozenset(key(n) for n in protected))
    held = licensed(**held_roles)
    owned = {key(n): Owned(held_roles.get(n, "Team"), "x", NOW) for n in owned_names}
    for step in [groups, *({g: [person(n) for n in m] for g, m in h.items()} for h in history)]:
        result = plan_for(reads(**step), held, owned=owned, policy=policy)
        for c in result.plan.changes:
            if rank(c.after) < rank(c.before):
                assert c.key not in policy.protected
                assert c.key in owned
        held = apply_changes(held, result.plan)
        owned = {k: v for k, v in owned.items() if k not in result.disown} | result.adopt
        for c in result.plan.changes:
            if c.after == NONE_ROLE:
                owned.pop(c.key, None)
            else:
                owned[c.key] = Owned(c.after, "x", NOW)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(names, st.sets(st.sampled_from([r.group for r in RULES]), min_size=1), min_size=1))
def test_precedence_always_picks_the_highest_role(memberships) -> None:
    groups: dict[str, list[Person]] = {}
    for name, member_of in memberships.items():
        for group in member_of:
            groups.setdefault(group, []).append(person(name))
    desired = desired_roles(RULES, reads(**groups), rank)
    for name, member_of in memberships.items():
        best = max((r.role for r in RULES if r.group in member_of), key=rank)
        assert desired[key(name)].role == best


# -- what the plan leaves alone (issue 14) -------------------------------------------------------------------
def inputs_with(**extra: object) -> PlanInputs:
    groups = reads(users=[person("ann"), person("bob")], admins=[person("cy")])
    base = PlanInputs(
        desired=desired_roles(RULES, groups, rank),
        licensed=licensed(cy="Default", dee="Team"),
        owned={},
        absent_since={},
        waiting_since={},
        unhealthy=(),
        policy=replace(NO_GRACE, unmanaged="remove"),
        rank=rank,
        now=NOW,
        known_roles=frozenset(ORDER),
    )
    return replace(base, **extra)  # type: ignore[arg-type]


def test_unknown_roles_are_left_alone_and_listed_not_ranked() -> None:
    plan = reconcile(inputs_with()).plan
    assert summary(plan) == [
        ("seat-unassign", "dee", "Team", "None"),
        ("seat-assign", "ann", "None", "Team"),
        ("seat-assign", "bob", "None", "Team"),
    ]
    assert [(e.key, e.kind, e.role, e.wanted) for e in plan.left_alone] == [
        (key("cy"), "unknown-role", "Default", "Administrator")
    ]


def test_assignments_wait_while_a_seat_without_e_mail_could_be_theirs() -> None:
    plan = reconcile(inputs_with(unmatched=("CORP\\ann (Team)",), extra_seats=1)).plan
    assert summary(plan) == [("seat-unassign", "dee", "Team", "None")]
    assert {(e.key, e.kind) for e in plan.left_alone} >= {(key("ann"), "unproven"), (key("bob"), "unproven")}
    assert plan.seats_before == 3  # cy, dee and the unmatched row
    assert plan.unmatched == ("CORP\\ann (Team)",)


def test_the_organization_gives_ids_and_spelling_and_refuses_strangers() -> None:
    from syncd.target_read import Organization

    members = {key("ann"): LicensedUser(key("ann"), "Ann@Example.com", NONE_ROLE, "id-ann")}
    plan = reconcile(inputs_with(organization=Organization(members))).plan
    assigned = [c for c in plan.changes if c.action.value == "seat-assign"]
    assert [(c.email, c.target_id) for c in assigned] == [("Ann@Example.com", "id-ann")]
    assert [(e.key, e.kind) for e in plan.left_alone if e.kind != "unknown-role"] == [
        (key("bob"), "not-in-organization")
    ]


def test_ambiguous_people_get_nothing_sent_and_are_named() -> None:
    # issue 14 × 16: one e-mail on two 7pace users is an `Ambiguous` entry (the plan's one kind of ambiguity,
    # also what matching reports), no longer a LeftAlone of kind "ambiguous"
    held_twice = Ambiguous(
        ("ann@example.com (Ann)",),
        ("ann@example.com (id id-1)", "ann@example.com (id id-2)"),
        2,
        "7pace holds this e-mail on several users (id-1: Team, id-2: Team); nothing is sent until one remains",
        (key("ann"),),
    )
    plan = reconcile(inputs_with(ambiguous=(held_twice,), extra_seats=2)).plan
    assert key("ann") not in {c.key for c in plan.changes}
    assert plan.ambiguous == (held_twice,)
    assert key("ann") not in {e.key for e in plan.left_alone}
    assert plan.seats_before == 4
