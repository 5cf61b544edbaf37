"""Domain errors. Services raise them; the API edge maps each to its status and code."""

from __future__ import annotations


class DomainError(Exception):
    status = 422
    code = "domain_rule"
    default_message = "The request breaks a rule of the domain."

    def __init__(self, message: str | None = None, *, code: str | None = None):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        if code:
            self.code = code


class ValidationFailed(DomainError):
    status = 400
    code = "validation_error"
    default_message = "The request is not valid."


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    default_message = "A valid bearer token is required."


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    default_message = "You may not do that."


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_message = "Not found."


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class RuleViolated(DomainError):
    status = 422
    code = "domain_rule"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    default_message = "Too many requests; slow down."


class Unavailable(DomainError):
    """A dependency is starting or briefly unavailable: the client should retry."""

    status = 503
    code = "unavailable"
    default_message = "Temporarily unavailable; retry shortly."

    def __init__(self, message: str | None = None, *, code: str | None = None, retry_after: int = 1):
        super().__init__(message, code=code)
        self.retry_after = retry_after


# Accounts and the social graph.
class HandleTaken(Conflict):
    code = "handle_taken"
    default_message = "That handle is already taken."


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    default_message = "Handle or password is wrong."


class UserNotFound(NotFound):
    code = "user_not_found"
    default_message = "No such user."


class CannotFollowSelf(RuleViolated):
    code = "cannot_follow_self"
    default_message = "You cannot follow yourself."
