"""The worker's configuration, read once from the environment (flags may override)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class WorkerConfig:
    space_id: str
    token_public_key: str
    service_secret: str
    bind_host: str = "127.0.0.1"
    port: int = 9000
    public_host: str = "127.0.0.1"
    public_url: str = ""
    api_url: str = ""
    workers_table: str = ""
    heartbeat_seconds: float = 5.0
    empty_grace_seconds: float = 120.0
    # How many 20 ms frames a speaker may queue before old ones are dropped (latency bound).
    jitter_frames: int = 3
    # Optional STUN server (e.g. "stun:stun.l.google.com:19302"): behind a 1:1 NAT such as a
    # Fargate task's public IP, it lets the answer carry the public address. None by default.
    stun_url: str = ""
    # Send listeners' packets through media_worker.fastpath (RTP + SRTP + sendto) instead of
    # aiortc's RTCRtpSender. On by default; PARLOR_MEDIA_FAST_PATH=0 is the plain aiortc path.
    fast_path: bool = True
    # Packets a speaker's audio waits before decoding: 0 = none (each Opus packet is a whole
    # frame; media_worker.fastpath.ImmediateAudioBuffer), n = aiortc's buffer (its default 4 = 80 ms).
    # The room's playout buffer (media_worker.playout) absorbs the network's jitter.
    jitter_prefetch: int = 0

    @property
    def url(self) -> str:
        return self.public_url or f"http://{self.public_host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, argv: list[str] | None = None) -> WorkerConfig:
        env = os.environ if env is None else env
        parser = argparse.ArgumentParser(prog="python -m media_worker", description="Parlor media worker")
        parser.add_argument("--space-id", default=env.get("PARLOR_SPACE_ID", ""))
        parser.add_argument("--port", type=int, default=int(env.get("PARLOR_MEDIA_PORT", "9000")))
        parser.add_argument("--bind-host", default=env.get("PARLOR_MEDIA_BIND_HOST", "127.0.0.1"))
        parser.add_argument("--public-host", default=env.get("PARLOR_MEDIA_PUBLIC_HOST", "127.0.0.1"))
        args = parser.parse_args(argv if argv is not None else [])
        if not args.space_id:
            raise SystemExit("PARLOR_SPACE_ID (or --space-id) is required")
        return cls(
            space_id=args.space_id,
            token_public_key=env.get("PARLOR_MEDIA_TOKEN_PUBLIC_KEY", ""),
            service_secret=env.get("PARLOR_SERVICE_SECRET", ""),
            bind_host=args.bind_host,
            port=args.port,
            public_host=args.public_host,
            public_url=env.get("PARLOR_MEDIA_PUBLIC_URL", ""),
            api_url=env.get("PARLOR_API_URL", ""),
            workers_table=env.get("PARLOR_WORKERS_TABLE", ""),
            heartbeat_seconds=float(env.get("PARLOR_HEARTBEAT_SECONDS", "5")),
            empty_grace_seconds=float(env.get("PARLOR_EMPTY_GRACE_SECONDS", "120")),
            stun_url=env.get("PARLOR_MEDIA_STUN_URL", ""),
            fast_path=env.get("PARLOR_MEDIA_FAST_PATH", "1") not in ("0", "false", "no"),
            jitter_prefetch=int(env.get("PARLOR_MEDIA_JITTER_PREFETCH", "0")),
        )
