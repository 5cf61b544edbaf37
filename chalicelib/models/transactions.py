"""Reading why DynamoDB cancelled a transaction."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError


def cancellation_codes(exc: TransactWriteError) -> list[str | None]:
    """One code per item of the transaction, in order (None where the item was fine)."""
    reasons = exc.cancellation_reasons or []
    return [r.code if r is not None else None for r in reasons]


def cancelled_by_condition(exc: TransactWriteError, index: int | None = None) -> bool:
    """True if a condition failed (on the item at ``index``, if given)."""
    codes = cancellation_codes(exc)
    if index is not None:
        return index < len(codes) and codes[index] == "ConditionalCheckFailed"
    return "ConditionalCheckFailed" in codes
