"""The audience tier's test edges: what the CDN would let through (the local stand-in's own
check, ``local.cdn.check_access``), the media bucket (moto's S3) and a room's HLS stream as its
worker writes it — real MPEG-TS segments of AAC audio."""

from __future__ import annotations

import io
import math
from fractions import Fraction
from http.cookies import SimpleCookie
from typing import Any, Iterator
from urllib.parse import urlsplit

import av
import boto3
import numpy as np
import pytest
from aiohttp.test_utils import make_mocked_request
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.clock import Clock
from chalicelib.settings import Settings
from local.cdn import Config, Refused, check_access
from parlor_contract import hls
from tests.conftest import TEST_SETTINGS


def cdn_allows(settings: Settings, clock: Clock, url: str, query: str | None = None,
               cookies: dict[str, str] | None = None) -> bool:
    """Whether the CDN stand-in serves ``url`` (with ``query`` appended, or ``cookies`` sent) now."""
    key = serialization.load_pem_private_key(settings.cdn_private_key.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    config = Config(base_url=settings.cdn_url.rstrip("/"), bucket=settings.media_bucket,
                    key_pair_id=settings.cdn_key_pair_id, public_key=key.public_key(),
                    now=lambda: clock.now().timestamp())
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == config.base_url, url  # the CDN, not the bucket
    raw_query = "&".join(q for q in (parts.query, query) if q)
    headers = {}
    if cookies:
        jar = SimpleCookie()
        for name, value in cookies.items():
            jar[name] = value
        headers["Cookie"] = jar.output(header="", sep=";").strip()
    request = make_mocked_request("GET", parts.path + ("?" + raw_query if raw_query else ""), headers=headers)
    try:
        check_access(config, request)
    except Refused:
        return False
    return True


def cdn_url(settings: Settings, key: str) -> str:
    return f"{settings.cdn_url.rstrip('/')}/{key}"


# -- the media bucket -------------------------------------------------------------------


def s3() -> Any:
    return boto3.client("s3")


def put(key: str, data: bytes | str, bucket: str = TEST_SETTINGS.media_bucket) -> None:
    s3().put_object(Bucket=bucket, Key=key, Body=data.encode() if isinstance(data, str) else data)


def keys_under(prefix: str, bucket: str = TEST_SETTINGS.media_bucket) -> list[str]:
    found = s3().list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(item["Key"] for item in found)


def read(key: str, bucket: str = TEST_SETTINGS.media_bucket) -> bytes:
    return bytes(s3().get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.fixture
def media_bucket(aws: None) -> Iterator[str]:
    """The test media bucket, emptied after the test."""
    yield TEST_SETTINGS.media_bucket
    stored = keys_under("")
    if stored:
        s3().delete_objects(Bucket=TEST_SETTINGS.media_bucket, Delete={"Objects": [{"Key": k} for k in stored]})


# -- a room's HLS stream ------------------------------------------------------------------


def tone_segments(*tones: tuple[float, float]) -> list[bytes]:
    """Sine tones, each ``(seconds, hz)`` in turn, as AAC-LC in MPEG-TS segments of
    SEGMENT_SECONDS, as a room's worker writes them: one encoder for the whole stream, so
    timestamps run on, from zero."""
    rate = hls.SAMPLE_RATE
    samples = np.concatenate([0.5 * np.sin(2 * math.pi * hz * np.arange(int(seconds * rate)) / rate)
                              for seconds, hz in tones]).astype(np.float32)
    encoder = av.CodecContext.create("aac", "w")
    encoder.sample_rate, encoder.layout, encoder.format, encoder.bit_rate = rate, "mono", "fltp", 64_000
    encoder.time_base = Fraction(1, rate)
    packets: list[av.Packet] = []
    for start in range(0, len(samples) - 1023, 1024):
        frame = av.AudioFrame.from_ndarray(samples[start:start + 1024].reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    priming = -min(p.pts for p in packets)  # the encoder's first packet starts before zero
    per_segment = int(hls.SEGMENT_SECONDS * rate)
    groups: dict[int, list[av.Packet]] = {}
    for packet in packets:
        packet.pts += priming
        packet.dts += priming
        groups.setdefault(packet.pts // per_segment, []).append(packet)
    segments = []
    for index in sorted(groups):
        out = io.BytesIO()
        with av.open(out, "w", format="mpegts") as mux:
            stream = mux.add_stream("aac", rate=rate, layout="mono")
            stream.codec_context.extradata = encoder.extradata
            for packet in groups[index]:
                packet.stream = stream
                mux.mux(packet)
        segments.append(out.getvalue())
    return segments


def media_playlist(first_sequence: int, count: int, seconds: float = hls.SEGMENT_SECONDS, ended: bool = False) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{hls.TARGET_DURATION}",
             f"#EXT-X-MEDIA-SEQUENCE:{first_sequence}"]
    for sequence in range(first_sequence, first_sequence + count):
        lines += [f"#EXTINF:{seconds:.3f},", f"{sequence:08d}.ts"]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def put_stream(space_id: str, segments: list[bytes], first_sequence: int = 3, playlist: str = hls.LIVE_PLAYLIST) -> None:
    """The segments at their keys and a playlist naming them (relative URIs, as the worker writes)."""
    for offset, data in enumerate(segments):
        put(hls.segment_key(space_id, first_sequence + offset), data)
    put(hls.hls_prefix(space_id) + playlist, media_playlist(first_sequence, len(segments),
                                                            ended=playlist == hls.REPLAY_PLAYLIST))


def decoded(data: bytes) -> tuple[np.ndarray, int, str]:
    """An audio file's samples (mono), sample rate and codec."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = np.concatenate([frame.to_ndarray()[0] for frame in container.decode(stream)])
        return samples, stream.sample_rate, stream.codec_context.name


def spectrum(samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, magnitudes)."""
    return np.fft.rfftfreq(len(samples), 1 / rate), np.abs(np.fft.rfft(samples))


def peak_hz(samples: np.ndarray, rate: int) -> float:
    frequencies, magnitudes = spectrum(samples, rate)
    return float(frequencies[np.argmax(magnitudes)])


def level_near(samples: np.ndarray, rate: int, hz: float, width: float = 5.0) -> float:
    """The strongest magnitude within ``width`` Hz of ``hz``."""
    frequencies, magnitudes = spectrum(samples, rate)
    return float(magnitudes[np.abs(frequencies - hz) <= width].max())
