"""Accounts: sign up, sign in, who am I, look up a user."""

from __future__ import annotations

from pydantic import BaseModel, Field

from chalicelib.api.routing import Call, Router
from chalicelib.api.schemas import Strict, UserOut, user_out
from chalicelib.services.passwords import MAX_PASSWORD_LENGTH, PASSWORD_RULES
from chalicelib.text import DisplayName
from chalicelib.wiring import services

router = Router(__name__, tag="accounts")


class SignUpIn(Strict):
    handle: str = Field(
        pattern=r"^[A-Za-z0-9_]{3,15}$", description="3-15 letters, digits or underscores; unique, case-insensitive"
    )
    display_name: DisplayName
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH, description=PASSWORD_RULES)


class SignInIn(Strict):
    handle: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class AuthOut(BaseModel):
    user: UserOut
    token: str


@router.route("POST", "/v1/accounts", summary="Sign up", body=SignUpIn, response=AuthOut, status=201, auth=False)
def sign_up(call: Call) -> AuthOut:
    s = services()
    user, token = s.accounts.sign_up(call.body.handle, call.body.display_name, call.body.password, source=call.source_ip)
    return AuthOut(user=user_out(user, s.settings.host_min_followers), token=token)


@router.route("POST", "/v1/sessions", summary="Sign in", body=SignInIn, response=AuthOut, auth=False)
def sign_in(call: Call) -> AuthOut:
    s = services()
    user, token = s.accounts.sign_in(call.body.handle, call.body.password, source=call.source_ip)
    return AuthOut(user=user_out(user, s.settings.host_min_followers), token=token)


@router.route("GET", "/v1/me", summary="The signed-in user", response=UserOut)
def me(call: Call) -> UserOut:
    s = services()
    assert call.user is not None  # authentication has just read them
    return user_out(call.user, s.settings.host_min_followers)


@router.route("GET", "/v1/users/{user_id}", summary="Look up a user", response=UserOut)
def get_user(call: Call) -> UserOut:
    s = services()
    return user_out(s.accounts.get_user(call.params["user_id"]), s.settings.host_min_followers)
