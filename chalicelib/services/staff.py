"""Platform moderation by trust and safety staff: the queue of reports with what each needs
to be judged, resolving them, ending any live space, suspending an account and lifting a
suspension. Who is staff is a flag on the account that only the admin command sets
(``chalicelib/admin.py``). Every action is appended to the staff audit log, which no code
path updates or deletes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib.clock import Clock
from chalicelib.errors import AlreadySuspended, Forbidden, NotStaff, NotSuspended, ReportClosed
from chalicelib.ids import new_id
from chalicelib.models.audit import AuditEntryModel
from chalicelib.models.pagination import decode_cursor, encode_cursor
from chalicelib.models.reports import OPEN, OpenReportClaimModel, ReportModel, StaffActionModel
from chalicelib.models.spaces import SpaceModel
from chalicelib.models.transactions import Transaction
from chalicelib.models.users import UserModel
from chalicelib.services.sessions import Sessions
from chalicelib.services.spaces import SpaceService

# How much of a reported space's moderation log comes with its report.
SPACE_AUDIT_ENTRIES = 20


@dataclass
class ReportInContext:
    """A report and what a staff member needs to judge it."""

    report: ReportModel
    context: dict[str, Any] = field(default_factory=dict)


def require_staff(user: UserModel) -> None:
    """Staff routes are for trust and safety staff only (403 ``not_staff``)."""
    if not user.staff:
        raise NotStaff()


def record(clock: Clock, actor_id: str, action: str, target_type: str | None = None, target_id: str | None = None,
           report_id: str | None = None, note: str | None = None) -> StaffActionModel:
    """Append one entry to the staff audit log (never overwriting one)."""
    now = clock.now()
    entry = StaffActionModel(log=StaffActionModel.LOG, entry_id=new_id(now), at=now, actor_id=actor_id, action=action,
                             target_type=target_type, target_id=target_id, report_id=report_id, note=note)
    entry.save(condition=StaffActionModel.entry_id.does_not_exist())
    return entry


class StaffService:
    def __init__(self, connection: Connection, clock: Clock, sessions: Sessions, spaces: SpaceService):
        self._connection = connection
        self._clock = clock
        self._sessions = sessions
        self._spaces = spaces

    # -- reports -------------------------------------------------------------------

    def reports(self, staff: UserModel, status: str, cursor: str | None,
                limit: int) -> tuple[list[ReportInContext], str | None]:
        """Reports of a status (open by default), oldest first, each with its context."""
        require_staff(staff)
        result = ReportModel.by_status.query(status, limit=limit,
                                             last_evaluated_key=decode_cursor(cursor, ReportModel.by_status))
        found = [ReportInContext(report, self._context(report)) for report in result]
        return found, encode_cursor(result.last_evaluated_key)

    def resolve(self, staff: UserModel, report_id: str, outcome: str, note: str | None) -> ReportModel:
        """Close an open report as ``dismissed`` or ``actioned`` (409 ``report_closed`` if it is
        not open); its reporter may report the same target again afterwards."""
        require_staff(staff)
        report = ReportModel.lookup(report_id)
        now = self._clock.now()
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.change("report", report, [ReportModel.status.set(outcome), ReportModel.resolved_at.set(now),
                                             ReportModel.resolved_by.set(staff.user_id)],
                          condition=ReportModel.status == OPEN)
                tx.remove("claim", OpenReportClaimModel(claim_key=OpenReportClaimModel.key_for(
                    report.reporter_id, report.target_type, report.target_id, report.space_id)))
        except TransactWriteError as exc:
            if "report" in tx.failed_conditions(exc):
                raise ReportClosed() from exc
            raise
        record(self._clock, staff.user_id, f"report.{outcome}", report.target_type, report.target_id, report_id, note)
        report.refresh()
        return report

    # -- spaces and accounts -----------------------------------------------------------

    def end_space(self, staff: UserModel, space_id: str, note: str | None) -> SpaceModel:
        """End any live space as its host would (409 ``invalid_state`` if it is not live)."""
        require_staff(staff)
        space = self._spaces.end_by_staff(space_id)
        record(self._clock, staff.user_id, "space.ended", "space", space_id, note=note)
        return space

    def suspend(self, staff: UserModel, user_id: str, note: str | None) -> UserModel:
        """Suspend an account: from this write on it cannot sign in, refresh or use a token (403
        ``suspended``), so it cannot join a space; every session is revoked; its live space is
        ended and its scheduled spaces cancelled (refunding every buyer), as the host would.
        Staff accounts are not suspended (403 ``cannot_suspend_staff``: revoke the role first);
        409 ``already_suspended``. Running it again after a crash half-way finishes the job."""
        require_staff(staff)
        target = UserModel.lookup(user_id)
        if target.staff:
            raise Forbidden("Staff accounts are not suspended; revoke the staff role first.",
                            code="cannot_suspend_staff")
        try:
            target.update(actions=[UserModel.suspended_at.set(self._clock.now())],
                          condition=UserModel.user_id.exists() & UserModel.suspended_at.does_not_exist())
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            target.refresh()
            self._close(target)  # a retry after an interrupted suspension finishes it
            raise AlreadySuspended() from exc
        self._close(target)
        record(self._clock, staff.user_id, "user.suspended", "user", user_id, note=note)
        return target

    def lift_suspension(self, staff: UserModel, user_id: str, note: str | None) -> UserModel:
        """Lift a suspension (409 ``not_suspended``): the person may sign in again."""
        require_staff(staff)
        target = UserModel.lookup(user_id)
        try:
            target.update(actions=[UserModel.suspended_at.remove()], condition=UserModel.suspended_at.exists())
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise NotSuspended() from exc
            raise
        record(self._clock, staff.user_id, "user.suspension_lifted", "user", user_id, note=note)
        return target

    def audit_log(self, staff: UserModel, cursor: str | None, limit: int) -> tuple[list[StaffActionModel], str | None]:
        """The staff audit log, newest first."""
        require_staff(staff)
        result = StaffActionModel.query(StaffActionModel.LOG, scan_index_forward=False, limit=limit,
                                        last_evaluated_key=decode_cursor(cursor, StaffActionModel))
        return list(result), encode_cursor(result.last_evaluated_key)

    # -- internals -------------------------------------------------------------------

    def _close(self, target: UserModel) -> None:
        self._sessions.end_all(target.user_id)
        self._spaces.close_hosted(target)

    @staticmethod
    def _context(report: ReportModel) -> dict[str, Any]:
        if report.target_type == "message":
            evidence = report.evidence.as_dict() if report.evidence is not None else {}
            sender = _user(evidence.get("sender_id"))
            return {"space_id": report.space_id, "text": evidence.get("text"), "sender_id": evidence.get("sender_id"),
                    "sender_handle": sender.handle if sender else None}
        if report.target_type == "user":
            user = _user(report.target_id)
            return {"handle": user.handle if user else None, "display_name": user.display_name if user else None,
                    "suspended": bool(user and user.suspended_at is not None), "deleted": user is None}
        try:
            space = SpaceModel.get(report.target_id)
        except SpaceModel.DoesNotExist:
            return {"deleted": True}
        host = _user(space.creator_id)
        audit = list(AuditEntryModel.query(space.space_id, scan_index_forward=False, limit=SPACE_AUDIT_ENTRIES))
        return {"title": space.title, "state": space.state, "host_id": space.creator_id,
                "host_handle": host.handle if host else None, "audit": audit}


def _user(user_id: str | None) -> UserModel | None:
    if not user_id:
        return None
    try:
        return UserModel.get(user_id)
    except UserModel.DoesNotExist:
        return None
