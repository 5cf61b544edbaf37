"""Reports: anyone signed in reports a space, a user or a chat message for a reason from a
fixed list. The target must exist (and a direct message be one the reporter could see); each
reporter has at most one open report per target (a claim item written in the same
transaction, under a condition); the reporter learns nothing back but "received"."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError

from chalicelib.clock import Clock
from chalicelib.errors import AlreadyReported, MessageNotFound, RuleViolated
from chalicelib.ids import new_id
from chalicelib.models.messages import MessageModel
from chalicelib.models.reports import OPEN, OpenReportClaimModel, ReportModel
from chalicelib.models.spaces import SpaceModel
from chalicelib.models.transactions import Transaction
from chalicelib.models.users import UserModel


@dataclass(frozen=True)
class Target:
    type: str  # "space", "user" or "message"
    id: str
    space_id: str | None = None  # a message's space


class Reports:
    def __init__(self, connection: Connection, clock: Clock):
        self._connection = connection
        self._clock = clock

    def file(self, reporter_id: str, target: Target, reason: str, details: str | None) -> ReportModel:
        """File a report. 404 when the target does not exist (a direct message between two
        other people reads as absent); 422 ``cannot_report_self`` for one's own account; 409
        ``already_reported`` while the reporter's earlier report on the target is open."""
        evidence = self._check_target(reporter_id, target)
        now = self._clock.now()
        report = ReportModel(report_id=new_id(now), reporter_id=reporter_id, target_type=target.type,
                             target_id=target.id, space_id=target.space_id, reason=reason, details=details or None,
                             evidence=evidence, status=OPEN, created_at=now)
        claim = OpenReportClaimModel(claim_key=OpenReportClaimModel.key_for(reporter_id, target.type, target.id,
                                                                            target.space_id),
                                     report_id=report.report_id)
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.put("claim", claim, condition=OpenReportClaimModel.claim_key.does_not_exist())
                tx.put("report", report, condition=ReportModel.report_id.does_not_exist())
        except TransactWriteError as exc:
            if "claim" in tx.failed_conditions(exc):
                raise AlreadyReported() from exc
            raise
        return report

    @staticmethod
    def _check_target(reporter_id: str, target: Target) -> dict[str, str] | None:
        if target.type == "space":
            SpaceModel.lookup(target.id)
            return None
        if target.type == "user":
            if target.id == reporter_id:
                raise RuleViolated("You cannot report yourself.", code="cannot_report_self")
            UserModel.lookup(target.id, attributes_to_get=["user_id"])
            return None
        if not target.space_id:
            raise MessageNotFound("A message is named by its space_id and its id.")
        try:
            message = MessageModel.get(target.space_id, target.id)
        except MessageModel.DoesNotExist as exc:
            raise MessageNotFound() from exc
        if message.to_user_id and reporter_id not in (message.sender_id, message.to_user_id):
            raise MessageNotFound()  # someone else's direct message: not theirs to see, nor to report
        return {"text": message.text, "sender_id": message.sender_id}
