"""A clip: the last seconds of a room's HLS segments as one M4A file, remuxed — the AAC the
worker encoded once is copied, never decoded or encoded again.

Pure Python, because it runs in the API's Lambda: PyAV (ffmpeg) ships only manylinux_2_28
wheels, which Lambda's Python 3.11 runtime (Amazon Linux 2, glibc 2.26) cannot load. Both
formats involved are small and fixed: the worker's MPEG-TS segments carry AAC as ADTS frames
in PES packets (ISO/IEC 13818-1), and an M4A is an MP4 with one AAC track (ISO/IEC 14496-12
and -14): what this module reads and writes is exactly that, checked by decoding its output
with PyAV in the tests.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

TS_PACKET = 188
TS_CLOCK = 90_000
AAC_FRAME_SAMPLES = 1024
SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


@dataclass(frozen=True)
class ClipFile:
    data: bytes
    seconds: float


class NothingToClip(ValueError):
    """The segments hold no audio."""


@dataclass(frozen=True)
class AdtsFrame:
    pts: int  # 90 kHz
    data: bytes  # the whole ADTS frame, header included

    @property
    def header_length(self) -> int:
        return 7 if self.data[1] & 0x01 else 9  # protection_absent: no CRC

    @property
    def raw(self) -> bytes:
        return self.data[self.header_length:]


def last_seconds(segments: list[bytes], seconds: float) -> ClipFile:
    """An M4A of the last ``seconds`` of ``segments`` (MPEG-TS, in order), or all of them if shorter."""
    frames: list[AdtsFrame] = []
    for segment in segments:
        for frame in adts_frames(segment):
            if not frames or frame.pts > frames[-1].pts:  # a segment overlapping its predecessor adds nothing twice
                frames.append(frame)
    if not frames:
        raise NothingToClip("no audio")
    rate = SAMPLE_RATES[(frames[0].data[2] >> 2) & 0x0F]
    keep = min(len(frames), -(-int(seconds * rate) // AAC_FRAME_SAMPLES))  # whole frames, rounding up
    kept = frames[-keep:]
    return ClipFile(m4a(kept, rate), keep * AAC_FRAME_SAMPLES / rate)


# -- reading MPEG-TS --------------------------------------------------------------------


def adts_frames(ts: bytes) -> list[AdtsFrame]:
    """The ADTS frames of a transport stream's audio PES packets, each with its 90 kHz pts
    (a PES's pts is its first frame's; the ones after it follow at 1024 samples each)."""
    frames: list[AdtsFrame] = []
    for pts, payload in _audio_pes(ts):
        at, index = 0, 0
        while at + 7 <= len(payload) and payload[at] == 0xFF and payload[at + 1] & 0xF0 == 0xF0:
            length = ((payload[at + 3] & 0x03) << 11) | (payload[at + 4] << 3) | (payload[at + 5] >> 5)
            if length < 7 or at + length > len(payload):
                break
            rate = SAMPLE_RATES[(payload[at + 2] >> 2) & 0x0F]
            frames.append(AdtsFrame(pts + index * AAC_FRAME_SAMPLES * TS_CLOCK // rate, payload[at: at + length]))
            at, index = at + length, index + 1
    return frames


def _audio_pes(ts: bytes) -> list[tuple[int, bytes]]:
    """(pts, payload) of each complete audio PES packet (stream ids 0xC0–0xDF)."""
    packets: list[tuple[int, bytes]] = []
    pending: dict[int, bytearray] = {}  # by PID: the PES being gathered

    def finish(pes: bytes) -> None:
        if len(pes) < 9 or pes[:3] != b"\x00\x00\x01" or not 0xC0 <= pes[3] <= 0xDF or not pes[7] & 0x80:
            return
        p = pes[9:14]
        pts = ((p[0] >> 1) & 0x07) << 30 | p[1] << 22 | (p[2] >> 1) << 15 | p[3] << 7 | p[4] >> 1
        packets.append((pts, bytes(pes[9 + pes[8]:])))

    for start in range(0, len(ts) - TS_PACKET + 1, TS_PACKET):
        packet = ts[start: start + TS_PACKET]
        if packet[0] != 0x47:
            continue
        pid = ((packet[1] & 0x1F) << 8) | packet[2]
        unit_start = bool(packet[1] & 0x40)
        control = (packet[3] >> 4) & 0x03
        if pid == 0 or not control & 0x01:  # the PAT, or no payload
            continue
        body = 4 + (1 + packet[4] if control & 0x02 else 0)
        payload = packet[body:]
        if unit_start:
            if pid in pending:
                finish(bytes(pending.pop(pid)))
            if payload[:3] == b"\x00\x00\x01":
                pending[pid] = bytearray(payload)
        elif pid in pending:
            pending[pid] += payload
    for pes in pending.values():
        finish(bytes(pes))
    return packets


# -- writing M4A ------------------------------------------------------------------------


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *parts)


def _descriptor(tag: int, body: bytes) -> bytes:
    return bytes([tag, len(body)]) + body  # every length here is under 128: one byte


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def m4a(frames: list[AdtsFrame], rate: int) -> bytes:
    """An MP4 audio file ('M4A ') holding ``frames`` as one AAC track, its index first."""
    header = frames[0].data
    object_type = ((header[2] >> 6) & 0x03) + 1  # ADTS's profile is the object type minus one
    rate_index = (header[2] >> 2) & 0x0F
    channels = ((header[2] & 0x01) << 2) | (header[3] >> 6)
    config = struct.pack(">H", (object_type << 11) | (rate_index << 7) | (channels << 3))
    raws = [frame.raw for frame in frames]
    duration = len(raws) * AAC_FRAME_SAMPLES
    bit_rate = int(sum(len(r) for r in raws) * 8 * rate / duration)

    esds = _full_box(b"esds", 0, 0, _descriptor(0x03, struct.pack(">HB", 1, 0) + _descriptor(
        0x04, struct.pack(">BB", 0x40, 0x15) + (6144).to_bytes(3, "big") + struct.pack(">II", bit_rate, bit_rate)
        + _descriptor(0x05, config)) + _descriptor(0x06, b"\x02")))
    mp4a = _box(b"mp4a", bytes(6), struct.pack(">H", 1), bytes(8), struct.pack(">HHHH", channels, 16, 0, 0),
                struct.pack(">I", rate << 16), esds)

    def moov(data_offset: int) -> bytes:
        stbl = _box(b"stbl",
                    _full_box(b"stsd", 0, 0, struct.pack(">I", 1), mp4a),
                    _full_box(b"stts", 0, 0, struct.pack(">III", 1, len(raws), AAC_FRAME_SAMPLES)),
                    _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(raws), 1)),
                    _full_box(b"stsz", 0, 0, struct.pack(">II", 0, len(raws)), b"".join(struct.pack(">I", len(r)) for r in raws)),
                    _full_box(b"stco", 0, 0, struct.pack(">II", 1, data_offset)))
        minf = _box(b"minf", _full_box(b"smhd", 0, 0, bytes(4)),
                    _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1))), stbl)
        mdia = _box(b"mdia", _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, rate, duration, 0x55C4, 0)),
                    _full_box(b"hdlr", 0, 0, bytes(4), b"soun", bytes(12), b"SoundHandler\x00"), minf)
        tkhd = _full_box(b"tkhd", 0, 0x7, struct.pack(">IIIII", 0, 0, 1, 0, duration), bytes(8),
                         struct.pack(">HHHH", 0, 0, 0x0100, 0), _MATRIX, struct.pack(">II", 0, 0))
        mvhd = _full_box(b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, rate, duration), struct.pack(">IH", 0x10000, 0x0100),
                         bytes(10), _MATRIX, bytes(24), struct.pack(">I", 2))
        return _box(b"moov", mvhd, _box(b"trak", tkhd, mdia))

    ftyp = _box(b"ftyp", b"M4A ", struct.pack(">I", 0), b"M4A ", b"mp42", b"isom")
    index = moov(0)
    index = moov(len(ftyp) + len(index) + 8)  # the same size: the offset is a fixed-width field
    return ftyp + index + _box(b"mdat", *raws)
