"""PynamoDB models, one module per aggregate. ``ALL_MODELS`` is the list of tables."""

from __future__ import annotations

from pynamodb.models import Model

from chalicelib.models.audit import AuditEntryModel
from chalicelib.models.follows import FollowModel
from chalicelib.models.media_workers import MediaWorkerModel
from chalicelib.models.participants import OnStageModel, ParticipantModel
from chalicelib.models.spaces import SpaceModel
from chalicelib.models.users import HandleModel, UserModel

ALL_MODELS: tuple[type[Model], ...] = (
    UserModel,
    HandleModel,
    FollowModel,
    SpaceModel,
    ParticipantModel,
    OnStageModel,
    AuditEntryModel,
    MediaWorkerModel,
)

__all__ = ["ALL_MODELS", "AuditEntryModel", "FollowModel", "HandleModel", "MediaWorkerModel", "OnStageModel",
           "ParticipantModel", "SpaceModel", "UserModel"]
