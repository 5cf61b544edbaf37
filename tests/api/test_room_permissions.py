"""The authorization matrix: every action × every kind of caller, forbidden cells included.

Callers: the host, a co-host, a speaker, a listener, an outsider (signed in, not in the
room), a banned user, and an anonymous caller (no token). Every cell is its own test.
"""

from __future__ import annotations

from typing import Callable

import pytest

from tests.api.rooms_support import Room, open_room
from tests.support import Api, Reply

CALLERS = ["host", "cohost", "speaker", "listener", "outsider", "banned", "anonymous"]

Action = Callable[[Api, Room, "str | None"], Reply]


def _path(room: Room, suffix: str = "") -> str:
    return f"/v1/spaces/{room.space_id}{suffix}"


def _name_cohost(api: Api, room: Room, token: str | None) -> Reply:
    # Make room: the host demotes the second co-host first, then the caller names the speaker co-host.
    assert api.put(_path(room, f"/participants/{room.cohost2.id}"), {"role": "listener"}, token=room.host.token).status == 200
    return api.put(_path(room, f"/participants/{room.speaker.id}"), {"role": "cohost"}, token=token)


ACTIONS: dict[str, tuple[Action, dict[str, int]]] = {
    "join": (lambda api, r, t: api.post(_path(r, "/join"), token=t),
             dict(host=200, cohost=200, speaker=200, listener=200, outsider=200, banned=403)),
    "leave": (lambda api, r, t: api.post(_path(r, "/leave"), token=t),
              dict(host=200, cohost=200, speaker=200, listener=200, outsider=200, banned=200)),
    "list participants": (lambda api, r, t: api.get(_path(r, "/participants"), token=t),
                          dict(host=200, cohost=200, speaker=200, listener=200, outsider=200, banned=200)),
    "raise hand": (lambda api, r, t: api.post(_path(r, "/speak-requests"), token=t),
                   dict(host=409, cohost=409, speaker=409, listener=200, outsider=409, banned=403)),
    "lower hand": (lambda api, r, t: api.delete(_path(r, "/speak-requests"), token=t),
                   dict(host=200, cohost=200, speaker=200, listener=200, outsider=409, banned=403)),
    "list speak requests": (lambda api, r, t: api.get(_path(r, "/speak-requests"), token=t),
                            dict(host=200, cohost=200, speaker=403, listener=403, outsider=403, banned=403)),
    "invite listener to speak": (
        lambda api, r, t: api.put(_path(r, f"/participants/{r.listener.id}"), {"role": "speaker"}, token=t),
        dict(host=200, cohost=200, speaker=403, listener=403, outsider=403, banned=403)),
    "demote speaker": (
        lambda api, r, t: api.put(_path(r, f"/participants/{r.speaker.id}"), {"role": "listener"}, token=t),
        dict(host=200, cohost=200, speaker=200, listener=403, outsider=403, banned=403)),  # a speaker may step down
    "name co-host": (_name_cohost, dict(host=200, cohost=403, speaker=403, listener=403, outsider=403, banned=403)),
    "demote the other co-host": (
        lambda api, r, t: api.put(_path(r, f"/participants/{r.cohost2.id}"), {"role": "speaker"}, token=t),
        dict(host=200, cohost=403, speaker=403, listener=403, outsider=403, banned=403)),
    "make someone host": (
        lambda api, r, t: api.put(_path(r, f"/participants/{r.listener.id}"), {"role": "host"}, token=t),
        dict(host=400, cohost=400, speaker=400, listener=400, outsider=400, banned=400)),
    "mute speaker": (lambda api, r, t: api.post(_path(r, f"/participants/{r.speaker.id}/mute"), token=t),
                     dict(host=200, cohost=200, speaker=200, listener=403, outsider=403, banned=403)),
    "mute host": (lambda api, r, t: api.post(_path(r, f"/participants/{r.host.id}/mute"), token=t),
                  dict(host=200, cohost=403, speaker=403, listener=403, outsider=403, banned=403)),
    "mute the other co-host": (lambda api, r, t: api.post(_path(r, f"/participants/{r.cohost2.id}/mute"), token=t),
                               dict(host=200, cohost=403, speaker=403, listener=403, outsider=403, banned=403)),
    "remove listener": (lambda api, r, t: api.delete(_path(r, f"/participants/{r.listener.id}"), token=t),
                        dict(host=200, cohost=200, speaker=403, listener=403, outsider=403, banned=403)),
    "ban listener": (lambda api, r, t: api.delete(_path(r, f"/participants/{r.listener.id}?ban=true"), token=t),
                     dict(host=200, cohost=200, speaker=403, listener=403, outsider=403, banned=403)),
    "remove speaker": (lambda api, r, t: api.delete(_path(r, f"/participants/{r.speaker.id}"), token=t),
                       dict(host=200, cohost=200, speaker=403, listener=403, outsider=403, banned=403)),
    "remove host": (lambda api, r, t: api.delete(_path(r, f"/participants/{r.host.id}"), token=t),
                    dict(host=403, cohost=403, speaker=403, listener=403, outsider=403, banned=403)),
    "remove the other co-host": (lambda api, r, t: api.delete(_path(r, f"/participants/{r.cohost2.id}"), token=t),
                                 dict(host=200, cohost=403, speaker=403, listener=403, outsider=403, banned=403)),
    "read audit log": (lambda api, r, t: api.get(_path(r, "/audit"), token=t),
                       dict(host=200, cohost=403, speaker=403, listener=403, outsider=403, banned=403)),
    "edit space": (lambda api, r, t: api.patch(_path(r), {"title": "Renamed"}, token=t),
                   dict(host=200, cohost=403, speaker=403, listener=403, outsider=403, banned=403)),
    "end space": (lambda api, r, t: api.post(_path(r, "/end"), token=t),
                  dict(host=200, cohost=403, speaker=403, listener=403, outsider=403, banned=403)),
    "look up space": (lambda api, r, t: api.get(_path(r), token=t),
                      dict(host=200, cohost=200, speaker=200, listener=200, outsider=200, banned=200)),
}

# Whose successful attempt changes the room (default: everyone's). Reads change nothing;
# joining again or lowering an unraised hand is a no-op for people already in the room.
MUTATES: dict[str, set[str]] = {
    "join": {"outsider"},
    "lower hand": set(),
    "list participants": set(),
    "list speak requests": set(),
    "read audit log": set(),
    "look up space": set(),
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_authorization_matrix(api, action):
    """One row of the matrix: the action tried by every kind of caller.

    A refused attempt changes nothing, so the same room serves the next caller; after an
    allowed (state-changing) attempt the next caller gets a fresh room.
    """
    run, expected = ACTIONS[action]
    room, wrong = None, []
    for caller in CALLERS:
        if room is None:
            room = open_room(api, title=f"{action} / {caller}")
        person = room.person(caller)
        reply = run(api, room, person.token if person else None)
        want = 401 if caller == "anonymous" else expected[caller]
        if reply.status != want:
            wrong.append((caller, want, reply.status, reply.body))
        if reply.status < 300 and caller in MUTATES.get(action, set(CALLERS)):
            room = None
        _empty_room_tables_if_fresh_needed(room)
    assert not wrong, f"{action}: " + "; ".join(f"{c} expected {w} got {g} {b}" for c, w, g, b in wrong)


def _empty_room_tables_if_fresh_needed(room: Room | None) -> None:
    """Handles and a host's one-live-space rule would clash with a second room: start clean."""
    if room is None:
        from tests.conftest import _empty_tables

        _empty_tables()


def test_every_action_has_a_cell_for_every_caller():
    for action, (_, expected) in ACTIONS.items():
        assert set(expected) == set(CALLERS) - {"anonymous"}, action
