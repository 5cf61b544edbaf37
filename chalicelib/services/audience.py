"""The audience tier: what the room's media worker writes to the media bucket (its mix as HLS,
``media_worker.hls``) made available through the CDN — a live space's stream to the listeners
beyond the WebRTC cap, a recorded space's replay for 30 days, clips of either.

Every access is a CloudFront signature scoped to one space's stream (``gateways.cdn``), minted
after the same checks as joining: short for a live stream (a banned listener's ends at its
expiry; joining again renews it), hours for a replay (long enough to play it through).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import m3u8

from chalicelib.clock import Clock
from chalicelib.errors import (
    Banned,
    Conflict,
    Forbidden,
    InvalidState,
    NoAudienceTier,
    NotFound,
    NotHost,
    NotInSpace,
    TicketRequired,
    Unavailable,
)
from chalicelib.gateways.cdn import MediaAccess, SignedAccess
from chalicelib.gateways.media_store import MediaStore
from chalicelib.ids import new_id
from chalicelib.models.participants import BANNED, ParticipantModel
from chalicelib.models.spaces import ENDED, LIVE, SpaceModel
from chalicelib.services import clips
from chalicelib.services.rooms import Admission, TicketHolderAdmission
from parlor_contract import hls
from parlor_contract.hls import Retention

# A replay playlist is written by the worker as it closes, moments after the space ends: until
# this long after the end, a missing one is "being finished", not "none".
REPLAY_GRACE = timedelta(minutes=2)


@dataclass(frozen=True)
class Replay:
    access: SignedAccess
    available_until: datetime


@dataclass(frozen=True)
class Clip:
    clip_id: str
    space_id: str
    share: SignedAccess
    seconds: float
    created_at: datetime


class AudienceService:
    def __init__(self, clock: Clock, store: MediaStore | None, signer: MediaAccess | None,
                 access_lifetime: timedelta = timedelta(minutes=5), replay_lifetime: timedelta = timedelta(hours=4),
                 admission: Admission | None = None):
        self._clock = clock
        self._store = store
        self._signer = signer
        self._access_lifetime = access_lifetime
        self._replay_lifetime = replay_lifetime
        # Who may hear a ticketed space: the same answer as joining (``services.ticketing.seats``).
        self.admission: Admission = admission or TicketHolderAdmission()

    @property
    def available(self) -> bool:
        """Whether this deployment has the audience tier (a bucket and a CDN key)."""
        return self._store is not None and self._signer is not None

    # -- live ----------------------------------------------------------------------

    def live_access(self, space_id: str) -> SignedAccess:
        """The live playlist, signed for the space's stream (the caller checked admission)."""
        return self._sign(hls.live_playlist_key(space_id), hls.hls_prefix(space_id), self._access_lifetime)

    # -- replay ----------------------------------------------------------------------

    def replay_until(self, space: SpaceModel) -> datetime | None:
        """Until when an ended space's recording can be replayed; None when it cannot."""
        if space.state != ENDED or not space.recording or space.recording_deleted_at or space.ended_at is None:
            return None
        until = space.ended_at + timedelta(days=hls.RECORDING_DAYS)
        return until if until > self._clock.now() else None

    def replay(self, user_id: str, space_id: str) -> Replay:
        space = SpaceModel.lookup(space_id)
        until = self._require_replay(space)
        self._require_may_hear(space, user_id)
        store = self._require_store()
        if store.read(hls.replay_playlist_key(space_id)) is None:
            assert space.ended_at is not None
            if self._clock.now() - space.ended_at < REPLAY_GRACE:
                raise Unavailable("The recording is being finished; retry in a few seconds.", code="replay_processing",
                                  retry_after=5)
            raise NotFound("This space left no recording.", code="replay_not_found")
        lifetime = min(self._replay_lifetime, until - self._clock.now())
        return Replay(self._sign(hls.replay_playlist_key(space_id), hls.hls_prefix(space_id), lifetime), until)

    def delete_recording(self, actor_id: str, space_id: str) -> bool:
        """The creator deletes an ended space's recording (its segments and playlists; clips
        stay, they are their makers'). True if there was one to delete."""
        space = SpaceModel.lookup(space_id)
        if actor_id != space.creator_id:
            raise NotHost("Only the host deletes a space's recording.")
        if space.state != ENDED:
            raise InvalidState(f"A {space.state} space has no recording to delete yet.")
        store = self._require_store()
        first = space.recording_deleted_at is None
        if first:
            space.update(actions=[SpaceModel.recording_deleted_at.set(self._clock.now())])
        # Deleted again on a retry too: a worker that wrote late must not leave segments behind.
        store.delete_under(hls.hls_prefix(space_id))
        return first and bool(space.recording)

    # -- clips -------------------------------------------------------------------------

    def clip(self, user_id: str, space_id: str) -> Clip:
        """The last 30 s of a live space (its participants) or of a recording (whoever may
        replay it), as an M4A file with a share URL that works as long as the clip is kept."""
        space = SpaceModel.lookup(space_id)
        if not space.clipping:
            raise Forbidden("The host turned clipping off for this space.", code="clipping_disabled")
        if space.state == LIVE:
            participant = ParticipantModel.find(space_id, user_id)
            if participant is None or not participant.present:
                raise NotInSpace("Join the space to clip it.")
            playlist_key = hls.live_playlist_key(space_id)
        elif space.state == ENDED:
            self._require_replay(space)
            self._require_may_hear(space, user_id)
            playlist_key = hls.replay_playlist_key(space_id)
        else:
            raise InvalidState(f"A {space.state} space has nothing to clip.")
        store = self._require_store()
        segments = self._last_segments(store, space_id, playlist_key)
        try:
            made = clips.last_seconds(segments, hls.CLIP_SECONDS)
        except clips.NothingToClip as exc:
            raise Conflict("The space's stream has no audio yet; try again in a few seconds.",
                           code="nothing_to_clip") from exc
        now = self._clock.now()
        clip_id = new_id(now)
        key = hls.clip_key(space_id, clip_id)
        store.write(key, made.data, hls.CLIP_CONTENT_TYPE, hls.SEGMENT_CACHE_CONTROL, hls.retention_tagging(Retention.RECORDING))
        share = self._sign(key, key, timedelta(days=hls.RECORDING_DAYS))
        return Clip(clip_id, space_id, share, round(made.seconds, 3), now)

    def _last_segments(self, store: MediaStore, space_id: str, playlist_key: str) -> list[bytes]:
        """The segments that hold the playlist's last CLIP_SECONDS, oldest first."""
        text = store.read(playlist_key)
        playlist = m3u8.loads(text.decode()) if text else None
        if playlist is None or not playlist.segments:
            raise Conflict("The space's stream has no audio yet; try again in a few seconds.", code="nothing_to_clip")
        wanted, total = [], 0.0
        for segment in reversed(playlist.segments):
            wanted.append(segment.uri)
            total += float(segment.duration or 0)
            if total >= hls.CLIP_SECONDS + hls.SEGMENT_SECONDS:  # one more: the cut falls inside a segment
                break
        found = [store.read(hls.hls_prefix(space_id) + uri.rsplit("/", 1)[-1]) for uri in reversed(wanted)]
        return [data for data in found if data]

    # -- rules -------------------------------------------------------------------------

    def _require_replay(self, space: SpaceModel) -> datetime:
        if space.state != ENDED:
            raise InvalidState(f"A {space.state} space has no replay yet.", code="no_replay_yet")
        until = self.replay_until(space)
        if until is None:
            raise NotFound("This space has no replay: it did not record, its host deleted the recording, "
                           "or it expired.", code="replay_not_found")
        return until

    def _require_may_hear(self, space: SpaceModel, user_id: str) -> None:
        participant = ParticipantModel.find(space.space_id, user_id)
        if participant is not None and participant.status == BANNED:
            raise Banned()
        guests = {space.creator_id, *(space.invited_user_ids or [])}
        if user_id not in guests and not self.admission.admits(space, user_id):
            raise TicketRequired("This space's replay is for its ticket holders.")

    def _require_store(self) -> MediaStore:
        if self._store is None:
            raise NoAudienceTier()
        return self._store

    def _sign(self, key: str, scope_prefix: str, lifetime: timedelta) -> SignedAccess:
        if self._signer is None:
            raise NoAudienceTier()
        return self._signer.sign(key, scope_prefix, lifetime)
