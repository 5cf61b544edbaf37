"""The permission rules as a table: who (rank, host powers) may do what to whom. Pure
rules, so every row runs without a database."""

from __future__ import annotations

import pytest

from chalicelib.errors import DomainError
from chalicelib.services.permissions import Actor, Target, check_mute, check_remove, check_set_role, require_host_powers

HOST = Actor("creator", "host", host_powers=True)
ACTING_HOST = Actor("cohost-a", "cohost", host_powers=True)  # the first co-host while the creator is away
COHOST = Actor("cohost-b", "cohost", host_powers=False)
SPEAKER = Actor("speaker", "speaker", host_powers=False)
LISTENER = Actor("listener", "listener", host_powers=False)
ABSENT = Actor("outsider", None, host_powers=False)

CREATOR = Target("creator", "host", is_creator=True)
OTHER_COHOST = Target("cohost-c", "cohost", is_creator=False)
A_SPEAKER = Target("speaker-2", "speaker", is_creator=False)
A_LISTENER = Target("listener-2", "listener", is_creator=False)

OK = None
# (who, to whom, what) -> None when allowed, else the error code.
SET_ROLE = [
    (HOST, A_LISTENER, "speaker", OK),
    (HOST, A_LISTENER, "cohost", OK),
    (HOST, OTHER_COHOST, "listener", OK),
    (HOST, CREATOR, "listener", "cannot_target_host"),
    (HOST, A_LISTENER, "host", "cannot_target_host"),
    (ACTING_HOST, A_SPEAKER, "cohost", OK),
    (ACTING_HOST, CREATOR, "listener", "cannot_target_host"),
    (COHOST, A_LISTENER, "speaker", OK),
    (COHOST, A_SPEAKER, "listener", OK),
    (COHOST, A_LISTENER, "cohost", "not_host"),
    (COHOST, OTHER_COHOST, "listener", "insufficient_rank"),
    (COHOST, CREATOR, "speaker", "cannot_target_host"),
    (SPEAKER, A_LISTENER, "speaker", "not_moderator"),
    (LISTENER, A_LISTENER, "speaker", "not_moderator"),
    (ABSENT, A_LISTENER, "speaker", "not_moderator"),
    # Stepping down from the stage is always allowed; stepping up never is.
    (SPEAKER, Target("speaker", "speaker", False), "listener", OK),
    (COHOST, Target("cohost-b", "cohost", False), "listener", OK),
    (LISTENER, Target("listener", "listener", False), "speaker", "not_moderator"),
    (SPEAKER, Target("speaker", "speaker", False), "cohost", "not_moderator"),
]
MUTE = [
    (HOST, A_SPEAKER, OK),
    (HOST, OTHER_COHOST, OK),
    (HOST, CREATOR, OK),  # the host mutes themselves
    (ACTING_HOST, CREATOR, "cannot_target_host"),
    (COHOST, A_SPEAKER, OK),
    (COHOST, OTHER_COHOST, "insufficient_rank"),
    (COHOST, CREATOR, "cannot_target_host"),
    (SPEAKER, A_SPEAKER, "not_moderator"),
    (SPEAKER, Target("speaker", "speaker", False), OK),  # yourself
    (ABSENT, A_SPEAKER, "not_moderator"),
]
REMOVE = [
    (HOST, A_LISTENER, OK),
    (HOST, OTHER_COHOST, OK),
    (HOST, CREATOR, "cannot_remove_self"),
    (ACTING_HOST, CREATOR, "cannot_target_host"),
    (COHOST, A_SPEAKER, OK),
    (COHOST, OTHER_COHOST, "insufficient_rank"),
    (SPEAKER, A_LISTENER, "not_moderator"),
    (LISTENER, Target("listener", "listener", False), "cannot_remove_self"),
]


def _outcome(rule, *args) -> str | None:
    try:
        rule(*args)
    except DomainError as refused:
        assert refused.status == 403
        return refused.code
    return None


@pytest.mark.parametrize(("actor", "target", "role", "expected"), SET_ROLE)
def test_set_role(actor, target, role, expected):
    assert _outcome(check_set_role, actor, target, role) == expected


@pytest.mark.parametrize(("actor", "target", "expected"), MUTE)
def test_mute(actor, target, expected):
    assert _outcome(check_mute, actor, target) == expected


@pytest.mark.parametrize(("actor", "target", "expected"), REMOVE)
def test_remove(actor, target, expected):
    assert _outcome(check_remove, actor, target) == expected


@pytest.mark.parametrize(("actor", "expected"), [(HOST, OK), (ACTING_HOST, OK), (COHOST, "not_host"), (ABSENT, "not_host")])
def test_host_powers(actor, expected):
    assert _outcome(require_host_powers, actor) == expected
