"""Create the tables of every model (local stack and tests; on AWS the CDK owns them)."""

from __future__ import annotations

from chalicelib.models import ALL_MODELS


def create_all_tables(wait: bool = True) -> list[str]:
    created = []
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=wait)
            created.append(model.Meta.table_name)
    return created
