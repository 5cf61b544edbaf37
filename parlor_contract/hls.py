"""The audience tier's shared names: where a room's HLS stream, its recording and its clips
live in the media bucket, and how they are cut. The worker writes them, the API signs access
to them and makes clips from them, the local CDN stand-in and CloudFront serve them.

Layout (one prefix per space, which is also the scope of a signed access):

    spaces/{space_id}/hls/live.m3u8         live media playlist (sliding window; ENDLIST at the end)
    spaces/{space_id}/hls/replay.m3u8       VOD playlist of every segment (recorded spaces, at the end)
    spaces/{space_id}/hls/{sequence}.ts     MPEG-TS segments of AAC-LC audio, ~2 s each
    spaces/{space_id}/clips/{clip_id}.m4a   clips (30 s of AAC, remuxed, never re-encoded)
"""

from __future__ import annotations

from enum import StrEnum

SPACES_PREFIX = "spaces/"
SEGMENT_SECONDS = 2.0  # target length of a segment (cut at the next AAC frame: 1024 samples)
TARGET_DURATION = 2  # EXT-X-TARGETDURATION: every segment rounds to at most this
LIVE_WINDOW_SEGMENTS = 20  # segments the live playlist names (40 s: enough for a 30 s clip)
CLIP_SECONDS = 30
SAMPLE_RATE = 48_000
LIVE_PLAYLIST = "live.m3u8"
REPLAY_PLAYLIST = "replay.m3u8"
PLAYLIST_CONTENT_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_CONTENT_TYPE = "video/mp2t"
CLIP_CONTENT_TYPE = "audio/mp4"
# Cache-Control each object is written with; CloudFront's cache behaviours say the same.
PLAYLIST_CACHE_CONTROL = "max-age=1"  # a live playlist changes every segment
SEGMENT_CACHE_CONTROL = "max-age=31536000, immutable"  # a segment never changes once written
# How long a worker takes at most to close its stream at the end (last segment, ENDLIST, the
# replay playlist, or deleting a stream that is not kept): ECS must wait longer before SIGKILL.
CLOSE_SECONDS = 20.0
# How long an object is kept: the bucket's lifecycle rules expire by this object tag.
RETENTION_TAG = "parlor-retention"


class Retention(StrEnum):
    RECORDING = "recording"  # a recorded space's segments and playlists, and clips: 30 days
    LIVE = "live"  # a space that does not record: 1 day (S3's shortest), deleted at the end anyway


RECORDING_DAYS = 30
LIVE_ONLY_DAYS = 1


def space_prefix(space_id: str) -> str:
    return f"{SPACES_PREFIX}{space_id}/"


def hls_prefix(space_id: str) -> str:
    return f"{space_prefix(space_id)}hls/"


def segment_key(space_id: str, sequence: int) -> str:
    return f"{hls_prefix(space_id)}{sequence:08d}.ts"


def live_playlist_key(space_id: str) -> str:
    return hls_prefix(space_id) + LIVE_PLAYLIST


def replay_playlist_key(space_id: str) -> str:
    return hls_prefix(space_id) + REPLAY_PLAYLIST


def clip_key(space_id: str, clip_id: str) -> str:
    return f"{space_prefix(space_id)}clips/{clip_id}.m4a"


def retention_tagging(retention: Retention) -> str:
    """The ``Tagging`` argument of a PutObject."""
    return f"{RETENTION_TAG}={retention}"
