"""Operator commands that no API route may perform: granting and revoking the trust and safety
staff role. They talk to the configured tables (``PARLOR_TABLE_PREFIX``; locally the moto
server named by ``AWS_ENDPOINT_URL``; on AWS the deployed tables, with an operator's
credentials), and each one is appended to the staff audit log.

    python -m chalicelib.admin grant-staff <handle>
    python -m chalicelib.admin revoke-staff <handle>
"""

from __future__ import annotations

import argparse
import getpass
import sys

from chalicelib.clock import Clock, SystemClock
from chalicelib.models.users import HandleModel, UserModel
from chalicelib.services.staff import record


class AdminError(Exception):
    pass


def set_staff(handle: str, staff: bool, operator: str, clock: Clock | None = None) -> UserModel:
    """Give (or take away) the staff role of the account with ``handle``; recorded as done by
    ``admin:<operator>``. A revoked staff member's sessions stay, but staff routes refuse them."""
    try:
        claim = HandleModel.get(HandleModel.key_for(handle))
    except HandleModel.DoesNotExist as exc:
        raise AdminError(f"no account has the handle {handle!r}") from exc
    try:
        user = UserModel.get(claim.user_id)
    except UserModel.DoesNotExist as exc:
        raise AdminError(f"the account of {handle!r} no longer exists") from exc
    user.update(actions=[UserModel.staff.set(True) if staff else UserModel.staff.remove()],
                condition=UserModel.user_id.exists())
    record(clock or SystemClock(), f"admin:{operator}", "staff.granted" if staff else "staff.revoked", "user",
           user.user_id)
    return user


def main(argv: list[str] | None = None, clock: Clock | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.admin", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("grant-staff", "make an account trust and safety staff"),
                       ("revoke-staff", "take the staff role away")):
        command = commands.add_parser(name, help=text)
        command.add_argument("handle")
    args = parser.parse_args(argv)
    try:
        user = set_staff(args.handle, args.command == "grant-staff", _operator(), clock)
    except AdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{user.handle} ({user.user_id}) is {'now' if args.command == 'grant-staff' else 'no longer'} staff")
    return 0


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container): still say it was the command
        return "operator"


if __name__ == "__main__":
    sys.exit(main())
