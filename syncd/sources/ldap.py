"""The Active Directory source (`[[sources]] type = "ldap"`): group membership read over LDAP with ldap3.

Modules: ldap_settings (the table and its validation), ldap_connection (DCs, TLS, bind, error
translation), ldap_membership (the read algorithm), ldap_person (one account → Person).

Behaviour the core relies on:
- `read_group(group)` takes a DN or a sAMAccountName/cn and returns every transitive member (nested
  groups, cycles, primary-group members) with health OK, or MISSING (not found / ambiguous), PARTIAL or
  ERROR with a one-line detail naming the DC and the step. Never a short OK read.
- Disabled accounts, and accounts past `accountExpires`, are returned with `enabled=False` and the reason in
  `Person.inactive`; with `include_disabled = true` they are reported as enabled, so the core needs only one
  rule ("enabled=False is not selected"). A rule group may also be a SID ("S-1-5-21-…", found by objectSid:
  Azure DevOps Server names Windows groups so).
- Members without a usable address are in `GroupRead.unidentified` (disabled ones are only counted in
  `skipped`, with computers, contacts and other non-people).
- Connecting or binding fails the whole source: SourceUnreachable / SourceAuthFailed (exit 5). A
  connection lost part-way through a read is retried once on a fresh connection (the next DC if the
  first is gone); if that fails too, that group is PARTIAL/ERROR and the source stays usable.
- `check()` connects and binds and says how ("ldaps://dc1:636 as svc@corp (LDAPS, certificate
  verified, simple bind)"); `syncd check` then calls `read_group` for each configured group.
"""

from __future__ import annotations

from syncd.config_section import Section
from syncd.models import GroupRead
from syncd.sources.interface import Source, SourceLookup, SourceType
from syncd.sources.ldap_connection import LdapDirectory
from syncd.sources.ldap_membership import MembershipReader, ReadFailed, failed_read
from syncd.sources.ldap_settings import LdapSettings, parse_ldap_settings

__all__ = ["SOURCE_TYPE", "LdapSettings", "LdapSource", "open_ldap_source", "parse"]


class LdapSource:
    """A read-only Active Directory source. Connects lazily, on the first read or `check()`."""

    def __init__(self, settings: LdapSettings, *, range_step: int | None = None) -> None:
        self._settings = settings
        self._directory = LdapDirectory(settings)
        self._reader = (
            MembershipReader(self._directory, settings)
            if range_step is None
            else MembershipReader(self._directory, settings, range_step=range_step)
        )

    @property
    def name(self) -> str:
        return self._settings.name

    @property
    def settings(self) -> LdapSettings:
        return self._settings

    @property
    def url(self) -> str:
        """The DC in use ('' before the first connection)."""
        return self._directory.url

    def check(self) -> str:
        """Connect and bind now (raising SourceUnreachable/SourceAuthFailed); describe the connection."""
        if not self._directory.connected:
            self._directory.connect()
        return self._directory.describe()

    def read_group(self, group: str) -> GroupRead:
        if not self._directory.connected:
            self._directory.connect()
        try:
            return self._reader.read(group)
        except ReadFailed as error:
            if not error.failure.connection_lost:
                return failed_read(self.name, group, error)
            first = error
        lost_at = self._directory.url
        # the connection broke part-way: read the whole group again on a fresh connection (paging cookies
        # belong to the old one), trying every DC in order; one retry, so a flapping DC cannot loop us
        try:
            self._directory.connect()
        except Exception as again:  # noqa: BLE001 - reported in the group's health, the source stays usable
            return failed_read(self.name, group, first, f"reconnecting failed: {again}")
        try:
            return self._reader.read(group)
        except ReadFailed as second:
            return failed_read(self.name, group, second, f"retried after losing {lost_at}")

    def close(self) -> None:
        self._directory.close()


def parse(section: Section, name: str) -> LdapSettings:
    return parse_ldap_settings(section, name)


def open_ldap_source(settings: LdapSettings, lookup: SourceLookup) -> Source:
    return LdapSource(settings)


SOURCE_TYPE = SourceType(parse=parse, open=open_ldap_source)
