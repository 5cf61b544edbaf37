"""Hosts' payout accounts: Stripe Connect Express accounts that receive ticket sales.

An account is created once per host (a concurrent second request finds the first one's);
whether it may take charges is Stripe's answer, kept current by ``account.updated``.
"""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib.errors import PayoutsNotEnabled
from chalicelib.gateways.payments import Payments
from chalicelib.models.tickets import PayoutAccountModel
from chalicelib.services.ticketing.return_urls import Client, ReturnUrls
from chalicelib.settings import Settings


class PayoutService:
    def __init__(self, settings: Settings, payments: Payments):
        self._settings = settings
        self._payments = payments

    def onboard(self, user_id: str, client: Client = Client.APP) -> tuple[str, str]:
        """The host's Express account (created once) and a fresh onboarding link back to ``client``."""
        return_url = ReturnUrls(self._settings.app_return_url, self._settings.web_url).onboarding(client)
        try:
            account_id = PayoutAccountModel.get(user_id).account_id
        except DoesNotExist:
            account_id = self._payments.create_account(user_id, idempotency_key=f"account-{user_id}")
            try:
                PayoutAccountModel(user_id=user_id, account_id=account_id).save(
                    condition=PayoutAccountModel.user_id.does_not_exist())
            except PutError:
                account_id = PayoutAccountModel.get(user_id).account_id  # a concurrent request won
        return self._payments.onboarding_link(account_id, return_url), account_id

    def check_can_sell(self, host_id: str) -> None:
        """TicketRules: only hosts whose payout account can take charges sell tickets."""
        try:
            if PayoutAccountModel.get(host_id).charges_enabled:
                return
        except DoesNotExist:
            pass
        raise PayoutsNotEnabled()

    def destination(self, host_id: str) -> str:
        """The Connect account a ticket sale pays into: the host's; a host without one cannot take payments."""
        try:
            return PayoutAccountModel.get(host_id).account_id
        except DoesNotExist as exc:
            raise PayoutsNotEnabled("The host cannot take payments yet.") from exc

    def account_updated(self, account: dict[str, Any]) -> str:
        """Stripe's ``account.updated``: the host's account now can (or cannot) take charges and pay out.
        Only an account we created for that host counts (its id must match the one on record)."""
        user_id = (account.get("metadata") or {}).get("parlor_user_id")
        if not user_id:
            return "ignored"
        try:
            PayoutAccountModel(user_id=user_id).update(actions=[
                PayoutAccountModel.charges_enabled.set(bool(account.get("charges_enabled"))),
                PayoutAccountModel.payouts_enabled.set(bool(account.get("payouts_enabled")))],
                condition=PayoutAccountModel.account_id == account["id"])
        except UpdateError:
            return "ignored"
        return "account_updated"
