"""The ticket shop of tests/api/test_ticketing.py (the API against moto and the Stripe stand-in)."""

from tests.api.test_ticketing import shop, stripe_standin  # noqa: F401 - fixtures shared with the ticketing tests
from tests.e2e.conftest import stack  # noqa: F401,E402 - the local stack as real processes, for attacks from outside
