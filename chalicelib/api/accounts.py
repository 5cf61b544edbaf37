"""Accounts: sign up, sign in, refresh and sign out, who am I, profile, password, deletion,
password reset, look up a user."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from chalicelib.api.routing import Call, Router
from chalicelib.api.schemas import Strict, UserOut, user_out
from chalicelib.clock import iso
from chalicelib.errors import ValidationFailed
from chalicelib.models.users import UserModel
from chalicelib.services.passwords import MAX_PASSWORD_LENGTH, PASSWORD_RULES
from chalicelib.services.sessions import Grant
from chalicelib.text import Bio, DisplayName
from chalicelib.wiring import services

router = Router(__name__, tag="accounts")

# Deliberately plain (one @, a dot in the domain, no spaces): the address is proven by the
# reset email reaching it, not by a parser.
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$"


def _email() -> Any:
    return Field(default=None, max_length=254, pattern=EMAIL_PATTERN, description="where password-reset links go; unique")


def _new_password() -> Any:
    return Field(min_length=1, max_length=MAX_PASSWORD_LENGTH, description=PASSWORD_RULES)


class SignUpIn(Strict):
    handle: str = Field(
        pattern=r"^[A-Za-z0-9_]{3,15}$", description="3-15 letters, digits or underscores; unique, case-insensitive"
    )
    display_name: DisplayName
    password: str = _new_password()
    email: str | None = _email()


class SignInIn(Strict):
    handle: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=256)


class MeOut(UserOut):
    email: str | None = None


class AuthOut(BaseModel):
    user: MeOut
    token: str = Field(description="the access token (Authorization: Bearer); short-lived")
    refresh_token: str = Field(description="spend it at POST /v1/sessions/refresh; each works once")
    token_expires_at: str


class PasswordChangeIn(Strict):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: str = _new_password()


class ProfileIn(Strict):
    display_name: DisplayName | None = None
    bio: Bio | None = None
    email: str | None = _email()  # null removes it


class DeleteAccountIn(Strict):
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class ResetRequestIn(Strict):
    handle: str | None = Field(default=None, min_length=1, max_length=64)
    email: str | None = Field(default=None, min_length=1, max_length=254)


class ResetIn(Strict):
    new_password: str = _new_password()


def _me_out(user: UserModel) -> MeOut:
    return MeOut(**user_out(user, services().settings.host_min_followers).model_dump(), email=user.email)


def _auth_out(user: UserModel, grant: Grant) -> AuthOut:
    return AuthOut(user=_me_out(user), token=grant.token, refresh_token=grant.refresh_token,
                   token_expires_at=str(iso(grant.token_expires_at)))


def _session_of(call: Call) -> str | None:
    """The session the caller's access token belongs to (authentication has checked it)."""
    bearer = str(call.headers.get("authorization", "")).partition(" ")[2].strip()
    return services().tokens.session_id(bearer)


@router.route("POST", "/v1/accounts", summary="Sign up", body=SignUpIn, response=AuthOut, status=201, auth=False)
def sign_up(call: Call) -> AuthOut:
    body: SignUpIn = call.body
    user, grant = services().accounts.sign_up(body.handle, body.display_name, body.password, source=call.source_ip,
                                              email=body.email)
    return _auth_out(user, grant)


@router.route("POST", "/v1/sessions", summary="Sign in", body=SignInIn, response=AuthOut, auth=False)
def sign_in(call: Call) -> AuthOut:
    user, grant = services().accounts.sign_in(call.body.handle, call.body.password, source=call.source_ip)
    return _auth_out(user, grant)


@router.route("POST", "/v1/sessions/refresh", summary="A new access token and refresh token for a refresh token",
              body=RefreshIn, response=AuthOut, auth=False)
def refresh(call: Call) -> AuthOut:
    return _auth_out(*services().accounts.refresh(call.body.refresh_token))


@router.route("DELETE", "/v1/sessions", summary="Sign out this session", status=204)
def sign_out(call: Call) -> None:
    if (session_id := _session_of(call)) is not None:
        services().accounts.sessions.end(session_id)


@router.route("GET", "/v1/me", summary="The signed-in user", response=MeOut)
def me(call: Call) -> MeOut:
    assert call.user is not None  # authentication has just read them
    return _me_out(call.user)


@router.route("PATCH", "/v1/me", summary="Change display name, bio or email", body=ProfileIn, response=MeOut)
def update_me(call: Call) -> MeOut:
    assert call.user is not None
    body: ProfileIn = call.body
    if "display_name" in body.model_fields_set and body.display_name is None:
        raise ValidationFailed("display_name: may not be null.")
    if "bio" in body.model_fields_set and body.bio is None:
        raise ValidationFailed("bio: may not be null (an empty string clears it).")
    clear_email = "email" in body.model_fields_set and body.email is None
    return _me_out(services().accounts.update_profile(call.user, body.display_name, body.bio, body.email, clear_email))


@router.route("PUT", "/v1/me/password", summary="Change my password (signs out my other sessions)",
              body=PasswordChangeIn, status=204)
def change_password(call: Call) -> None:
    assert call.user is not None
    services().accounts.change_password(call.user, _session_of(call), call.body.current_password,
                                        call.body.new_password, source=call.source_ip)


@router.route("DELETE", "/v1/me", summary="Delete my account (needs my password)", body=DeleteAccountIn, status=204)
def delete_me(call: Call) -> None:
    assert call.user is not None
    services().account_deletion.delete(call.user, call.body.password, source=call.source_ip)


@router.route("POST", "/v1/password-resets", summary="Email me a password-reset link ({handle} or {email})",
              body=ResetRequestIn, status=202, auth=False)
def request_reset(call: Call) -> None:
    body: ResetRequestIn = call.body
    if (body.handle is None) == (body.email is None):
        raise ValidationFailed("Give either handle or email.")
    services().password_resets.request(handle=body.handle, email=body.email, source=call.source_ip)


@router.route("POST", "/v1/password-resets/{reset_token}", summary="Set a new password with a reset link's token",
              body=ResetIn, status=204, auth=False)
def reset_password(call: Call) -> None:
    services().password_resets.complete(call.params["reset_token"], call.body.new_password)


@router.route("GET", "/v1/users/{user_id}", summary="Look up a user", response=UserOut)
def get_user(call: Call) -> UserOut:
    s = services()
    return user_out(s.accounts.get_user(call.params["user_id"]), s.settings.host_min_followers)
