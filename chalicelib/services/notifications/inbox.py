"""The in-app inbox and the devices that get push notifications.

An inbox item exists once per (user, kind, space[, variant]): it is written with a
condition on its key, so a redelivered send job writes nothing twice, and whatever is
pushed or announced follows a write made now.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.clock import Clock, iso, timestamp
from chalicelib.gateways.push import PushGateway
from chalicelib.models.notifications import DeviceModel, NotificationModel
from chalicelib.models.pagination import decode_cursor, encode_cursor


@dataclass(frozen=True)
class InboxPage:
    notifications: list[NotificationModel]
    next_cursor: str | None
    unread: int


class Inbox:
    def __init__(self, clock: Clock):
        self._clock = clock

    def add(self, user_ids: list[str], note: dict[str, Any]) -> list[NotificationModel]:
        """Put ``note`` in each user's inbox unless it is there already; returns only the
        items written now."""
        now = self._clock.now()
        key = f"{note['kind']}#{note['space_id']}" + (f"#{note['variant']}" if note.get("variant") else "")
        written = []
        for user_id in user_ids:
            item = NotificationModel(user_id=user_id, key=key, sort_at=f"{iso(now)}#{key}", kind=note["kind"],
                                     space_id=note["space_id"], title=note["title"], body=note["body"],
                                     data=note.get("data") or {}, read=False, created_at=now)
            try:
                item.save(condition=NotificationModel.key.does_not_exist())
            except PutError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    continue  # already notified (a redelivered job)
                raise
            written.append(item)
        return written

    def page(self, user_id: str, cursor: str | None, limit: int) -> InboxPage:
        """A page of a user's inbox, newest first, with the count of all their unread items."""
        result = NotificationModel.by_time.query(user_id, scan_index_forward=False, limit=limit,
                                                 last_evaluated_key=decode_cursor(cursor, NotificationModel.by_time))
        items = list(result)
        unread = NotificationModel.count(user_id, filter_condition=NotificationModel.read == False)  # noqa: E712
        return InboxPage(items, encode_cursor(result.last_evaluated_key), unread)

    def mark_read(self, user_id: str, keys: list[str] | None) -> int:
        """Mark some (or, with None, all) of a user's notifications read; someone else's or
        missing keys are skipped. Returns how many were marked."""
        if keys is None:
            targets = [n.key for n in NotificationModel.query(user_id, filter_condition=NotificationModel.read == False)]  # noqa: E712
        else:
            targets = keys
        changed = 0
        for key in targets:
            try:
                NotificationModel(user_id=user_id, key=key).update(actions=[NotificationModel.read.set(True)],
                                                                   condition=NotificationModel.key.exists())
                changed += 1
            except UpdateError:
                continue  # not theirs / not there
        return changed


class Devices:
    """A user's push endpoints: registered from the app, used for every inbox item, and
    forgotten when the push service says they are dead."""

    def __init__(self, push: PushGateway):
        self._push = push

    def register(self, user_id: str, platform: str, token: str) -> str:
        """Push to this device for ``user_id`` from now on; if it was someone else's (they
        signed out and this user signed in), it stops being theirs."""
        registration = self._push.register(platform, token, user_id)
        arn = registration.endpoint_arn
        DeviceModel(user_id=user_id).update(actions=[DeviceModel.endpoint_arns.add({arn})])
        if registration.previous_user_id:
            self._forget(registration.previous_user_id, arn)
        return arn

    def unregister(self, user_id: str, token: str) -> bool:
        """Stop pushing to this device token for ``user_id`` (sign-out on the device): its
        endpoint is deleted. A token that is not theirs (never, or moved to someone else since)
        changes nothing; returns whether one was removed."""
        removed = False
        for arn in self._arns(user_id):
            owned_token = self._push.owned_endpoint(arn, user_id)
            if owned_token is None:
                self._forget(user_id, arn)  # moved or gone: not theirs any more either way
            elif owned_token == token:
                self._push.delete(arn)
                self._forget(user_id, arn)
                removed = True
        return removed

    def unregister_all(self, user_id: str) -> None:
        """Every device of a deleted account: endpoints still theirs are deleted, the list goes."""
        for arn in self._arns(user_id):
            if self._push.owned_endpoint(arn, user_id) is not None:
                self._push.delete(arn)
        DeviceModel(user_id=user_id).delete()

    def _arns(self, user_id: str) -> set[str]:
        try:
            return set(DeviceModel.get(user_id).endpoint_arns or ())
        except DeviceModel.DoesNotExist:
            return set()

    def push(self, items: list[NotificationModel]) -> None:
        """Push each item to every device of its user, in parallel."""
        if not items:
            return
        by_user = {item.user_id: item for item in items}
        sends = []
        for device in DeviceModel.batch_get(list(by_user)):
            sends += [(device.user_id, arn) for arn in device.endpoint_arns or ()]
        if not sends:
            return

        def push(pair: tuple[str, str]) -> None:
            user_id, arn = pair
            item = by_user[user_id]
            if not self._push.send(arn, item.title, item.body, {"kind": item.kind, "space_id": item.space_id}):
                self._forget(user_id, arn)

        with ThreadPoolExecutor(max_workers=min(8, len(sends))) as pool:
            list(pool.map(push, sends))

    def _forget(self, user_id: str, arn: str) -> None:
        try:
            DeviceModel(user_id=user_id).update(actions=[DeviceModel.endpoint_arns.delete({arn})],
                                                condition=DeviceModel.user_id.exists())
        except UpdateError:
            pass  # no devices (any more): nothing to forget


def notification_view(item: NotificationModel) -> dict[str, Any]:
    """A notification as clients see it (the inbox and the ``notification.created`` event)."""
    data = dict(item.data.as_dict() if item.data is not None and hasattr(item.data, "as_dict") else (item.data or {}))
    # Stored as the jobs carry it (to the second, "" when unscheduled); shown as every time is.
    start = data.get("scheduled_start")
    data["scheduled_start"] = timestamp(datetime.fromisoformat(start.replace("Z", "+00:00"))) if start else None
    return {"id": item.key, "kind": item.kind, "space_id": item.space_id, "title": item.title, "body": item.body,
            "read": bool(item.read), "created_at": timestamp(item.created_at), "data": data}
