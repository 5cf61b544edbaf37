"""Email through Amazon SES (moto's SES locally and in tests)."""

from __future__ import annotations

from typing import Any, Callable


class Mailer:
    def __init__(self, ses: Callable[[], Any], sender: str):
        self._ses = ses
        self._sender = sender

    @property
    def configured(self) -> bool:
        return bool(self._sender)

    def send(self, to: str, subject: str, text: str) -> None:
        """One plain-text email from the configured (SES-verified) sender."""
        self._ses().send_email(Source=self._sender, Destination={"ToAddresses": [to]},
                               Message={"Subject": {"Data": subject, "Charset": "UTF-8"},
                                        "Body": {"Text": {"Data": text, "Charset": "UTF-8"}}})
