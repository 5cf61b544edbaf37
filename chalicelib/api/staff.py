"""Platform moderation for trust and safety staff: the report queue, resolving reports, ending
any live space, suspending accounts and lifting suspensions, and the staff audit log. Every
route answers 403 ``not_staff`` to anyone else."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from chalicelib.api.reports import Note
from chalicelib.api.rooms import AuditEntryOut, _audit_out
from chalicelib.api.routing import Call, Router
from chalicelib.api.schemas import PageQuery, Strict, Timestamp
from chalicelib.models.reports import ReportModel, StaffActionModel
from chalicelib.models.users import UserModel
from chalicelib.services.staff import ReportInContext
from chalicelib.wiring import services

router = Router(__name__, tag="staff")


class ReportsQuery(PageQuery):
    status: Literal["open", "dismissed", "actioned"] = "open"


class ReportContext(BaseModel):
    """What the target looks like now (a message: as it was when reported)."""

    deleted: bool | None = None
    # a message
    space_id: str | None = None
    text: str | None = None
    sender_id: str | None = None
    sender_handle: str | None = None
    # a user
    handle: str | None = None
    display_name: str | None = None
    suspended: bool | None = None
    # a space
    title: str | None = None
    state: str | None = None
    host_id: str | None = None
    host_handle: str | None = None
    audit: list[AuditEntryOut] | None = Field(default=None, description="the space's moderation log, newest first")


class StaffTargetOut(BaseModel):
    type: Literal["space", "user", "message"]
    id: str
    space_id: str | None


class StaffReportOut(BaseModel):
    id: str
    reporter_id: str
    target: StaffTargetOut
    reason: str
    details: str | None
    status: Literal["open", "dismissed", "actioned"]
    created_at: Timestamp
    resolved_at: Timestamp | None = None
    resolved_by: str | None = None
    context: ReportContext | None = None


class StaffReportsOut(BaseModel):
    reports: list[StaffReportOut]
    next_cursor: str | None


class ResolveIn(Strict):
    outcome: Literal["dismissed", "actioned"]
    note: Note | None = None


class StaffActionIn(Strict):
    note: Note | None = Field(default=None, description="why, for the staff audit log")


class StaffSpaceOut(BaseModel):
    id: str
    state: str
    ended_at: Timestamp | None


class StaffUserOut(BaseModel):
    id: str
    handle: str
    suspended: bool
    suspended_at: Timestamp | None


class StaffActionOut(BaseModel):
    id: str
    at: Timestamp
    actor_id: str
    action: str
    target_type: str | None
    target_id: str | None
    report_id: str | None
    note: str | None


class StaffAuditOut(BaseModel):
    entries: list[StaffActionOut]
    next_cursor: str | None


def _me(call: Call) -> UserModel:
    assert call.user is not None
    return call.user


def _report_out(report: ReportModel, context: dict[str, Any] | None = None) -> StaffReportOut:
    if context is not None and "audit" in context:
        context = {**context, "audit": [_audit_out(e) for e in context["audit"]]}
    return StaffReportOut(
        id=report.report_id, reporter_id=report.reporter_id,
        target=StaffTargetOut(type=report.target_type, id=report.target_id, space_id=report.space_id),  # type: ignore[arg-type]
        reason=report.reason, details=report.details, status=report.status,  # type: ignore[arg-type]
        created_at=report.created_at, resolved_at=report.resolved_at, resolved_by=report.resolved_by,
        context=ReportContext(**context) if context is not None else None)


def _in_context(found: ReportInContext) -> StaffReportOut:
    return _report_out(found.report, found.context)


def _user_out(user: UserModel) -> StaffUserOut:
    return StaffUserOut(id=user.user_id, handle=user.handle, suspended=user.suspended_at is not None,
                        suspended_at=user.suspended_at)


def _note(call: Call) -> str | None:
    return call.body.note if call.body is not None else None


@router.route("GET", "/v1/staff/reports", summary="Reports to judge, oldest first, with context (staff)",
              query=ReportsQuery, response=StaffReportsOut)
def list_reports(call: Call) -> StaffReportsOut:
    q: ReportsQuery = call.query
    found, cursor = services().staff.reports(_me(call), q.status, q.cursor, q.limit)
    return StaffReportsOut(reports=[_in_context(f) for f in found], next_cursor=cursor)


@router.route("POST", "/v1/staff/reports/{report_id}/resolution", summary="Resolve a report: dismissed or actioned (staff)",
              body=ResolveIn, response=StaffReportOut)
def resolve_report(call: Call) -> StaffReportOut:
    body: ResolveIn = call.body
    return _report_out(services().staff.resolve(_me(call), call.params["report_id"], body.outcome, body.note))


@router.route("POST", "/v1/staff/spaces/{space_id}/end", summary="End any live space (staff)", body=StaffActionIn,
              body_optional=True, response=StaffSpaceOut)
def end_space(call: Call) -> StaffSpaceOut:
    space = services().staff.end_space(_me(call), call.params["space_id"], _note(call))
    return StaffSpaceOut(id=space.space_id, state=space.state, ended_at=space.ended_at)


@router.route("PUT", "/v1/staff/users/{user_id}/suspension",
              summary="Suspend an account: sessions revoked, its spaces ended or cancelled (staff)",
              body=StaffActionIn, body_optional=True, response=StaffUserOut)
def suspend_user(call: Call) -> StaffUserOut:
    return _user_out(services().staff.suspend(_me(call), call.params["user_id"], _note(call)))


@router.route("DELETE", "/v1/staff/users/{user_id}/suspension", summary="Lift a suspension (staff)",
              body=StaffActionIn, body_optional=True, response=StaffUserOut)
def lift_suspension(call: Call) -> StaffUserOut:
    return _user_out(services().staff.lift_suspension(_me(call), call.params["user_id"], _note(call)))


@router.route("GET", "/v1/staff/audit", summary="What staff did, newest first (staff)", query=PageQuery,
              response=StaffAuditOut)
def staff_audit(call: Call) -> StaffAuditOut:
    entries, cursor = services().staff.audit_log(_me(call), call.query.cursor, call.query.limit)
    return StaffAuditOut(entries=[_action_out(e) for e in entries], next_cursor=cursor)


def _action_out(e: StaffActionModel) -> StaffActionOut:
    return StaffActionOut(id=e.entry_id, at=e.at, actor_id=e.actor_id, action=e.action,  # type: ignore[arg-type]
                          target_type=e.target_type, target_id=e.target_id, report_id=e.report_id, note=e.note)


