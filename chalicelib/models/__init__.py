"""PynamoDB models, one module per aggregate. ``ALL_MODELS`` is the list of tables."""

from __future__ import annotations

from pynamodb.models import Model

from chalicelib.models.attempts import AttemptCounterModel
from chalicelib.models.audit import AuditEntryModel
from chalicelib.models.blocks import BlockModel
from chalicelib.models.connections import ConnectionModel
from chalicelib.models.follows import FollowModel
from chalicelib.models.idempotency import IdempotencyRecordModel
from chalicelib.models.media_workers import MediaPoolSlotModel, MediaWorkerModel
from chalicelib.models.messages import ChatThrottleModel, MessageModel
from chalicelib.models.notifications import (
    DeviceModel,
    DueReminderModel,
    NotificationModel,
    ReminderModel,
    SchedulerCursorModel,
)
from chalicelib.models.participants import OnStageModel, ParticipantModel
from chalicelib.models.reports import OpenReportClaimModel, ReportModel, StaffActionModel
from chalicelib.models.sessions import PasswordResetModel, SessionModel
from chalicelib.models.spaces import SpaceModel
from chalicelib.models.spent_tokens import SpentTokenModel
from chalicelib.models.tickets import PayoutAccountModel, TicketModel
from chalicelib.models.users import EmailModel, HandleModel, UserModel

ALL_MODELS: tuple[type[Model], ...] = (
    UserModel,
    HandleModel,
    FollowModel,
    BlockModel,
    SpaceModel,
    ParticipantModel,
    OnStageModel,
    AuditEntryModel,
    MediaWorkerModel,
    MediaPoolSlotModel,
    ConnectionModel,
    SpentTokenModel,
    MessageModel,
    ChatThrottleModel,
    NotificationModel,
    DeviceModel,
    ReminderModel,
    DueReminderModel,
    SchedulerCursorModel,
    PayoutAccountModel,
    TicketModel,
    IdempotencyRecordModel,
    AttemptCounterModel,
    SessionModel,
    PasswordResetModel,
    EmailModel,
    ReportModel,
    OpenReportClaimModel,
    StaffActionModel,
)

__all__ = ["ALL_MODELS", *(m.__name__ for m in ALL_MODELS)]
