"""Callbacks from Parlor's own media workers, signed with the service secret instead of a
user's token."""

from __future__ import annotations

from pydantic import Field

from chalicelib.api.routing import Call, Router
from chalicelib.api.schemas import Id, Strict
from chalicelib.wiring import services
from parlor_contract import signatures
from parlor_contract.media import SPEAKING_PATH

router = Router(__name__, tag="internal")


class SpeakerLevel(Strict):
    user_id: Id
    level: float = Field(ge=0.0, le=1.0)


class SpeakingIn(Strict):
    speakers: list[SpeakerLevel] = Field(max_length=20)
    at: str | None = Field(default=None, max_length=40)


@router.route("POST", SPEAKING_PATH, summary="Who is speaking (media worker only, signed)",
              body=SpeakingIn, auth=False, status=202, public=False)
def speaking(call: Call) -> dict:
    levels = [level.model_dump() for level in call.body.speakers]
    services().speaking.report(call.params["space_id"], call.raw_body, call.headers.get(signatures.HEADER.lower()), levels)
    return {"ok": True}
