"""Mobile push through SNS platform endpoints (APNs and FCM)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from botocore.exceptions import ClientError

from chalicelib.errors import RuleViolated, ValidationFailed
from chalicelib.logs import logger

# Answers from SNS that mean the endpoint will never work again: remove it, don't retry.
_DEAD_ENDPOINT = {"EndpointDisabled", "InvalidParameter", "NotFound", "PlatformApplicationDisabled"}
# SNS refuses to create a second endpoint for a token whose endpoint carries other attributes
# (another user's CustomUserData, or Enabled=false) and names the existing one in the message.
_EXISTING_ENDPOINT = re.compile(r"Endpoint (arn:\S+) already exists with the same [Tt]oken")


@dataclass(frozen=True)
class Registration:
    endpoint_arn: str
    previous_user_id: str | None  # who the device belonged to before, if someone else


class PushGateway:
    def __init__(self, sns: Callable[[], Any], platform_arns: dict[str, str]):
        self._sns = sns
        self._platform_arns = platform_arns

    def register(self, platform: str, token: str, user_id: str) -> Registration:
        """The SNS endpoint for a device token, now enabled and belonging to ``user_id``.

        A token names a device, and a device belongs to whoever signed in on it last (as APNs
        and FCM see it): a token registered before by someone else moves to ``user_id``, who
        is told who had it. This is the create-or-update flow AWS documents for SNS endpoints.
        """
        application_arn = self._platform_arns.get(platform)
        if not application_arn:
            raise RuleViolated(f"Push for {platform} is not configured.", code="push_not_configured")
        sns = self._sns()
        try:
            response = sns.create_platform_endpoint(PlatformApplicationArn=application_arn, Token=token,
                                                    CustomUserData=user_id)
            endpoint_arn = str(response["EndpointArn"])
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") != "InvalidParameter":
                raise
            existing = _EXISTING_ENDPOINT.search(error.get("Message", ""))
            if not existing:  # e.g. "iOS device tokens must be no more than 400 hexadecimal characters"
                raise ValidationFailed("The push service refused that device token.",
                                       code="invalid_device_token") from exc
            endpoint_arn = existing.group(1)
        attributes = sns.get_endpoint_attributes(EndpointArn=endpoint_arn).get("Attributes", {})
        owner = attributes.get("CustomUserData") or None
        if owner != user_id or str(attributes.get("Enabled", "")).lower() != "true" or attributes.get("Token") != token:
            sns.set_endpoint_attributes(EndpointArn=endpoint_arn,
                                        Attributes={"CustomUserData": user_id, "Enabled": "true", "Token": token})
        return Registration(endpoint_arn, owner if owner != user_id else None)

    def owned_endpoint(self, endpoint_arn: str, user_id: str) -> str | None:
        """The device token of an endpoint that still belongs to ``user_id`` (None: gone or moved)."""
        try:
            attributes = self._sns().get_endpoint_attributes(EndpointArn=endpoint_arn).get("Attributes", {})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") in _DEAD_ENDPOINT:
                return None
            raise
        return attributes.get("Token") if attributes.get("CustomUserData") == user_id else None

    def delete(self, endpoint_arn: str) -> None:
        """Delete an endpoint (SNS answers success for one that is already gone)."""
        self._sns().delete_endpoint(EndpointArn=endpoint_arn)

    def send(self, endpoint_arn: str, title: str, body: str, data: dict[str, Any]) -> bool:
        """Push one message; False when the endpoint is dead (the caller forgets it)."""
        apns = {"aps": {"alert": {"title": title, "body": body}, "sound": "default"}, **data}
        fcm = {"notification": {"title": title, "body": body}, "data": {k: str(v) for k, v in data.items()}}
        message = {"default": body, "APNS": json.dumps(apns), "APNS_SANDBOX": json.dumps(apns), "GCM": json.dumps(fcm)}
        try:
            self._sns().publish(TargetArn=endpoint_arn, MessageStructure="json", Message=json.dumps(message))
            return True
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _DEAD_ENDPOINT:
                try:
                    self._sns().delete_endpoint(EndpointArn=endpoint_arn)
                except ClientError:
                    pass
                return False
            logger.warning("push failed", extra={"endpoint": endpoint_arn, "code": code})
            return True  # a passing failure: keep the endpoint
