"""What every model shares: its table name comes from settings, billing is on demand."""

from __future__ import annotations

from typing import Any

from chalicelib.settings import get_settings


def table_meta(short_name: str) -> Any:
    """A PynamoDB ``Meta`` for the table ``{prefix}-{short_name}``.

    The endpoint is not set here: botocore reads ``AWS_ENDPOINT_URL[_DYNAMODB]``, so the
    same models talk to moto locally and to DynamoDB on AWS.
    """
    return type(
        "Meta",
        (),
        {
            "table_name": get_settings().table_name(short_name),
            "region": get_settings().region,
            "billing_mode": "PAY_PER_REQUEST",
            "max_retry_attempts": 3,
        },
    )
