"""The push gateway turns SNS's refusals of a device token into a 400."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from chalicelib.errors import ValidationFailed
from chalicelib.gateways.push import PushGateway


class RefusingSns:
    def create_platform_endpoint(self, **_: object) -> dict:
        raise ClientError({"Error": {"Code": "InvalidParameter", "Message": "Invalid parameter: Token Reason: iOS "
                                     "device tokens must be no more than 400 hexadecimal characters"}},
                          "CreatePlatformEndpoint")


def test_a_token_sns_refuses_is_invalid_input():
    gateway = PushGateway(lambda: RefusingSns(), {"apns": "arn:aws:sns:us-east-1:1:app/APNS/parlor"})
    with pytest.raises(ValidationFailed) as refused:
        gateway.register("apns", "f" * 401, "user")
    assert refused.value.code == "invalid_device_token" and refused.value.status == 400
