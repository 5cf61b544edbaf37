"""Reports: anyone signed in reports a space, a user or a chat message."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, ValidationInfo

from chalicelib.api.routing import Call, Router
from chalicelib.api.schemas import Id, Strict
from chalicelib.errors import ValidationFailed
from chalicelib.models.reports import REASONS
from chalicelib.services.reports import Target
from chalicelib.text import clean_message
from chalicelib.wiring import services

router = Router(__name__, tag="reports")

NOTE_MAX_LENGTH = 500


def _note(value: str, info: ValidationInfo) -> str:
    return clean_message(value, info.field_name or "details", NOTE_MAX_LENGTH)


# Free text beside a report or a staff action: cleaned like chat.
Note = Annotated[str, Field(min_length=1, max_length=NOTE_MAX_LENGTH), AfterValidator(_note)]
Reason: Any = Literal[REASONS]  # type: ignore[valid-type]


class TargetIn(Strict):
    type: Literal["space", "user", "message"]
    id: Id
    space_id: Id | None = Field(default=None, description="the message's space (for a message only)")


class ReportIn(Strict):
    target: TargetIn
    reason: Reason = Field(description="why: one of a fixed list")
    details: Note | None = None


class ReportReceived(BaseModel):
    id: str
    status: Literal["received"]


@router.route("POST", "/v1/reports", summary="Report a space, a user or a chat message", body=ReportIn,
              response=ReportReceived, status=201)
def file_report(call: Call) -> ReportReceived:
    body: ReportIn = call.body
    if (body.target.type == "message") != (body.target.space_id is not None):
        raise ValidationFailed("target.space_id: required for a message, and only for one.")
    target = Target(body.target.type, body.target.id, body.target.space_id)
    report = services().reports.file(call.me, target, body.reason, body.details)
    return ReportReceived(id=report.report_id, status="received")
