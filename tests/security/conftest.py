"""The ticket shop of tests/api/test_ticketing.py (the API against moto and the Stripe stand-in)."""

from tests.api.test_ticketing import shop, stripe_standin  # noqa: F401 - fixtures shared with the ticketing tests
