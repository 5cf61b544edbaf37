"""What the local moto server holds that a developer would miss after a restart, as JSON:
DynamoDB items, SQS messages not yet deleted, and SNS platform endpoints (registered
devices; their ARNs are kept, as the devices table names them).

moto keeps all of it in memory and has no snapshot of its own (its recorder replays every
request, so it would send every SQS message and push again). This reads moto's backends
directly, inside the moto server process, while no request runs (see local/moto_server.py):
the snapshot is one instant of every service at once. Tables, queues and platform
applications are not saved: ``local.bootstrap`` creates them at each start, and a restore
fills them. Deleted SQS messages are gone from moto, so none is delivered twice.

S3 is not saved: bootstrap makes the media bucket again, and its objects (HLS segments,
recordings, clips) are lost when moto restarts. They are binary and grow by a segment every
2 s per live space with nothing to expire them (moto applies no lifecycle rules), which this
JSON, written every second while something changes, is not the place for.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Iterator

from moto.dynamodb.models import dynamodb_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends

FORMAT = 1


def _backends(backend_dict: Any) -> Iterator[tuple[str, Any]]:
    """Every backend moto has created, as ("<account>/<region>", backend); no new ones."""
    for account_id in list(dict.keys(backend_dict)):
        regions = dict.__getitem__(backend_dict, account_id)
        for region in list(dict.keys(regions)):
            yield f"{account_id}/{region}", dict.__getitem__(regions, region)


def _backend(backend_dict: Any, where: str) -> Any:
    account_id, region = where.split("/", 1)
    return backend_dict[account_id][region]


def snapshot() -> dict[str, Any]:
    state: dict[str, Any] = {"format": FORMAT, "dynamodb": {}, "sqs": {}, "sns_endpoints": {}}
    for where, backend in _backends(dynamodb_backends):
        tables = {name: [item.to_json()["Attributes"] for item in table.all_items()] for name, table in backend.tables.items()}
        if any(tables.values()):
            state["dynamodb"][where] = tables
    for where, backend in _backends(sqs_backends):
        queues = {name: [{"body": m.body, "attributes": m.message_attributes, "group_id": m.group_id,
                          "deduplication_id": m.deduplication_id} for m in queue._messages]
                  for name, queue in backend.queues.items()}
        if any(queues.values()):
            state["sqs"][where] = queues
    for where, backend in _backends(sns_backends):
        endpoints = [{"arn": e.arn, "id": str(e.id), "application_arn": e.application.arn, "token": e.token,
                      "custom_user_data": e.custom_user_data, "attributes": e.attributes}
                     for e in backend.platform_endpoints.values()]
        if endpoints:
            state["sns_endpoints"][where] = endpoints
    return state


def dumps(state: dict[str, Any]) -> str:
    # Binary attributes (B, BS) are bytes in moto: base64, as DynamoDB's JSON has them.
    return json.dumps(state, sort_keys=True, default=lambda b: base64.b64encode(b).decode())


def restore(state: dict[str, Any], skip_tables: frozenset[str] = frozenset()) -> dict[str, int]:
    """Fill the (freshly bootstrapped) tables, queues and platform applications; ``skip_tables``
    are tables whose records describe processes that did not survive the restart."""
    if state.get("format") != FORMAT:
        raise ValueError(f"unknown local state format {state.get('format')!r}")
    counts = {"items": 0, "messages": 0, "endpoints": 0}
    for where, tables in state["dynamodb"].items():
        backend = _backend(dynamodb_backends, where)
        for name, items in tables.items():
            if name in skip_tables:
                continue
            table = backend.get_table(name)  # missing: the app dropped a model; say so, lose nothing silently
            for attributes in items:
                table.put_item(attributes)
            counts["items"] += len(items)
    for where, queues in state["sqs"].items():
        backend = _backend(sqs_backends, where)
        for name, messages in queues.items():
            for m in messages:
                backend.send_message(name, m["body"], message_attributes=m["attributes"], group_id=m["group_id"],
                                     deduplication_id=m["deduplication_id"], delay_seconds=0)
            counts["messages"] += len(messages)
    for where, endpoints in state["sns_endpoints"].items():
        backend = _backend(sns_backends, where)
        for e in endpoints:
            endpoint = backend.create_platform_endpoint(backend.get_application(e["application_arn"]), e["custom_user_data"],
                                                        e["token"], e["attributes"])
            # The same ARN as before: the devices table refers to it.
            backend.platform_endpoints.pop(endpoint.arn)
            endpoint.arn, endpoint.id = e["arn"], e["id"]
            backend.platform_endpoints[endpoint.arn] = endpoint
            counts["endpoints"] += 1
    return counts
