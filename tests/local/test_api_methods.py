"""The local REST API (``chalice local``'s server, local/api.py) answers a method no route
has with Chalice's 405, as it does a method a route lacks, never http.server's 501."""

from __future__ import annotations

import requests

from tests.servers import ServedChalice


def test_any_http_method_is_answered_by_the_app(aws):
    from app import app

    served = ServedChalice(app)
    try:
        for method in ("TRACE", "QUERY", "PROPFIND"):
            reply = requests.request(method, f"{served.url}/v1/me", timeout=10)
            assert reply.status_code == 405, (method, reply.status_code)
        assert requests.request("PATCH", f"{served.url}/v1/me/notifications", timeout=10).status_code == 405
    finally:
        served.stop()
