"""The people the support-tool stand-ins know, in one shape each stand-in renders as its
vendor does: the development login user (the one ``bridge mint-login-token`` examples use),
present in every tool, and a few others."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    #: the vendor's own id for them
    id: str
    #: the login user id the widgets signed them in with (None: never signed in)
    external_id: str | None
    email: str | None
    given_name: str = ""
    surname: str = ""

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.surname}".strip()


#: the login user of ``bridge mint-login-token --sub ...`` examples (an Xsolla-style UUID)
DEV_LOGIN_USER = "82cd5e0c-c3ff-11e9-b199-c1e5fc81c37f"
DEV_EMAIL = "player@example.com"

PEOPLE: tuple[Person, ...] = (
    Person("1001", DEV_LOGIN_USER, DEV_EMAIL, "Player", "One"),
    Person("1002", "someone-else", "else@example.com", "Someone", "Else"),
    # an email that contains the development user's: a "contains" search finds it too
    Person("1003", None, "other.player@example.com", "Other", "Player"),
)


def by_external_id(people: tuple[Person, ...], external_id: str) -> list[Person]:
    return [p for p in people if p.external_id is not None and p.external_id == external_id]


def by_email(people: tuple[Person, ...], email: str) -> list[Person]:
    wanted = email.casefold()
    return [p for p in people if p.email is not None and p.email.casefold() == wanted]
