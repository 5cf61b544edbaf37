"""Reminders, the inbox and push devices."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from pydantic import BaseModel, Field

from chalicelib.api.routing import Call, Router
from chalicelib.api.schemas import PageQuery, Strict, Timestamp
from chalicelib.errors import ValidationFailed
from chalicelib.services.notifications.inbox import notification_view
from chalicelib.wiring import services

router = Router(__name__, tag="notifications")


class ReminderOut(BaseModel):
    reminding: bool
    changed: bool
    subscriber_count: int


class DeviceIn(Strict):
    platform: Literal["apns", "fcm"]
    # APNs tokens are hex and FCM tokens URL-safe text: printable ASCII, no spaces.
    token: str = Field(min_length=8, max_length=4096, pattern=r"^[\x21-\x7e]+$")


class DeviceOut(BaseModel):
    endpoint_arn: str


class NotificationData(BaseModel):
    """The space a notification is about; the same fields for every kind."""

    space_id: str
    title: str
    scheduled_start: Timestamp | None


class NotificationOut(BaseModel):
    id: str
    kind: Literal["space.scheduled", "space.starting_soon", "space.host_reminder", "space.live", "space.canceled",
                  "space.rescheduled"]
    space_id: str
    title: str
    body: str
    read: bool
    created_at: Timestamp
    data: NotificationData


class InboxOut(BaseModel):
    notifications: list[NotificationOut]
    next_cursor: str | None
    unread_count: int


class MarkReadIn(Strict):
    ids: list[str] | None = Field(default=None, max_length=100)
    all: bool = False


class MarkedOut(BaseModel):
    marked: int


@router.route("PUT", "/v1/spaces/{space_id}/reminder", summary="Remind me when this space starts", response=ReminderOut)
def remind_me(call: Call) -> ReminderOut:
    return ReminderOut(**asdict(services().reminders.set(call.me, call.params["space_id"], wanted=True)))


@router.route("DELETE", "/v1/spaces/{space_id}/reminder", summary="Stop reminding me", response=ReminderOut)
def stop_reminding(call: Call) -> ReminderOut:
    return ReminderOut(**asdict(services().reminders.set(call.me, call.params["space_id"], wanted=False)))


@router.route("POST", "/v1/me/devices", summary="Register a device for push (APNs or FCM token)", body=DeviceIn,
              response=DeviceOut, status=201)
def register_device(call: Call) -> DeviceOut:
    return DeviceOut(endpoint_arn=services().devices.register(call.me, call.body.platform, call.body.token))


@router.route("DELETE", "/v1/me/devices/{device_token}", summary="Stop pushing to this device (its APNs or FCM token)",
              status=204)
def unregister_device(call: Call) -> None:
    services().devices.unregister(call.me, call.params["device_token"])


@router.route("GET", "/v1/me/notifications", summary="My inbox, newest first", query=PageQuery, response=InboxOut)
def inbox(call: Call) -> InboxOut:
    page = services().inbox.page(call.me, call.query.cursor, call.query.limit)
    return InboxOut(notifications=[NotificationOut(**notification_view(n)) for n in page.notifications],
                    next_cursor=page.next_cursor, unread_count=page.unread)


@router.route("POST", "/v1/me/notifications/read", summary="Mark notifications read ({ids} or {all: true})",
              body=MarkReadIn, response=MarkedOut)
def mark_read(call: Call) -> MarkedOut:
    body: MarkReadIn = call.body
    if body.all == (body.ids is not None):
        raise ValidationFailed("Give either ids or all: true.")
    return MarkedOut(marked=services().inbox.mark_read(call.me, None if body.all else body.ids))
