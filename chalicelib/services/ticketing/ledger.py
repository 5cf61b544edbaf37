"""The ticket ledger: a ticket's status and its space's seat counters change in one write.

Every ticket change that moves a seat (a hold, a sale, a hold given back, a payment
refunded instead of seated) is one DynamoDB transaction of two labelled parts, each with
its condition: the ticket (still in the status the change starts from, so each change
happens once however often Stripe reports it) and the space (its counters, and what the
space must still be for the change). The parts that refused say what happened instead;
what that means is the caller's to decide.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.models.spaces import SpaceModel
from chalicelib.models.tickets import EXPIRED, HELD, REFUNDED, TicketModel
from chalicelib.models.transactions import Transaction

TICKET, SPACE = "ticket", "space"


class TicketLedger:
    def __init__(self, connection: Connection):
        self._connection = connection

    def find(self, space_id: str, buyer_id: str) -> TicketModel | None:
        """A buyer's ticket to a space, read consistently: what it says decides what a payment buys."""
        try:
            return TicketModel.get(space_id, buyer_id, consistent_read=True)
        except DoesNotExist:
            return None

    def hold(self, ticket: TicketModel, space_changes: list[Action], space_condition: Condition) -> set[str]:
        """Write a new ticket with the space's changes. It replaces only a ticket that lapsed or
        was refunded, never an open hold or a sale: one live ticket per buyer per space.
        Returns the parts that refused (empty: written)."""
        def put_ticket(tx: Transaction) -> None:
            tx.put(TICKET, ticket, condition=TicketModel.buyer_id.does_not_exist() | TicketModel.status.is_in(EXPIRED, REFUNDED))

        return self._write(ticket.space_id, put_ticket, space_changes, space_condition)

    def move(self, space_id: str, buyer_id: str, *, was: str, to: str, at: datetime, space_changes: list[Action],
             space_condition: Condition | None = None, payment_intent_id: str | None = None) -> set[str]:
        """Move a ticket from status ``was`` to ``to`` (recording the payment, when given) with the
        space's changes, only if the ticket is still ``was``. Returns the parts that refused
        (empty: moved): ``TICKET`` if someone moved the ticket first, ``SPACE`` if the space's
        condition failed."""
        actions = [TicketModel.status.set(to), TicketModel.updated_at.set(at)]
        if was == HELD:
            actions.append(TicketModel.open_hold.remove())  # out of the open holds the reconciliation reads
        if payment_intent_id is not None:
            actions.append(TicketModel.payment_intent_id.set(payment_intent_id))

        def change_ticket(tx: Transaction) -> None:
            tx.change(TICKET, TicketModel(space_id=space_id, buyer_id=buyer_id), actions, condition=TicketModel.status == was)

        return self._write(space_id, change_ticket, space_changes, space_condition)

    def _write(self, space_id: str, write_ticket: Callable[[Transaction], None], space_changes: list[Action],
               space_condition: Condition | None) -> set[str]:
        tx = Transaction(self._connection)
        try:
            with tx:
                write_ticket(tx)
                tx.change(SPACE, SpaceModel(space_id=space_id), space_changes, condition=space_condition)
        except TransactWriteError as exc:
            refused = tx.failed_conditions(exc)
            if not refused:
                raise  # not a condition (a clash with another transaction, throttling): for whoever retries
            return refused
        return set()
