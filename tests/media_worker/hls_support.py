"""What the HLS tests share: a room whose speaker plays a tone into the audience tap, S3
stand-ins that stall or fail, and reading back what a stream wrote."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from typing import Any

import av
import m3u8
import numpy as np
from aiortc import RTCPeerConnection

from media_worker.mixer import FRAME_SAMPLES
from media_worker.room import Participant, Room

RATE = 48_000


def tone(frequency: float, pts: int, amplitude: float = 0.3) -> np.ndarray:
    t = (np.arange(FRAME_SAMPLES) + pts) / RATE
    return (amplitude * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int32)


async def room_with_speaker(audience: Any) -> tuple[Room, Participant]:
    """A room tapped by ``audience``, with a speaker whose frames the test pushes, and a listener."""
    room = Room(audience=audience)
    speaker = await room.admit("speaker", "speaker", RTCPeerConnection())
    await room.admit("listener", "listener", RTCPeerConnection())
    return room, speaker


def play(room: Room, speaker: Participant, seconds: float, frequency: float, start_pts: int) -> int:
    """Tick the room ``seconds`` worth (as fast as it goes), the speaker playing a tone; the next pts."""
    pts = start_pts
    for _ in range(round(seconds * RATE / FRAME_SAMPLES)):
        speaker.frames.push(tone(frequency, pts))
        room.tick()
        pts += FRAME_SAMPLES
    return pts


@dataclass
class MemoryS3:
    """An S3 stand-in: PUTs land in a dict; keys in ``failing`` always raise; while
    ``stalled`` is set, PUTs block until it is cleared (an S3 that hangs)."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    attempts: dict[str, int] = field(default_factory=dict)
    stalled: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def put_object(self, **call: Any) -> dict:
        key = call["Key"]
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if self.stalled.is_set():
            self.released.wait(timeout=10)
        if key in self.failing:
            raise ConnectionError(f"S3 refused {key}")
        self.objects[key] = call
        return {}

    def get_paginator(self, name: str) -> Any:
        store = self

        class Pages:
            def paginate(self, Bucket: str, Prefix: str) -> list[dict]:  # noqa: N803 - boto3's names
                return [{"Contents": [{"Key": k} for k in sorted(store.objects) if k.startswith(Prefix)]}]

        return Pages()

    def delete_objects(self, Bucket: str, Delete: dict) -> dict:  # noqa: N803
        for item in Delete["Objects"]:
            self.objects.pop(item["Key"], None)
        return {}

    def body(self, key: str) -> bytes:
        return bytes(self.objects[key]["Body"])


def decode(ts: bytes) -> tuple[int, np.ndarray]:
    """A segment's first sample's pts (48 kHz) and its decoded mono samples."""
    with av.open(io.BytesIO(ts)) as container:
        frames = list(container.decode(audio=0))
    first = frames[0]
    start = round(first.pts * first.time_base * RATE)
    return start, np.concatenate([f.to_ndarray().reshape(-1) for f in frames])


def parse(text: str | bytes) -> m3u8.M3U8:
    return m3u8.loads(text.decode() if isinstance(text, bytes) else text)
