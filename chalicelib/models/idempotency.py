"""Idempotency records: what was done (or is being done) once per key.

Powertools' idempotency utility reads and writes these items itself (its DynamoDB
persistence layer: ``id``, ``expiration``, ``in_progress_expiration``, ``status``, ``data``,
``validation``); the model declares the table so that the local stack and the CDK create
it like every other, and so that DynamoDB's TTL drops expired records.
"""

from __future__ import annotations

from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.models.base import table_meta


class IdempotencyRecordModel(Model):
    Meta = table_meta("idempotency")

    id = UnicodeAttribute(hash_key=True)  # Powertools' key attribute: "<purpose>#<hash of the key>"
    status = UnicodeAttribute(null=True)  # INPROGRESS, COMPLETED
    expiration = TTLAttribute(null=True)  # epoch seconds, as Powertools writes it
