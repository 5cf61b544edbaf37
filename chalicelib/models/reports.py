"""Reports people file about spaces, users and chat messages, the claims that keep one open
report per reporter and target, and the append-only log of what staff did."""

from __future__ import annotations

from pynamodb.attributes import MapAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.errors import ReportNotFound
from chalicelib.models.base import table_meta

OPEN, DISMISSED, ACTIONED = "open", "dismissed", "actioned"
TARGET_TYPES = ("space", "user", "message")
REASONS = ("spam", "harassment", "hate", "violence", "sexual_content", "self_harm", "misinformation",
           "impersonation", "other")


class ReportsByStatus(GlobalSecondaryIndex["ReportModel"]):
    """Staff's queue: reports of one status, oldest first (report ids are ULIDs)."""

    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    report_id = UnicodeAttribute(range_key=True)


class ReportModel(Model):
    Meta = table_meta("reports")

    report_id = UnicodeAttribute(hash_key=True)  # ULID
    reporter_id = UnicodeAttribute()
    target_type = UnicodeAttribute()  # one of TARGET_TYPES
    target_id = UnicodeAttribute()
    space_id = UnicodeAttribute(null=True)  # the message's space
    reason = UnicodeAttribute()
    details = UnicodeAttribute(null=True)
    # A message's text and sender as they were when reported: the evidence stays if the text goes.
    evidence: MapAttribute = MapAttribute(null=True)
    status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    resolved_at = UTCDateTimeAttribute(null=True)
    resolved_by = UnicodeAttribute(null=True)

    by_status = ReportsByStatus()

    @classmethod
    def lookup(cls, report_id: str) -> ReportModel:
        try:
            return cls.get(report_id)
        except cls.DoesNotExist as exc:
            raise ReportNotFound() from exc


class OpenReportClaimModel(Model):
    """One item per (reporter, target) while that reporter's report on it is open: written with
    the report under a "does not exist" condition, deleted with its resolution."""

    Meta = table_meta("open_report_claims")

    claim_key = UnicodeAttribute(hash_key=True)
    report_id = UnicodeAttribute()

    @staticmethod
    def key_for(reporter_id: str, target_type: str, target_id: str, space_id: str | None) -> str:
        return "#".join([reporter_id, target_type, space_id or "", target_id])


class StaffActionModel(Model):
    """The staff audit log: appended to with a "does not exist" condition, never updated or
    deleted by code. One partition (``log``) read newest first: staff actions are few."""

    Meta = table_meta("staff_audit")

    LOG = "staff"

    log = UnicodeAttribute(hash_key=True)
    entry_id = UnicodeAttribute(range_key=True)  # ULID: sorts by time
    at = UTCDateTimeAttribute()
    actor_id = UnicodeAttribute()  # a staff member's user id, or "admin:<who>" for the admin command
    action = UnicodeAttribute()
    target_type = UnicodeAttribute(null=True)
    target_id = UnicodeAttribute(null=True)
    report_id = UnicodeAttribute(null=True)
    note = UnicodeAttribute(null=True)
