"""Mobile push through SNS platform endpoints (APNs and FCM)."""

from __future__ import annotations

import json
from typing import Any, Callable

from botocore.exceptions import ClientError

from chalicelib.errors import RuleViolated
from chalicelib.logs import logger

# Answers from SNS that mean the endpoint will never work again: remove it, don't retry.
_DEAD_ENDPOINT = {"EndpointDisabled", "InvalidParameter", "NotFound", "PlatformApplicationDisabled"}


class PushGateway:
    def __init__(self, sns: Callable[[], Any], platform_arns: dict[str, str]):
        self._sns = sns
        self._platform_arns = platform_arns

    def register(self, platform: str, token: str, user_id: str) -> str:
        """The SNS endpoint ARN for a device token (SNS returns the same ARN for the same token)."""
        arn = self._platform_arns.get(platform)
        if not arn:
            raise RuleViolated(f"Push for {platform} is not configured.", code="push_not_configured")
        response = self._sns().create_platform_endpoint(PlatformApplicationArn=arn, Token=token, CustomUserData=user_id)
        return str(response["EndpointArn"])

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
