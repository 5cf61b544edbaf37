"""The batch fan-out: the room's encoded packet goes to every listener in one call. Per
listener it is the fast path's work (``media_worker/fastpath.py``: an RTP header, the
listener's SRTP protect, a datagram), done below Python by ``media_worker/fanout.c``: the
packets for listeners sharing a socket leave in one ``sendmmsg``.

``new_fanout()`` picks the compiled implementation (``media_worker._batch``, built by
``make native``) when it loads, else a pure-Python one with the same behaviour and bytes;
which one, and why, is logged once per process.

Rules both keep (``tests/media_worker/test_batch.py``):
- every packet takes the listener's next sequence number, sent or not, and the timestamp
  ``ts_offset + pts``; a packet the kernel refuses (socket buffer full, closed socket, bad
  address) is dropped and counted on that listener, never retried, never waited for;
  a full or closed socket drops the rest of that batch's packets for it;
- the batch starts one listener further each time, so a full socket buffer does not always
  drop the same listeners' packets;
- the SRTP session is the listener's own (aiortc's, keyed by its DTLS handshake): its
  rollover counter and replay state are the ones aiortc's RTCP goes on using;
- the socket is the caller's: never closed here. Remove (or update) a listener before its
  socket closes: a closed descriptor's number may be reused by another file.

A fanout belongs to one thread, the one owning the sessions (aiortc's event loop).
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import socket
import struct
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cache
from time import monotonic
from typing import Any, Literal

import pylibsrtp

logger = logging.getLogger("media_worker.batch")

Implementation = Literal["compiled", "python"]
Address = tuple[Any, ...]  # a socket address as Python spells it: (host, port) or (host, port, flowinfo, scope_id)

_HEADER = struct.Struct("!BBHII")
# Errors that are the socket's, not one packet's: the rest of the batch for it is dropped (as fanout.c does).
_WHOLE_SOCKET = {errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS, errno.EBADF, errno.ENOTSOCK, errno.ENOTCONN}

# pylibsrtp 1.0.0 (libsrtp 2) internals, reached from here only; tests/media_worker/test_batch.py
# fails first if an upgrade moves them.
SRTP_MAX_TRAILER_LEN = pylibsrtp.SRTP_MAX_TRAILER_LEN  # fanout.c assumes 16 + 128
PAYLOAD_MAX = 1500 - SRTP_MAX_TRAILER_LEN - _HEADER.size  # what pylibsrtp's own buffer takes


def srtp_protect_address() -> int:
    """The address of libsrtp's ``srtp_protect`` inside pylibsrtp's binding (libsrtp 2:
    ``srtp_err_status_t (*)(srtp_t, void *, int *)``): the compiled fan-out calls the very
    libsrtp pylibsrtp does, never a second copy."""
    from pylibsrtp._binding import ffi, lib

    return int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_protect")))


def srtp_context(session: pylibsrtp.Session) -> int:
    """A pylibsrtp session's ``srtp_t``; valid while the session object lives."""
    from pylibsrtp._binding import ffi

    return int(ffi.cast("uintptr_t", session._srtp[0]))


def _srtp_status(error: pylibsrtp.Error) -> int:
    """libsrtp's status behind a pylibsrtp error (its message is the status's entry in a list)."""
    return pylibsrtp.ERRORS.index(str(error)) if str(error) in pylibsrtp.ERRORS else 1  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ListenerStats:
    """What a sender report needs (RFC 3550 6.4.1), and what went wrong."""

    sent: int  # packets the kernel took
    octets: int  # their payload octets
    last_timestamp: int  # the RTP timestamp of the last packet taken...
    last_sent_at: float  # ...and when (time.monotonic() seconds; 0.0 before the first)
    errors: int  # packets dropped: refused by the kernel, or not protected
    last_error: int  # errno of the last refusal; minus libsrtp's status if protecting failed; 0: none
    seq: int  # the sequence number of the last packet, sent or dropped


class Fanout(ABC):
    """Listeners (each a slot id, stable until removed) and the batch that reaches them all."""

    implementation: Implementation

    @abstractmethod
    def add(self, session: pylibsrtp.Session, fd: int, address: Address, ssrc: int, payload_type: int, seq: int,
            ts_offset: int) -> int:
        """A listener: its SRTP session, the socket (descriptor) and address its packets go to,
        its RTP stream (``seq`` is the last sequence number used: the next packet carries
        ``seq + 1``, as ``FastSender`` keeps it). Returns its slot."""

    @abstractmethod
    def update(self, slot: int, session: pylibsrtp.Session, fd: int, address: Address) -> None:
        """The listener's route changed (a new ICE pair, a new session); its stream goes on."""

    @abstractmethod
    def remove(self, slot: int) -> None: ...

    @abstractmethod
    def send(self, payload: bytes, pts: int) -> int:
        """One encoded packet to every listener; returns how many packets the kernel took."""

    @abstractmethod
    def stats(self, slot: int) -> ListenerStats: ...

    @abstractmethod
    def __len__(self) -> int: ...


def _sockaddr(address: Address) -> tuple[int, bytes]:
    """The address family and ``struct sockaddr`` bytes of a numeric address (ICE's are)."""
    host, port = address[0], address[1]
    try:
        family, _, _, _, found = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST)[0]
    except socket.gaierror as error:
        raise ValueError(f"not a numeric socket address: {address!r}") from error
    resolved: tuple[Any, ...] = tuple(found)
    packed = socket.inet_pton(family, str(resolved[0]))
    if family == socket.AF_INET:
        return family, struct.pack("=H", family) + struct.pack("!H", port) + packed + bytes(8)
    flowinfo = address[2] if len(address) > 2 else resolved[2]
    scope_id = address[3] if len(address) > 3 and address[3] else resolved[3]  # fe80::1%eth0 gives its scope here
    return family, struct.pack("=H", family) + struct.pack("!HI", port, flowinfo) + packed + struct.pack("=I", scope_id)


def _payload(payload: bytes) -> None:
    if len(payload) > PAYLOAD_MAX:
        raise ValueError(f"payload of {len(payload)} bytes: at most {PAYLOAD_MAX} fit a packet")


class CompiledFanout(Fanout):
    """The batch in C (``media_worker/fanout.c``); Python only keeps the sessions alive."""

    implementation: Implementation = "compiled"

    def __init__(self) -> None:
        from media_worker._batch import ffi, lib

        self._ffi, self._lib = ffi, lib
        self._fanout = ffi.gc(lib.fanout_new(srtp_protect_address()), lib.fanout_free)
        if self._fanout == ffi.NULL:
            raise MemoryError("fanout_new")
        self._sessions: dict[int, pylibsrtp.Session] = {}  # the C side holds their srtp_t

    def add(self, session: pylibsrtp.Session, fd: int, address: Address, ssrc: int, payload_type: int, seq: int,
            ts_offset: int) -> int:
        _, sockaddr = _sockaddr(address)
        slot = self._lib.fanout_add(self._fanout, srtp_context(session), fd, sockaddr, len(sockaddr), ssrc & 0xFFFFFFFF,
                                    payload_type, seq & 0xFFFF, ts_offset & 0xFFFFFFFF)
        if slot < 0:
            raise MemoryError("fanout_add")
        self._sessions[slot] = session
        return slot

    def update(self, slot: int, session: pylibsrtp.Session, fd: int, address: Address) -> None:
        _, sockaddr = _sockaddr(address)
        if slot not in self._sessions:
            raise KeyError(slot)
        self._lib.fanout_update(self._fanout, slot, srtp_context(session), fd, sockaddr, len(sockaddr))
        self._sessions[slot] = session

    def remove(self, slot: int) -> None:
        if self._lib.fanout_remove(self._fanout, slot) < 0:
            raise KeyError(slot)
        del self._sessions[slot]

    def send(self, payload: bytes, pts: int) -> int:
        _payload(payload)
        return int(self._lib.fanout_send(self._fanout, payload, len(payload), pts & 0xFFFFFFFF))

    def stats(self, slot: int) -> ListenerStats:
        out = self._ffi.new("struct fanout_stats *")
        if self._lib.fanout_stats(self._fanout, slot, out) < 0:
            raise KeyError(slot)
        return ListenerStats(sent=out.sent, octets=out.octets, last_timestamp=out.last_timestamp, last_sent_at=out.last_sent_at,
                             errors=out.errors, last_error=out.last_error, seq=out.seq)

    def __len__(self) -> int:
        return int(self._lib.fanout_len(self._fanout))


@dataclass
class _Listener:
    session: pylibsrtp.Session
    fd: int
    family: int
    address: Address
    ssrc: int
    payload_type: int
    seq: int
    ts_offset: int
    sent: int = 0
    octets: int = 0
    last_timestamp: int = 0
    last_sent_at: float = 0.0
    errors: int = 0
    last_error: int = 0

    def refused(self, error: int) -> None:
        self.errors += 1
        self.last_error = error


def _copy_of(fd: int) -> socket.socket:
    """A socket object on a copy of the caller's descriptor: closing it leaves theirs open."""
    copy = os.dup(fd)
    try:
        return socket.socket(fileno=copy)
    except OSError:
        os.close(copy)
        raise


class PythonFanout(Fanout):
    """The same batch, a packet at a time in Python: the fallback where the compiled module
    is not built, and the reference the compiled one is tested against."""

    implementation: Implementation = "python"

    def __init__(self) -> None:
        self._listeners: dict[int, _Listener] = {}
        self._ids = itertools.count()
        self._next_start = 0

    def add(self, session: pylibsrtp.Session, fd: int, address: Address, ssrc: int, payload_type: int, seq: int,
            ts_offset: int) -> int:
        family, _ = _sockaddr(address)  # the same addresses as the compiled one refuses
        slot = next(self._ids)
        self._listeners[slot] = _Listener(session, fd, family, tuple(address), ssrc & 0xFFFFFFFF, payload_type & 0x7F, seq & 0xFFFF,
                                          ts_offset & 0xFFFFFFFF)
        return slot

    def update(self, slot: int, session: pylibsrtp.Session, fd: int, address: Address) -> None:
        family, _ = _sockaddr(address)
        listener = self._listeners[slot]
        listener.session, listener.fd, listener.family, listener.address = session, fd, family, tuple(address)

    def remove(self, slot: int) -> None:
        del self._listeners[slot]

    def send(self, payload: bytes, pts: int) -> int:
        _payload(payload)
        listeners = list(self._listeners.values())
        if not listeners:
            return 0
        start = self._next_start % len(listeners)
        self._next_start = start + 1
        listeners = listeners[start:] + listeners[:start]
        accepted, run = 0, 0
        while run < len(listeners):  # runs of listeners on the same socket, as fanout.c sends them
            end = run
            while end < len(listeners) and listeners[end].fd == listeners[run].fd:
                end += 1
            accepted += self._send_run(listeners[run:end], payload, pts)
            run = end
        return accepted

    @staticmethod
    def _send_run(listeners: list[_Listener], payload: bytes, pts: int) -> int:
        packets: list[tuple[_Listener, bytes, int]] = []
        for listener in listeners:
            listener.seq = (listener.seq + 1) & 0xFFFF
            timestamp = (listener.ts_offset + pts) & 0xFFFFFFFF
            try:
                packet = listener.session.protect(_HEADER.pack(0x80, listener.payload_type, listener.seq, timestamp,
                                                               listener.ssrc) + payload)
            except pylibsrtp.Error as error:
                listener.refused(-_srtp_status(error))
                continue
            packets.append((listener, packet, timestamp))
        try:
            sock = _copy_of(listeners[0].fd)
        except OSError as error:
            for listener, _, _ in packets:
                listener.refused(error.errno or errno.EBADF)
            return 0
        accepted = 0
        with sock:
            for index, (listener, packet, timestamp) in enumerate(packets):
                address = listener.address
                if listener.family != sock.family:
                    if sock.family != socket.AF_INET6:  # refused as the kernel refuses it in fanout.c
                        listener.refused(errno.EAFNOSUPPORT)
                        continue
                    address = ("::ffff:" + address[0], address[1], 0, 0)  # a dual-stack socket: as the kernel maps it
                try:
                    sock.sendto(packet, socket.MSG_DONTWAIT, address)
                except OSError as error:
                    code = error.errno or errno.EINVAL
                    if code not in _WHOLE_SOCKET:
                        listener.refused(code)
                        continue
                    for dropped, _, _ in packets[index:]:
                        dropped.refused(code)
                    break
                listener.sent += 1
                listener.octets += len(payload)
                listener.last_timestamp = timestamp
                listener.last_sent_at = monotonic()
                accepted += 1
        return accepted

    def stats(self, slot: int) -> ListenerStats:
        listener = self._listeners[slot]
        return ListenerStats(sent=listener.sent, octets=listener.octets, last_timestamp=listener.last_timestamp,
                             last_sent_at=listener.last_sent_at, errors=listener.errors, last_error=listener.last_error,
                             seq=listener.seq)

    def __len__(self) -> int:
        return len(self._listeners)


class CompiledFanoutUnavailable(RuntimeError):
    """``batch_impl="compiled"`` where ``media_worker._batch`` does not load."""


def compiled_unavailable() -> str | None:
    """Why the compiled fan-out cannot run here, or None when it can."""
    try:
        from media_worker._batch import lib

        lib.fanout_len  # noqa: B018 - the module is the one fanout.c builds
        srtp_protect_address()
    except (ImportError, AttributeError) as error:
        return f"{type(error).__name__}: {error}"
    return None


@cache
def _announce(implementation: Implementation, reason: str) -> None:
    """Once per process and choice: which fan-out sends, and why."""
    level = logging.WARNING if implementation == "python" and reason.startswith("media_worker._batch") else logging.INFO
    logger.log(level, "batch fan-out: %s (%s)", implementation, reason)


def new_fanout(impl: Literal["auto", "compiled", "python"] = "auto") -> Fanout:
    """``auto``: the compiled fan-out when it loads, else the Python one (with a warning: it
    is the slow one); ``compiled`` raises ``CompiledFanoutUnavailable`` where it cannot load;
    ``python``: the Python one."""
    if impl == "python":
        _announce("python", "batch_impl=python")
        return PythonFanout()
    problem = compiled_unavailable()
    if problem is None:
        _announce("compiled", f"batch_impl={impl}, media_worker._batch loaded")
        return CompiledFanout()
    if impl == "compiled":
        raise CompiledFanoutUnavailable(f"media_worker._batch does not load ({problem}); build it with `make native`")
    _announce("python", f"media_worker._batch does not load ({problem}); build it with `make native`")
    return PythonFanout()
