"""PynamoDB models, one module per aggregate. ``ALL_MODELS`` is the list of tables."""

from __future__ import annotations

from pynamodb.models import Model

from chalicelib.models.follows import FollowModel
from chalicelib.models.users import HandleModel, UserModel

ALL_MODELS: tuple[type[Model], ...] = (UserModel, HandleModel, FollowModel)

__all__ = ["ALL_MODELS", "FollowModel", "HandleModel", "UserModel"]
