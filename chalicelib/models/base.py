"""What every model shares: its table name comes from settings, billing is on demand.

The name is looked up when PynamoDB first talks to the table, not when the model class
is defined, so importing a model reads no settings. The region is the SDK's
(``AWS_DEFAULT_REGION``, as for every client), and so is the endpoint
(``AWS_ENDPOINT_URL[_DYNAMODB]``): the same models talk to moto locally and to DynamoDB on AWS.
"""

from __future__ import annotations

from typing import Any

from chalicelib.settings import get_settings


class _TableMeta(type):
    @property
    def table_name(cls) -> str:
        return get_settings().table_name(cls.short_name)  # type: ignore[attr-defined]


def table_meta(short_name: str) -> Any:
    """A PynamoDB ``Meta`` for the table ``{prefix}-{short_name}``."""
    return _TableMeta("Meta", (), {"short_name": short_name, "billing_mode": "PAY_PER_REQUEST", "max_retry_attempts": 3})
