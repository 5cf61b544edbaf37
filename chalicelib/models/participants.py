"""Who is in a space, in which role; and who is on stage where (for the live feed)."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute, UnicodeSetAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from chalicelib.models.base import table_meta
from parlor_contract.media import STAGE_ROLES as STAGE_ROLES  # re-exported: the services import roles from here
from parlor_contract.media import Role

# The worker knows the same roles: they are the contract's. Typed as ``str``, which they are:
# a role read back from DynamoDB is a plain string and equals (and hashes as) these.
HOST: str = Role.HOST
COHOST: str = Role.COHOST
SPEAKER: str = Role.SPEAKER
LISTENER: str = Role.LISTENER
ROLES: tuple[str, ...] = tuple(Role)

# How a participant hears the room: a WebRTC peer of its media worker (the stage always; the
# listeners up to the room's cap), or the HLS stream through the CDN (the listeners beyond it).
WEBRTC, HLS = "webrtc", "hls"
TRANSPORTS = (WEBRTC, HLS)

# Participant status.
PRESENT, LEFT, REMOVED, BANNED = "present", "left", "removed", "banned"


class ParticipantModel(Model):
    Meta = table_meta("participants")

    space_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)
    role = UnicodeAttribute(default=LISTENER)
    status = UnicodeAttribute(default=PRESENT)
    muted = BooleanAttribute(default=False)
    transport = UnicodeAttribute(null=True)  # WEBRTC (also when unset: records from before HLS) or HLS
    hand_raised_at = UTCDateTimeAttribute(null=True)
    # A listener hidden from the other listeners and the speakers (the hosts see them); set only
    # when true (the listing filters on its absence), removed as they go on stage.
    incognito = BooleanAttribute(null=True)
    joined_at = UTCDateTimeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)

    @property
    def present(self) -> bool:
        return self.status == PRESENT

    @property
    def hears_through_hls(self) -> bool:
        return self.transport == HLS

    @classmethod
    def find(cls, space_id: str, user_id: str) -> ParticipantModel | None:
        """The participant record (strongly consistent: roles change under people's feet), or None."""
        try:
            return cls.get(space_id, user_id, consistent_read=True)
        except cls.DoesNotExist:
            return None


class OnStageModel(Model):
    """The live spaces in which a user is host, co-host or speaker.

    Keyed by user, so the purple-circles feed is a BatchGet over the people I follow
    (100 keys a request) instead of a scan of all live spaces.
    """

    Meta = table_meta("on_stage")

    user_id = UnicodeAttribute(hash_key=True)
    space_ids = UnicodeSetAttribute(null=True)
