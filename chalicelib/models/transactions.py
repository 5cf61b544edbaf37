"""Transactions whose items carry names, so a cancellation says which condition failed.

PynamoDB sends a transaction's items grouped (condition checks, deletes, puts, updates),
and DynamoDB reports cancellation reasons in that order, not in the order the code
added them. ``Transaction`` keeps a label per item in the order they are sent.
"""

from __future__ import annotations

from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite


class Transaction(TransactWrite):
    def __init__(self, connection: Connection):
        super().__init__(connection=connection)
        self._labels: dict[str, list[str]] = {"check": [], "delete": [], "put": [], "update": []}

    def check(self, label: str, model_cls: type[Model], hash_key: str, range_key: str | None, condition: Any) -> None:
        """A condition on an item the transaction does not write (it fails the whole transaction)."""
        self.condition_check(model_cls, hash_key, range_key, condition=condition)
        self._labels["check"].append(label)

    def put(self, label: str, model: Model, condition: Any = None) -> None:
        self.save(model, condition=condition)
        self._labels["put"].append(label)

    def change(self, label: str, model: Model, actions: list[Any], condition: Any = None) -> None:
        self.update(model, actions=actions, condition=condition)
        self._labels["update"].append(label)

    def remove(self, label: str, model: Model, condition: Any = None) -> None:
        self.delete(model, condition=condition)
        self._labels["delete"].append(label)

    @property
    def labels(self) -> list[str]:
        return [*self._labels["check"], *self._labels["delete"], *self._labels["put"], *self._labels["update"]]

    def failed_conditions(self, exc: TransactWriteError) -> set[str]:
        """The labels of the items whose condition failed."""
        reasons = exc.cancellation_reasons or []
        return {label for label, reason in zip(self.labels, reasons, strict=False)
                if reason is not None and reason.code == "ConditionalCheckFailed"}
