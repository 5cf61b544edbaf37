"""A live room with one person in every role, for the spaces tests."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.models.users import UserModel
from tests.support import Api


@dataclass
class Person:
    id: str
    token: str


@dataclass
class Room:
    space_id: str
    host: Person
    cohost: Person
    cohost2: Person
    speaker: Person
    listener: Person
    outsider: Person
    banned: Person

    def person(self, role: str) -> Person | None:
        return None if role == "anonymous" else getattr(self, role)


def make_host(api: Api, handle: str) -> Person:
    user_id, token = api.sign_up(handle)
    UserModel(user_id=user_id).update(actions=[UserModel.follower_count.set(600)])
    return Person(user_id, token)


def make_person(api: Api, handle: str) -> Person:
    return Person(*api.sign_up(handle))


def open_room(api: Api, title: str = "Morning show") -> Room:
    host = make_host(api, "host")
    people = {name: make_person(api, name) for name in ("cohost", "cohost2", "speaker", "listener", "outsider", "banned")}
    created = api.post("/v1/spaces", {"title": title}, token=host.token)
    assert created.status == 201, created.body
    space_id = created.body["id"]
    for name in ("cohost", "cohost2", "speaker", "listener", "banned"):
        assert api.post(f"/v1/spaces/{space_id}/join", token=people[name].token).status == 200
    for name, role in (("cohost", "cohost"), ("cohost2", "cohost"), ("speaker", "speaker")):
        reply = api.put(f"/v1/spaces/{space_id}/participants/{people[name].id}", {"role": role}, token=host.token)
        assert reply.status == 200, reply.body
    banned = api.delete(f"/v1/spaces/{space_id}/participants/{people['banned'].id}?ban=true", token=host.token)
    assert banned.status == 200, banned.body
    return Room(space_id, host, **people)
