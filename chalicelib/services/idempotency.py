"""Doing a thing once per key, safely under retries: Powertools' idempotency utility on
the idempotency table (``IdempotencyRecordModel``).

A key's record is written *in progress* before acting, with an expiry tied to the
function's remaining time (the Lambda context): if the function dies or times out after
that write, the record lapses when the function would have been stopped, and the next
retry acts. A finished action's result is kept and given again to every retry until the
record expires; an action that raised leaves nothing behind (its retry acts again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, TypeVar, cast

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from chalicelib.errors import IdempotencyKeyReused, RequestInProgress
from chalicelib.models.idempotency import IdempotencyRecordModel

T = TypeVar("T")
# Without a Lambda context (a caller outside Lambda), an action is presumed dead after this.
DEFAULT_BUDGET_MS = 30_000


@dataclass(frozen=True)
class Purpose:
    """One kind of action done once per key: its name (the key's prefix), which fields of the
    data make the key, which must match on a retry, and how long a result is kept."""

    name: str
    key_fields: str  # a JMESPath over the data, e.g. "id" or "[user, route, key]"
    kept_for: timedelta
    same_request: str = ""  # a JMESPath whose value must be the same on a retry, else IdempotencyKeyReused


class _Budget:
    """A stand-in Lambda context for callers that have none."""

    def get_remaining_time_in_millis(self) -> int:
        return DEFAULT_BUDGET_MS


class Idempotency:
    def __init__(self) -> None:
        # Powertools configures a persistence layer once, from the first call's config: one per purpose.
        self._stores: dict[str, DynamoDBPersistenceLayer] = {}

    def once(self, purpose: Purpose, action: Callable[[], T], data: dict[str, Any], lambda_context: Any = None,
             on_replay: Callable[[T], T] | None = None) -> T:
        """``action()`` once for the key ``data`` gives; a retry gets the first result (through
        ``on_replay`` when given). Raises RequestInProgress while another call holds the key."""
        def replayed(response: Any, idempotent_data: DataRecord) -> Any:
            return on_replay(response) if on_replay else response

        config = IdempotencyConfig(
            event_key_jmespath=purpose.key_fields, payload_validation_jmespath=purpose.same_request,
            raise_on_no_idempotency_key=True, expires_after_seconds=int(purpose.kept_for.total_seconds()),
            lambda_context=cast(LambdaContext, lambda_context or _Budget()), response_hook=replayed)

        def act(data: dict[str, Any]) -> T:
            return action()

        run = idempotent_function(act, data_keyword_argument="data", persistence_store=self._store(purpose),
                                  config=config, key_prefix=purpose.name)
        try:
            return run(data=data)  # type: ignore[no-any-return]
        except IdempotencyAlreadyInProgressError as exc:
            raise RequestInProgress() from exc
        except IdempotencyValidationError as exc:
            raise IdempotencyKeyReused() from exc

    def _store(self, purpose: Purpose) -> DynamoDBPersistenceLayer:
        if purpose.name not in self._stores:  # built on first use: the client, and the table name from settings
            self._stores[purpose.name] = DynamoDBPersistenceLayer(table_name=IdempotencyRecordModel.Meta.table_name)
        return self._stores[purpose.name]
