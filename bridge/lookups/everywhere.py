"""One login user in every support tool at once.

:meth:`SupportTools.ask` runs every asked lookup concurrently. Lookups keyed by external id
start at once with the login user's id; lookups keyed by email start at once with the given
email, or else with the first email a record found by an external-id lookup carries (that
member's name is ``email_from``); with no email at all they are ``skipped`` (``no_email``).
Lookups that cannot be asked by login user at all (Zendesk Chat finds visitors by visitor id
only) are ``skipped`` (``not_searchable``) and ask nothing. Each lookup has
its own deadline (its client's), and the whole answer is given within the largest deadline of
the asked lookups: a member still running then is a ``vendor_timeout`` error, and a vendor's
failure is that member's ``error`` (with the code the lookup alone would have answered), never
the answer's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.errors import InvalidIdentifier, VendorError, VendorTimeout
from bridge.lookups.base import Records, ToolLookup
from bridge.metrics import Metrics
from bridge.zendesk.users import validate_login_user_id

#: an email as the lookups take it: no spaces, quotes or parentheses (it goes into queries)
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
EMAIL_MAX = 254


def validate_email(email: str) -> str:
    if len(email) > EMAIL_MAX or not EMAIL.fullmatch(email):
        raise InvalidIdentifier("Malformed email", reason="invalid_email")
    return email


@dataclass(frozen=True)
class Member:
    """One lookup's part of the answer."""

    lookup: ToolLookup
    status: str
    records: Records = ()
    source: str | None = None
    code: str | None = None
    email_from: str | None = None
    #: why a ``skipped`` member was not asked: ``no_email`` or ``not_searchable``
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.lookup.type,
            "status": self.status,
            "matched_by": self.lookup.matched_by,
            "records": [record.as_json() for record in self.records],
            "source": self.source,
        }
        if self.reason is not None:
            body["reason"] = self.reason
        if self.code is not None:
            body["code"] = self.code
        if self.email_from is not None:
            body["email_from"] = self.email_from
        return body


@dataclass(frozen=True)
class Answer:
    login_user_id: str
    email: str | None
    members: Sequence[Member]

    @property
    def found(self) -> list[str]:
        return [m.lookup.name for m in self.members if m.status == "found"]

    @property
    def sources(self) -> set[str]:
        return {m.source for m in self.members if m.source is not None}

    def as_json(self) -> dict[str, Any]:
        return {
            "login_user_id": self.login_user_id,
            "email": self.email,
            "lookups": {m.lookup.name: m.as_json() for m in self.members},
        }


class SupportTools:
    """Every configured lookup, by name, in the configured order."""

    def __init__(
        self, lookups: Mapping[str, ToolLookup], *, metrics: Metrics | None = None
    ) -> None:
        self.lookups = dict(lookups)
        self._metrics = metrics

    def __contains__(self, name: str) -> bool:
        return name in self.lookups

    async def close(self) -> None:
        for lookup in self.lookups.values():
            await lookup.close()

    async def ask(
        self, login_user_id: str, email: str | None, names: Sequence[str] | None = None
    ) -> Answer:
        """Ask ``names`` (default: all), validated first: nothing is asked for a malformed id."""
        login_user_id = validate_login_user_id(login_user_id)
        if email is not None:
            email = validate_email(email)
        asked = [self.lookups[n] for n in (self.lookups if names is None else names)]
        if not asked:
            return Answer(login_user_id, email, [])
        started = time.monotonic()
        give_up = started + max(lookup.deadline for lookup in asked)
        by_id = [lookup for lookup in asked if lookup.keyed_by == "external_id"]
        by_email = [lookup for lookup in asked if lookup.keyed_by == "email"]
        results: dict[str, Member] = {
            lookup.name: self._counted(Member(lookup, "skipped", reason="not_searchable"), 0.0)
            for lookup in asked
            if lookup.keyed_by not in ("external_id", "email")
        }
        running = {asyncio.ensure_future(self._one(lu, login_user_id)): lu for lu in by_id}
        email_from: str | None = None
        if email is not None and by_email:
            running.update({asyncio.ensure_future(self._one(lu, email)): lu for lu in by_email})
            by_email = []
        try:
            while running:
                remaining = give_up - time.monotonic()
                if remaining <= 0:
                    break
                done, _ = await asyncio.wait(
                    running, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    break
                for task in done:
                    member = task.result()
                    del running[task]
                    results[member.lookup.name] = member
                    if email is None and by_email:
                        found = next((r.email for r in member.records if r.email), None)
                        if found is not None and EMAIL.fullmatch(found):
                            email, email_from = found, member.lookup.name
                            running.update(
                                {asyncio.ensure_future(self._one(lu, email)): lu for lu in by_email}
                            )
                            by_email = []
        finally:
            for task, lookup in running.items():
                task.cancel()  # the call itself goes on in its flight, for the next asker
                results[lookup.name] = self._counted(
                    Member(lookup, "error", source="vendor", code=VendorTimeout.code),
                    time.monotonic() - started,
                )
        for lookup in by_email:
            results[lookup.name] = self._counted(Member(lookup, "skipped", reason="no_email"), 0.0)
        if email_from is not None:
            # the first lookup, in the configured order, that found the email used (the same
            # answer whichever of them happened to answer first)
            email_from = next(
                m.lookup.name
                for lu in by_id
                if (m := results[lu.name]).records and any(r.email == email for r in m.records)
            )
        members = []
        for lookup in asked:
            member = results[lookup.name]
            if lookup.keyed_by == "email" and email_from is not None and member.status != "skipped":
                member = dataclasses.replace(member, email_from=email_from)
            members.append(member)
        return Answer(login_user_id, email, members)

    async def _one(self, lookup: ToolLookup, key: str) -> Member:
        started = time.monotonic()
        try:
            found = await lookup.get(key)
        except VendorError as exc:
            member = Member(lookup, "error", source="vendor", code=exc.code)
        else:
            source = "cache" if found.source == "cache" else "vendor"
            records = found.value or ()
            member = Member(lookup, "found" if records else "not_found", records, source)
        return self._counted(member, time.monotonic() - started)

    def _counted(self, member: Member, seconds: float) -> Member:
        if self._metrics is not None:
            outcome = member.code or member.status
            self._metrics.lookup_answered(member.lookup.name, member.lookup.type, outcome, seconds)
        return member
