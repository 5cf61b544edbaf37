"""The audience tier: a recorded space's replay, deleting a recording, clips. (Live HLS access
comes with joining: ``rooms.join``.)"""

from __future__ import annotations

from pydantic import BaseModel, Field

from chalicelib.api.routing import Call, Router
from chalicelib.api.schemas import Timestamp
from chalicelib.gateways.cdn import SignedAccess
from chalicelib.wiring import services

router = Router(__name__, tag="audience")


class StreamAccessOut(BaseModel):
    """A signed HLS playlist through the CDN. Play ``url``; the playlist's segments need the
    same signature: append ``query`` to each segment URL (hls.js ``xhrSetup``), or send
    ``cookies`` with every request to the CDN (AVPlayer ``AVURLAssetHTTPCookiesKey``,
    ExoPlayer's cookie handler). Past ``expires_at`` the CDN answers 403: ask again."""

    url: str
    query: str
    cookies: dict[str, str] = Field(description="CloudFront-Policy, CloudFront-Signature, CloudFront-Key-Pair-Id")
    expires_at: Timestamp


def stream_access_out(access: SignedAccess) -> StreamAccessOut:
    return StreamAccessOut(url=access.url, query=access.query, cookies=access.cookies, expires_at=access.expires_at)


class ReplayOut(StreamAccessOut):
    available_until: Timestamp = Field(description="when the recording is deleted (30 days after the end)")


class ClipOut(BaseModel):
    id: str
    space_id: str
    url: str = Field(description="the M4A file, signed: share it; it works until expires_at")
    seconds: float
    created_at: Timestamp
    expires_at: Timestamp


class Done(BaseModel):
    ok: bool


@router.route("GET", "/v1/spaces/{space_id}/replay", summary="Replay an ended space's recording (HLS, signed)",
              response=ReplayOut, retry_later=True)
def replay(call: Call) -> ReplayOut:
    r = services().audience.replay(call.me, call.params["space_id"])
    return ReplayOut(**stream_access_out(r.access).model_dump(), available_until=r.available_until)


@router.route("DELETE", "/v1/spaces/{space_id}/recording", summary="Delete an ended space's recording (host)",
              response=Done)
def delete_recording(call: Call) -> Done:
    services().audience.delete_recording(call.me, call.params["space_id"])
    return Done(ok=True)


@router.route("POST", "/v1/spaces/{space_id}/clips", summary="Clip the last 30 s of a live or recorded space",
              response=ClipOut, status=201)
def create_clip(call: Call) -> ClipOut:
    clip = services().audience.clip(call.me, call.params["space_id"])
    return ClipOut(id=clip.clip_id, space_id=clip.space_id, url=clip.share.url, seconds=clip.seconds,
                   created_at=clip.created_at, expires_at=clip.share.expires_at)
