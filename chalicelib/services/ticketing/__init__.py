"""Ticketed spaces, one module per capability.

- ``payouts``: hosts' Stripe Connect accounts (onboarding, who may sell, ``account.updated``).
- ``seats``: checkout with seat holds, a paid hold becoming a ticket, admission, my tickets,
  the host's buyers; the platform fee.
- ``refunds``: money owed back (a cancelled space, a payment that buys no seat), the refund
  job and the sweep of refunds still owed.
- ``webhooks``: Stripe's webhook, verified and handled once, dispatched to the above.
- ``ledger``: the one write that changes a ticket's status together with its space's seat
  counters, used by seats and refunds.
"""
