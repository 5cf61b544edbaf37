"""What the local stack's processes log while people use a room: one JSON object per line,
and never a token or a secret (session, realtime and media tokens, the media-token key, the
TURN secret and credentials)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import aiohttp
from websockets.sync.client import connect

from chalicelib.settings import Settings
from local import turn
from media_worker import ice
from tests.e2e.http import Http, join, live_space
from tests.media_worker.peers import offer_at
from tests.sockets import next_event


def _json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


async def _listen(offer_url: str, session_token: str) -> int:
    ice.gather_only_on("127.0.0.1")
    async with aiohttp.ClientSession() as session:
        status, _, peer = await offer_at(session, offer_url, session_token)
        await peer.close()
        return status


def test_no_log_line_carries_a_token_or_a_secret(stack):
    http = Http(f"http://127.0.0.1:{stack.ports.api}")
    space_id, (host, fan, _) = live_space(http, "Logs", ("logs_host", "logs_fan", "logs_other"))
    joined = join(http, space_id, fan)
    socket = connect(f"{joined['realtime']['url']}/?token={joined['realtime']['token']}", open_timeout=10, legacy=True)
    assert asyncio.run(_listen(joined["media"]["offer_url"], fan["token"])) == 200
    socket.send(json.dumps({"action": "ping"}))
    assert http.call("POST", f"/v1/spaces/{space_id}/messages", {"text": "hi"}, token=host["token"])[0] == 201
    assert next_event(socket, "message.created")
    socket.close()
    assert http.call("POST", f"/v1/spaces/{space_id}/end", token=host["token"])[0] == 200

    assert stack.log_dir is not None
    logs = {path.name: path.read_text() for path in Path(stack.log_dir).glob("*.log")}
    assert {"api.log", "ws.log", "stripe.log", "clock.log", "moto.log"} <= set(logs)
    assert "turn.log" in logs or not turn.available()
    secrets = {"host's session token": host["token"], "fan's session token": fan["token"], "realtime token": joined["realtime"]["token"],
               "media-token private key": stack.env[Settings.env_name("media_token_private_key")].splitlines()[1],
               "TURN secret": stack.env[Settings.env_name("turn_secret")]}
    secrets.update({f"TURN credential {i}": server["credential"] for i, server in enumerate(joined["media"]["ice_servers"])})
    for name, text in logs.items():
        for what, secret in secrets.items():
            assert secret not in text, f"{name} carries the {what}"
        # No JWT at all: the media grants the API minted for the offers never reach a log either.
        assert not re.search(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+", text), f"{name} carries a JWT"
        not_json = [line for line in text.splitlines() if line.strip() and not _json_object(line)]
        assert not not_json, f"{name}: {not_json[:5]}"
    # The worker (its output goes where the API's does) logged the offer, as JSON, with its space.
    worker_lines = [json.loads(line) for line in logs["api.log"].splitlines() if '"service":"media-worker"' in line]
    assert any(line["message"] == "offer answered" and line["space_id"] == space_id for line in worker_lines)
