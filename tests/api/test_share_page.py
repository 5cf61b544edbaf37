"""The public page of a space, ``/s/{space_id}``: title, host, state, start time and listener
count without signing in; Open Graph and Twitter-card tags rendered on the server (crawlers
run no JavaScript); deep links for the apps; every person's text escaped."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from chalicelib.models.spaces import SpaceModel
from chalicelib.models.users import UserModel
from tests.api.rooms_support import make_host


def _page(api, path: str, **headers: str):
    return api.client.http.get(path, headers=headers)


def _meta(html: str, name: str) -> str:
    match = re.search(rf'<meta (?:property|name)="{re.escape(name)}" content="([^"]*)">', html)
    assert match, f"no {name} in the page"
    return unescape(match.group(1))


def test_a_live_space_has_a_public_page_with_preview_tags(api, settings):
    host = make_host(api, "ada")
    UserModel(user_id=host.id).update(actions=[UserModel.display_name.set("Ada L.")])
    space = api.post("/v1/spaces", {"title": "Jazz night", "lang": "pt-BR"}, token=host.token).body
    SpaceModel(space_id=space["id"]).update(actions=[SpaceModel.listener_count.set(42)])
    reply = _page(api, f"/s/{space['id']}")  # no token
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in reply.headers["Content-Security-Policy"]
    html = reply.body.decode()
    assert "<script" not in html and 'lang="pt-BR"' in html
    assert "<title>Jazz night · Parlor</title>" in html
    assert 'class="share-state">Live<' in html and "42 listening" in html
    assert "Ada L." in html and "@ada" in html and "Started <time datetime=" in html
    page_url = space["share_url"]
    assert page_url == f"{settings.web_url or settings.api_url}/s/{space['id']}"
    assert _meta(html, "og:title") == "Jazz night" and _meta(html, "twitter:title") == "Jazz night"
    assert _meta(html, "og:description") == "Live now · 42 listening · hosted by Ada L. (@ada)"
    assert _meta(html, "og:url") == page_url and _meta(html, "twitter:card") == "summary"
    deep_link = f"parlor://spaces/{space['id']}"
    assert _meta(html, "al:ios:url") == deep_link and _meta(html, "al:android:url") == deep_link
    assert f'href="{deep_link}"' in html


def test_the_web_client_and_its_room_are_linked_when_there_is_one(api, container, settings):
    container.settings = settings.model_copy(update={"web_url": "https://web.parlor.test"})
    host = make_host(api, "ada")
    space = api.post("/v1/spaces", {"title": "Jazz"}, token=host.token).body
    assert space["share_url"] == f"https://web.parlor.test/s/{space['id']}"
    html = _page(api, f"/s/{space['id']}").body.decode()
    assert _meta(html, "og:url") == f"https://web.parlor.test/s/{space['id']}"
    assert _meta(html, "al:web:url") == f"https://web.parlor.test/#/spaces/{space['id']}"
    assert f'href="https://web.parlor.test/#/spaces/{space["id"]}"' in html


def test_a_scheduled_space_shows_its_start_time(api, clock):
    host = make_host(api, "ada")
    start = (clock.now() + timedelta(days=2)).replace(hour=18, minute=30, second=0)
    space_id = api.post("/v1/spaces", {"title": "Later", "scheduled_start": start.isoformat()}, token=host.token).body["id"]
    html = _page(api, f"/s/{space_id}").body.decode()
    when = start.strftime("%Y-%m-%d 18:30 UTC")
    assert 'class="share-state">Scheduled<' in html and f">{when}</time>" in html
    assert _meta(html, "og:description") == f"Scheduled for {when} · hosted by Ada (@ada)"
    assert "listening" not in html


def test_ended_and_canceled_spaces_still_render_with_their_state(api, clock):
    host = make_host(api, "ada")
    live = api.post("/v1/spaces", {"title": "Was live"}, token=host.token).body["id"]
    api.post(f"/v1/spaces/{live}/end", token=host.token)
    later = (clock.now() + timedelta(days=1)).isoformat()
    canceled = api.post("/v1/spaces", {"title": "Never was", "scheduled_start": later}, token=host.token).body["id"]
    api.post(f"/v1/spaces/{canceled}/cancel", token=host.token)
    ended_html = _page(api, f"/s/{live}").body.decode()
    assert 'class="share-state">Ended<' in ended_html and _meta(ended_html, "og:description").startswith("Ended ")
    assert "listening" not in ended_html
    canceled_reply = _page(api, f"/s/{canceled}")
    assert canceled_reply.status_code == 200
    assert 'class="share-state">Canceled<' in canceled_reply.body.decode()


def test_titles_and_names_are_escaped(api):
    host = make_host(api, "ada")
    evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    UserModel(user_id=host.id).update(actions=[UserModel.display_name.set("<b>Ada</b> & 'co'")])
    space_id = api.post("/v1/spaces", {"title": evil}, token=host.token).body["id"]
    html = _page(api, f"/s/{space_id}").body.decode()
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert _meta(html, "og:title") == evil  # whole and inert inside the attribute
    assert "&lt;b&gt;Ada&lt;/b&gt; &amp; " in html


def test_an_unknown_space_is_a_404_page(api):
    for space_id in ("01ARZ3NDEKTSV4RRFFQ69G5FAV", "x" * 65):
        reply = _page(api, f"/s/{space_id}")
        assert reply.status_code == 404
        assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
        html = reply.body.decode()
        assert "This space does not exist" in html and 'name="robots" content="noindex"' in html


def test_a_host_who_deleted_their_account_leaves_a_page_without_a_host(api):
    host = make_host(api, "ada")
    space_id = api.post("/v1/spaces", {"title": "Orphan"}, token=host.token).body["id"]
    UserModel(user_id=host.id).delete()
    reply = _page(api, f"/s/{space_id}")
    assert reply.status_code == 200 and "Hosted by" not in reply.body.decode()


def test_the_page_is_outside_the_openapi_document(api):
    spec = api.get("/openapi.json").body
    assert "/s/{space_id}" not in spec["paths"]
    assert "/v1/topics" in spec["paths"] and "/v1/spaces/trending" in spec["paths"]
    assert "/v1/spaces/{space_id}/pin" in spec["paths"]
