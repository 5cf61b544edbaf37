"""Where Stripe sends a person back after a hosted page: to the client they came from — the
app's deep link, or the web client's page of that space (``#/spaces/{id}``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chalicelib.errors import NoWebClient


class Client(StrEnum):
    APP = "app"
    WEB = "web"


@dataclass(frozen=True)
class ReturnUrls:
    app_url: str  # the app's deep link, e.g. parlor://payments
    web_url: str  # the web client's origin, "" when none is deployed

    def checkout(self, space_id: str, client: Client) -> tuple[str, str]:
        """(success, cancel) URLs of a space's checkout; Stripe fills in the session id."""
        if client == Client.WEB:
            page = f"{self._web()}/#/spaces/{space_id}"
            return f"{page}?checkout=success&session_id={{CHECKOUT_SESSION_ID}}", f"{page}?checkout=cancel"
        return (f"{self.app_url}?space_id={space_id}&session_id={{CHECKOUT_SESSION_ID}}",
                f"{self.app_url}?space_id={space_id}")

    def onboarding(self, client: Client) -> str:
        return f"{self._web()}/#/payouts?onboarding=return" if client == Client.WEB else self.app_url

    def _web(self) -> str:
        if not self.web_url:
            raise NoWebClient()
        return self.web_url.rstrip("/")
