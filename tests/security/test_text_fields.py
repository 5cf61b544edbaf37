"""Issue 15, text fields: names and titles that read backwards (bidi overrides), that look
like someone else's (zero-width characters) or that show nothing are refused; what is
stored is NFC. Topics have 1 to 30 characters, ``lang`` is a BCP 47 tag, chat refuses the
same tricks, and an advance ban must name a real user. All over HTTP."""

from __future__ import annotations

import unicodedata
from datetime import timedelta

import pytest

from chalicelib.models.participants import ParticipantModel
from chalicelib.models.spaces import SpaceModel
from chalicelib.models.users import UserModel
from tests.api.rooms_support import make_host, make_person, open_room

PASSWORD = "correct horse battery"

# Each hides or deceives: refused in display names, titles and topics alike.
DECEIVING = {
    "right-to-left override": "moc.\u202egnp.exe",
    "left-to-right isolate": "\u2066Ada\u2069",
    "zero-width space": "Ada\u200bLovelace",
    "zero-width joiner": "Ad\u200da",
    "word joiner": "Ada\u2060",
    "byte order mark": "\ufeffAda",
    "bell": "Ada\u0007",
    "line separator": "Ada\u2028Lovelace",
}
BLANK = {
    "empty after trimming": "   ",
    "only zero-width spaces": "\u200b\u200b\u200b",
    "only a Hangul filler": "\u3164",
    "only no-break and ideographic spaces": "\u00a0\u3000",
}
REFUSED = {**DECEIVING, **BLANK}


def sign_up(api, display_name: str):
    return api.post("/v1/accounts", {"handle": "ada", "display_name": display_name, "password": PASSWORD})


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_a_display_name_that_deceives_or_shows_nothing_is_refused(api, name):
    reply = sign_up(api, name)
    assert reply.status == 422 and reply.error_code == "invalid_text", reply.body
    assert reply.body["error"]["message"].startswith("display_name:")
    assert UserModel.count() == 0


def test_display_names_are_stored_nfc_and_trimmed_in_any_script(api):
    reply = sign_up(api, "  Ame\u0301lie\u00a0")  # e + combining acute, as some keyboards send it
    assert reply.status == 201, reply.body
    assert reply.body["user"]["display_name"] == "Am\u00e9lie"
    assert UserModel.get(reply.body["user"]["id"]).display_name == "Am\u00e9lie"
    for i, name in enumerate(["Zoë", "علي", "李小龍", "Ada 🎧", "Ωmega ❤️"]):
        reply = api.post("/v1/accounts", {"handle": f"person{i}", "display_name": name, "password": PASSWORD})
        assert reply.status == 201 and reply.body["user"]["display_name"] == name


@pytest.mark.parametrize("title", REFUSED.values(), ids=REFUSED.keys())
def test_a_space_title_that_deceives_or_shows_nothing_is_refused(api, title):
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": title}, token=host.token)
    assert reply.status == 422 and reply.error_code == "invalid_text" and reply.body["error"]["message"].startswith("title:")
    assert SpaceModel.count() == 0


def test_editing_a_title_follows_the_same_rules(api):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Morning show"}, token=host.token).body["id"]
    refused = api.patch(f"/v1/spaces/{space_id}", {"title": "gnp.\u202eexe"}, token=host.token)
    assert refused.status == 422 and refused.error_code == "invalid_text"
    assert api.patch(f"/v1/spaces/{space_id}", {"topics": ["\u200b"]}, token=host.token).status == 422
    edited = api.patch(f"/v1/spaces/{space_id}", {"title": "Caf\u0065\u0301 talk"}, token=host.token)
    assert edited.status == 200 and edited.body["title"] == "Caf\u00e9 talk"
    space = SpaceModel.get(space_id)
    assert space.title == "Caf\u00e9 talk" and space.topic_ids is None


def test_search_finds_a_title_however_the_query_is_composed(api):
    host = make_host(api, "host")
    api.post("/v1/spaces", {"title": "Caf\u00e9 talk"}, token=host.token)
    found = api.get("/v1/spaces?q=" + "cafe\u0301", token=host.token)
    assert [s["title"] for s in found.body["spaces"]] == ["Caf\u00e9 talk"]


@pytest.mark.parametrize(("topics", "status"), [
    (["x" * 31], 400),
    ([""], 400),
    (["  "], 422),
    (["\u200b\u200b"], 422),
    (["music", "a\u202eb"], 422),
])
def test_topics_have_1_to_30_characters_after_cleaning(api, topics, status):
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": "Show", "topics": topics}, token=host.token)
    assert reply.status == status, reply.body
    assert SpaceModel.count() == 0


def test_topics_are_stored_clean(api):
    # Cleaned as names, then matched to the curated list (tests/api/test_topics.py): stored as its ids.
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": "Show", "topics": [" music ", "NEWS", "Tech"]}, token=host.token)
    assert reply.status == 201 and reply.body["topic_ids"] == ["music", "news", "tech"]


@pytest.mark.parametrize("lang", ["english", "xx-yy", "en-", "12", "en_US!", "zz"])
def test_lang_must_be_a_bcp47_tag(api, lang):
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": "Show", "lang": lang}, token=host.token)
    assert reply.status == 422 and reply.error_code == "invalid_lang", reply.body
    assert SpaceModel.count() == 0


@pytest.mark.parametrize(("lang", "stored"), [("EN", "en"), ("PT-br", "pt-BR"), ("zh-hant", "zh-Hant"), ("eng", "en")])
def test_lang_is_stored_in_its_standard_form(api, lang, stored):
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": "Show", "lang": lang}, token=host.token)
    assert reply.status == 201 and reply.body["lang"] == stored
    assert SpaceModel.get(reply.body["id"]).lang == stored


@pytest.mark.parametrize("scheduled", [True, False], ids=["before the start", "absent from a live space"])
def test_an_advance_ban_must_name_a_real_user(api, clock, scheduled):
    host = make_host(api, "host")
    body = {"title": "Show"}
    if scheduled:
        body["scheduled_start"] = (clock.now() + timedelta(hours=2)).isoformat()
    space_id = api.post("/v1/spaces", body, token=host.token).body["id"]
    before = ParticipantModel.count()
    ghost = api.delete(f"/v1/spaces/{space_id}/participants/01ARZ3NDEKTSV4RRFFQ69G5FAV?ban=true", token=host.token)
    assert ghost.status == 404 and ghost.error_code == "user_not_found"
    assert ParticipantModel.count() == before
    troll = make_person(api, "troll")
    assert api.delete(f"/v1/spaces/{space_id}/participants/{troll.id}?ban=true", token=host.token).status == 200
    assert ParticipantModel.get(space_id, troll.id).status == "banned"


@pytest.mark.parametrize("text", ["\u202eevil", "hi\u2066there\u2069", "ding\u0007", "\u200b\u200b"])
def test_chat_refuses_bidi_overrides_control_characters_and_invisible_messages(api, text):
    room = open_room(api)
    reply = api.post(f"/v1/spaces/{room.space_id}/messages", {"text": text}, token=room.speaker.token)
    assert reply.status == 422 and reply.error_code == "invalid_text", reply.body


def test_chat_is_stored_nfc_and_keeps_emoji_sequences_and_newlines(api, clock):
    room = open_room(api)
    for text in ("Cafe\u0301?", "👩\u200d💻 line one\nline two"):
        reply = api.post(f"/v1/spaces/{room.space_id}/messages", {"text": text}, token=room.speaker.token)
        assert reply.status == 201 and reply.body["text"] == unicodedata.normalize("NFC", text)
        clock.advance(seconds=1)
