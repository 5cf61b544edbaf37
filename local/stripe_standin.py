"""A small, stateful stand-in for the parts of Stripe Parlor uses, for the offline stack.

No maintained fake covers Checkout and Connect, so this serves what the official ``stripe``
SDK calls here — Connect accounts and account links, Checkout sessions, payment intents,
charges, refunds, events — with Stripe's object shapes, form-encoded parameters,
``Idempotency-Key`` replay, Stripe-shaped errors, and webhooks signed exactly as Stripe
signs them (``Stripe-Signature: t=<ts>,v1=<HMAC-SHA256(secret, "<ts>.<payload>")>``, the scheme
``parlor_contract.signatures`` implements for Parlor's own services).
Pages a person would use (onboarding, hosted checkout) are plain HTML forms; test routes
under ``/_test`` do the same without a browser. State lives in memory and, with
``--state FILE``, in FILE too: saved after every change, loaded at start, when the events
whose webhook was never acknowledged (``pending_webhooks``) are sent again, as Stripe
retries them; acknowledged ones are not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

from local import logs
from parlor_contract.signatures import sign

log = logging.getLogger(__name__)
API_VERSION = "2025-03-31.basil"


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 12111
    webhook_url: str = ""
    webhook_secret: str = "whsec_local"
    public_url: str = ""
    state_path: Path | None = None


class StripeError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.body = status, {"error": {k: v for k, v in {
            "type": kind, "message": message, "code": code, "param": param}.items() if v is not None}}


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def unflatten(form: dict[str, str]) -> dict[str, Any]:
    """``a[b][0][c]=v`` → ``{"a": {"b": [{"c": "v"}]}}`` (how the SDK encodes params)."""
    root: dict[str, Any] = {}
    for key, value in form.items():
        parts = key.replace("]", "").split("[")
        node: Any = root
        for part, nxt in zip(parts, parts[1:] + [None], strict=True):
            if nxt is None:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


@dataclass
class Store:
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)

    def get(self, object_id: str, kind: str) -> dict[str, Any]:
        obj = self.objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param="id")
        return obj

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, path)  # a crash mid-write keeps the previous state

    @classmethod
    def load(cls, path: Path) -> Store:
        saved = json.loads(path.read_text())
        # Events are objects too: share them, as in memory, so a delivery updates both.
        store = cls(objects=saved["objects"], idempotency={k: tuple(v) for k, v in saved["idempotency"].items()})
        store.events = [store.objects[event["id"]] for event in saved["events"]]
        return store


class StripeStandIn:
    def __init__(self, config: Config):
        self.config = config
        path = config.state_path
        self.store = Store.load(path) if path is not None and path.exists() else Store()
        self._http: ClientSession | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    # -- plumbing --------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        r = app.router
        r.add_post("/v1/accounts", self._api(self.create_account))
        r.add_get("/v1/accounts/{id}", self._api(lambda p, req: self.store.get(req.match_info["id"], "account")))
        r.add_post("/v1/account_links", self._api(self.create_account_link))
        r.add_post("/v1/checkout/sessions", self._api(self.create_session))
        r.add_get("/v1/checkout/sessions/{id}", self._api(lambda p, req: self.store.get(req.match_info["id"], "checkout.session")))
        r.add_post("/v1/checkout/sessions/{id}/expire", self._api(lambda p, req: self.expire(req.match_info["id"])))
        r.add_get("/v1/payment_intents/{id}", self._api(lambda p, req: self.store.get(req.match_info["id"], "payment_intent")))
        r.add_get("/v1/charges/{id}", self._api(lambda p, req: self.store.get(req.match_info["id"], "charge")))
        r.add_post("/v1/refunds", self._api(self.create_refund))
        r.add_get("/v1/refunds/{id}", self._api(lambda p, req: self.store.get(req.match_info["id"], "refund")))
        r.add_get("/v1/events/{id}", self._api(lambda p, req: self.store.get(req.match_info["id"], "event")))
        # What a person does on Stripe's pages, and the same without a browser.
        r.add_get("/onboarding/{id}", self.onboarding_page)
        r.add_post("/onboarding/{id}", self.onboarding_submit)
        r.add_get("/pay/{id}", self.checkout_page)
        r.add_post("/pay/{id}", self.checkout_submit)
        r.add_post("/_test/accounts/{id}/enable", self._test(lambda req: self.enable(req.match_info["id"])))
        r.add_post("/_test/checkout/sessions/{id}/pay", self._test(lambda req: self.pay(req.match_info["id"])))
        r.add_post("/_test/checkout/sessions/{id}/expire_now", self._test(lambda req: self.expire(req.match_info["id"])))
        r.add_get("/_test/events", self._test(lambda req: {"data": self.store.events}))
        r.add_post("/_test/events/{id}/signed", self._test(lambda req: self.signed(req.match_info["id"])))
        r.add_post("/_test/events/{id}/resend", self._test(lambda req: self.resend(req.match_info["id"])))
        app.on_startup.append(self._resend_unacknowledged)
        app.on_cleanup.append(self._close)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except StripeError as exc:
            return web.json_response(exc.body, status=exc.status)
        finally:
            if request.method != "GET":  # whatever changed, kept before the next request
                self._save()

    def _save(self) -> None:
        if self.config.state_path is not None:
            self.store.save(self.config.state_path)

    async def _resend_unacknowledged(self, app: web.Application) -> None:
        for event in self.store.events:
            if event.get("pending_webhooks"):
                self._deliver(event)

    def _api(self, action: Any) -> Any:
        async def handle(request: web.Request) -> web.Response:
            if not request.headers.get("Authorization", "").startswith("Bearer sk_"):
                raise StripeError(401, "Invalid API Key provided.", kind="invalid_request_error")
            params = unflatten({k: str(v) for k, v in (await request.post()).items()}) if request.method == "POST" else {}
            key = request.headers.get("Idempotency-Key")
            fingerprint = json.dumps([request.path, params], sort_keys=True)
            if key and key in self.store.idempotency:
                seen, status, body = self.store.idempotency[key]
                if seen != fingerprint:
                    raise StripeError(400, "Keys for idempotent requests can only be used with the same parameters "
                                      "they were first used with.", code="idempotency_key_in_use", kind="idempotency_error")
                return web.json_response(body, status=status, headers={"Idempotent-Replayed": "true"})
            body = action(params, request)
            if key:
                self.store.idempotency[key] = (fingerprint, 200, body)
            return web.json_response(body)
        return handle

    def _test(self, action: Any) -> Any:
        async def handle(request: web.Request) -> web.Response:
            return web.json_response(action(request))
        return handle

    # -- Connect ---------------------------------------------------------------------------

    def create_account(self, params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        account = {"id": _id("acct"), "object": "account", "type": params.get("type", "express"),
                   "country": params.get("country", "US"), "email": params.get("email"), "created": int(time.time()),
                   "charges_enabled": False, "payouts_enabled": False, "details_submitted": False,
                   "metadata": params.get("metadata", {}), "capabilities": {}}
        self.store.objects[account["id"]] = account
        return account

    def create_account_link(self, params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        for name in ("account", "refresh_url", "return_url", "type"):
            if not params.get(name):
                raise StripeError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
        account = self.store.get(params["account"], "account")
        account["_return_url"] = params["return_url"]
        now = int(time.time())
        return {"object": "account_link", "created": now, "expires_at": now + 300,
                "url": f"{_origin(self.config, request)}/onboarding/{account['id']}"}

    def enable(self, account_id: str) -> dict[str, Any]:
        account = self.store.get(account_id, "account")
        account.update(charges_enabled=True, payouts_enabled=True, details_submitted=True)
        self.emit("account.updated", account)
        return _public(account)

    async def onboarding_page(self, request: web.Request) -> web.Response:
        account = self.store.get(request.match_info["id"], "account")
        return web.Response(content_type="text/html", text=(
            f"<h1>Stripe Express onboarding (local)</h1><p>Account {account['id']}</p>"
            f"<form method='post'><button>Agree and submit</button></form>"))

    async def onboarding_submit(self, request: web.Request) -> web.Response:
        account = self.enable(request.match_info["id"])
        target = self.store.objects[str(account["id"])].get("_return_url")
        if target:
            raise web.HTTPSeeOther(target)
        return web.Response(content_type="text/html", text="<p>Payouts enabled. You can close this page.</p>")

    # -- Checkout -----------------------------------------------------------------------------

    def create_session(self, params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        if params.get("mode") != "payment":
            raise StripeError(400, "Only mode=payment is supported here.", param="mode")
        try:
            item = params["line_items"][0]
            price = item["price_data"]
            amount = int(price["unit_amount"]) * int(item.get("quantity", 1))
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise StripeError(400, "line_items[0] needs price_data with unit_amount and currency.", param="line_items") from exc
        now = int(time.time())
        expires_at = int(params.get("expires_at", now + 24 * 3600))
        if not now + 30 * 60 <= expires_at <= now + 24 * 3600:
            raise StripeError(400, "expires_at must be between 30 minutes and 24 hours from now.", param="expires_at")
        intent_data = params.get("payment_intent_data", {})
        destination = intent_data.get("transfer_data", {}).get("destination")
        if destination:
            self.store.get(destination, "account")
        session = {"id": _id("cs_test"), "object": "checkout.session", "mode": "payment", "status": "open",
                   "payment_status": "unpaid", "amount_total": amount, "currency": price["currency"],
                   "client_reference_id": params.get("client_reference_id"), "metadata": params.get("metadata", {}),
                   "success_url": params.get("success_url"), "cancel_url": params.get("cancel_url"),
                   "customer_email": params.get("customer_email"), "expires_at": expires_at, "created": now,
                   "payment_intent": None, "url": None, "livemode": False,
                   "_item_name": price.get("product_data", {}).get("name", "Ticket"),
                   "_fee": int(intent_data.get("application_fee_amount", 0) or 0), "_destination": destination,
                   "_intent_metadata": intent_data.get("metadata", {})}
        session["url"] = f"{_origin(self.config, request)}/pay/{session['id']}"
        self.store.objects[session["id"]] = session
        return _public(session)

    def pay(self, session_id: str) -> dict[str, Any]:
        session = self.store.get(session_id, "checkout.session")
        if session["status"] != "open":
            raise StripeError(400, f"This Checkout Session is {session['status']}.", code="checkout_session_not_open")
        intent_id, charge_id, now = _id("pi"), _id("ch"), int(time.time())
        transfer = {"destination": session["_destination"]} if session["_destination"] else None
        charge = {"id": charge_id, "object": "charge", "amount": session["amount_total"], "amount_refunded": 0,
                  "refunded": False, "currency": session["currency"], "payment_intent": intent_id, "paid": True,
                  "status": "succeeded", "application_fee_amount": session["_fee"], "transfer_data": transfer,
                  "metadata": session["_intent_metadata"], "created": now}
        intent = {"id": intent_id, "object": "payment_intent", "amount": session["amount_total"], "currency": session["currency"],
                  "status": "succeeded", "latest_charge": charge_id, "application_fee_amount": session["_fee"],
                  "transfer_data": transfer, "metadata": session["_intent_metadata"], "created": now}
        self.store.objects.update({charge_id: charge, intent_id: intent})
        session.update(status="complete", payment_status="paid", payment_intent=intent_id)
        self.emit("checkout.session.completed", session)
        return _public(session)

    def expire(self, session_id: str) -> dict[str, Any]:
        session = self.store.get(session_id, "checkout.session")
        if session["status"] != "open":
            raise StripeError(400, f"Only open sessions can be expired; this one is {session['status']}.")
        session["status"] = "expired"
        self.emit("checkout.session.expired", session)
        return _public(session)

    async def checkout_page(self, request: web.Request) -> web.Response:
        s = self.store.get(request.match_info["id"], "checkout.session")
        return web.Response(content_type="text/html", text=(
            f"<h1>Pay Parlor (local test checkout)</h1><p>{s['_item_name']}: {s['amount_total'] / 100:.2f} "
            f"{s['currency'].upper()}</p><p>Status: {s['status']}</p>"
            f"<form method='post'><button>Pay with test card 4242</button></form>"))

    async def checkout_submit(self, request: web.Request) -> web.Response:
        session = self.pay(request.match_info["id"])
        if session.get("success_url"):
            raise web.HTTPSeeOther(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"]))
        return web.Response(content_type="text/html", text="<p>Paid. You can go back to the app.</p>")

    # -- refunds -----------------------------------------------------------------------------------

    def create_refund(self, params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        if params.get("payment_intent"):
            charge_id = self.store.get(params["payment_intent"], "payment_intent")["latest_charge"]
        elif params.get("charge"):
            charge_id = params["charge"]
        else:
            raise StripeError(400, "One of payment_intent or charge is required.", code="parameter_missing")
        charge = self.store.get(charge_id, "charge")
        amount = int(params.get("amount", charge["amount"] - charge["amount_refunded"]))
        if charge["amount_refunded"] >= charge["amount"]:
            raise StripeError(400, f"Charge {charge_id} has already been refunded.", code="charge_already_refunded")
        if amount <= 0 or amount > charge["amount"] - charge["amount_refunded"]:
            raise StripeError(400, "Refund amount is greater than the unrefunded amount.", code="amount_too_large", param="amount")
        refund = {"id": _id("re"), "object": "refund", "amount": amount, "charge": charge_id, "currency": charge["currency"],
                  "payment_intent": charge["payment_intent"], "status": "succeeded", "metadata": params.get("metadata", {}),
                  "created": int(time.time())}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self.store.objects[refund["id"]] = refund
        self.emit("charge.refunded", charge)
        return refund

    # -- events and webhooks -------------------------------------------------------------------------

    def emit(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        event: dict[str, Any] = {"id": _id("evt"), "object": "event", "api_version": API_VERSION, "created": int(time.time()),
                 "type": kind, "data": {"object": _public(obj)}, "livemode": False, "pending_webhooks": 1,
                 "request": {"id": None, "idempotency_key": None}}
        self.store.objects[event["id"]] = event
        self.store.events.append(event)
        self._deliver(event)
        return event

    def signed(self, event_id: str) -> dict[str, Any]:
        payload = json.dumps(self.store.get(event_id, "event"))
        return {"payload": payload, "signature": sign(self.config.webhook_secret, payload)}

    def resend(self, event_id: str) -> dict[str, Any]:
        event = self.store.get(event_id, "event")
        self._deliver(event)
        return {"resent": event_id}

    def _deliver(self, event: dict[str, Any]) -> None:
        if not self.config.webhook_url:
            return
        task = asyncio.ensure_future(self._post(event))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _post(self, event: dict[str, Any]) -> None:
        payload = json.dumps(event)
        self._http = self._http or ClientSession(timeout=ClientTimeout(total=10))
        for attempt in range(4):  # Stripe retries failed deliveries; a few quick tries here
            headers = {"Content-Type": "application/json", "Stripe-Signature": sign(self.config.webhook_secret, payload)}
            try:
                async with self._http.post(self.config.webhook_url, data=payload, headers=headers) as resp:
                    if resp.status < 300:
                        event["pending_webhooks"] = 0
                        self._save()
                        return
                    log.warning("webhook refused", extra={"event_type": event["type"], "status": resp.status})
            except Exception as exc:  # noqa: BLE001 - delivery is retried
                log.warning("webhook failed", extra={"event_type": event["type"], "error": str(exc)})
            await asyncio.sleep(0.5 * (attempt + 1))

    async def _close(self, app: web.Application) -> None:
        if self._http is not None:
            await self._http.close()


def _origin(config: Config, request: web.Request) -> str:
    """Where people reach the hosted pages: the configured public URL, else the address asked."""
    return config.public_url or f"{request.scheme}://{request.host}"


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as Stripe shows it (without the stand-in's private bookkeeping)."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def create_app(config: Config) -> web.Application:
    return StripeStandIn(config).app()


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Stripe stand-in")
    parser.add_argument("--host", default=os.environ.get("STRIPE_STANDIN_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("STRIPE_STANDIN_PORT", "12111")))
    parser.add_argument("--state", type=Path, help="keep the state in this file")
    args = parser.parse_args()
    logs.configure("stripe")
    config = Config(args.host, args.port, os.environ.get("STRIPE_WEBHOOK_URL", ""),
                    os.environ.get("STRIPE_WEBHOOK_SECRET", "whsec_local"), state_path=args.state)
    if args.state is not None:
        args.state.parent.mkdir(parents=True, exist_ok=True)
    web.run_app(create_app(config), host=args.host, port=args.port, print=None, access_log_class=logs.AccessLog)


if __name__ == "__main__":
    main()
