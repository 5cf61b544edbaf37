"""Staff accounts and reports for the trust and safety tests."""

from __future__ import annotations

from chalicelib.admin import set_staff
from chalicelib.models.users import UserModel
from chalicelib.wiring import services
from tests.api.rooms_support import Person, make_person
from tests.support import Api


def make_staff(api: Api, handle: str = "warden") -> Person:
    """An account made staff the only way there is: the admin command."""
    person = make_person(api, handle)
    set_staff(handle, True, "tests", clock=services().clock)  # the test clock: the audit log sorts by it
    assert UserModel.get(person.id).staff is True
    return person


def report(api: Api, reporter: Person, target: dict, reason: str = "spam", **extra: object):
    return api.post("/v1/reports", {"target": target, "reason": reason, **extra}, token=reporter.token)
