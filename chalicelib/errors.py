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
    """Too many requests; ``retry_after`` (seconds), when known, becomes the Retry-After header."""

    status = 429
    code = "rate_limited"
    default_message = "Too many requests; slow down."

    def __init__(self, message: str | None = None, *, code: str | None = None, retry_after: int | None = None):
        super().__init__(message, code=code)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A dependency is starting or briefly unavailable: the client should retry."""

    status = 503
    code = "unavailable"
    default_message = "Temporarily unavailable; retry shortly."

    def __init__(self, message: str | None = None, *, code: str | None = None, retry_after: int = 1):
        super().__init__(message, code=code)
        self.retry_after = retry_after


# What the HTTP edge answers itself (chalicelib/api/edge.py), and API Gateway for the REST API
# (its Gateway Responses, infra/parlor_stack.py), in the same envelope.
class RouteNotFound(NotFound):
    code = "route_not_found"
    default_message = "No such route."


class MethodNotAllowed(DomainError):
    status = 405
    code = "method_not_allowed"
    default_message = "This route does not take that method."


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    default_message = "Send JSON (Content-Type: application/json)."


class GatewayRefused(DomainError):
    """API Gateway refused the request before it reached the API (its message says why)."""

    status = 400
    code = "request_refused"
    default_message = "The request was refused."


class InternalError(DomainError):
    status = 500
    code = "internal_error"
    default_message = "Something went wrong on our side."


class TokenExpired(Unauthorized):
    """A session token that was valid and has expired: sign in (or refresh) again."""

    code = "token_expired"
    default_message = "The token has expired."


class InvalidToken(Unauthorized):
    """A session token that is malformed, forged or not a session token at all."""

    code = "invalid_token"
    default_message = "The token is invalid."


# Accounts and the social graph.
class HandleTaken(Conflict):
    code = "handle_taken"
    default_message = "That handle is already taken."


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    default_message = "Handle or password is wrong."


class TooManyAttempts(RateLimited):
    code = "too_many_attempts"
    default_message = "Too many attempts; try again later."


class EmailTaken(Conflict):
    code = "email_taken"
    default_message = "That email address belongs to another account."


class ResetTokenInvalid(NotFound):
    """Unknown, used or expired: one answer, so a guess learns nothing."""

    code = "reset_token_invalid"
    default_message = "This password-reset link is not valid (used, expired or wrong); ask for a new one."


class WeakPassword(RuleViolated):
    code = "weak_password"
    default_message = "Choose a stronger password."


class UserNotFound(NotFound):
    code = "user_not_found"
    default_message = "No such user."


class CannotFollowSelf(RuleViolated):
    code = "cannot_follow_self"
    default_message = "You cannot follow yourself."


class NotFollowing(Conflict):
    code = "not_following"
    default_message = "You do not follow that user."


class Blocked(Forbidden):
    """One of the two people blocks the other (a join, a follow, a direct message)."""

    code = "blocked"
    default_message = "You cannot do that: one of you blocks the other."


class CannotBlockSelf(RuleViolated):
    code = "cannot_block_self"
    default_message = "You cannot block yourself."


# Text fields (names, titles, topics, chat).
class InvalidText(RuleViolated):
    code = "invalid_text"
    default_message = "The text is not allowed."


# Spaces.
class UnknownTopic(RuleViolated):
    code = "unknown_topic"
    default_message = "Topics come from the list GET /v1/topics gives."


class NotEligibleToHost(Forbidden):
    code = "not_eligible_to_host"
    default_message = "Hosting needs more followers."


class SpaceNotFound(NotFound):
    code = "space_not_found"
    default_message = "No such space."


class InvalidState(Conflict):
    code = "invalid_state"
    default_message = "The space is not in a state that allows this."


class AlreadyHosting(Conflict):
    code = "already_hosting"
    default_message = "You already host a live space."


class TooManyScheduled(Conflict):
    code = "too_many_scheduled"
    default_message = "You have too many scheduled spaces."


class InvalidSchedule(RuleViolated):
    code = "invalid_scheduled_start"
    default_message = "The start time must be in the future and at most 30 days ahead."


class NotHost(Forbidden):
    code = "not_host"
    default_message = "Only the host may do that."


class NotModerator(Forbidden):
    code = "not_moderator"
    default_message = "Only the host and co-hosts may do that."


class Banned(Forbidden):
    code = "banned"
    default_message = "You were banned from this space."


class NotInSpace(Conflict):
    code = "not_in_space"
    default_message = "That user is not in the space."


class RoleLimitReached(Conflict):
    code = "role_limit_reached"
    default_message = "That role is full."


class TicketRequired(Forbidden):
    code = "ticket_required"
    default_message = "This space needs a ticket."


class NoAudienceTier(Conflict):
    """This deployment has no media bucket or no CDN signing key (configuration, not an outage)."""

    code = "hls_unavailable"
    default_message = "This deployment has no audience tier (HLS, replays, clips)."


# Realtime and chat.
class Muted(Forbidden):
    code = "muted"
    default_message = "You are muted."


class NotParticipant(Forbidden):
    code = "not_in_space"
    default_message = "Only people in the space may do that."


# Ticketing.
class PayoutsNotEnabled(RuleViolated):
    code = "payouts_not_enabled"
    default_message = "Finish payout onboarding before selling tickets."


class SoldOut(Conflict):
    code = "sold_out"
    default_message = "No tickets left."


class NoWebClient(Conflict):
    """A Stripe page would send the person back to a web client this deployment does not have."""

    code = "web_client_unavailable"
    default_message = "This deployment has no web client to come back to; use the app."


class InvalidSignature(ValidationFailed):
    code = "invalid_signature"
    default_message = "The Stripe signature is missing or wrong."


# Retries and idempotency keys.
class RequestInProgress(Conflict):
    """The same request (same idempotency key, same Stripe event) is being handled right now."""

    code = "request_in_progress"
    default_message = "The same request is being handled; retry shortly."
    retry_after = 1


class IdempotencyKeyReused(RuleViolated):
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was used for a different request."


# Reports and platform moderation (trust and safety staff).
class MessageNotFound(NotFound):
    code = "message_not_found"
    default_message = "No such message."


class ReportNotFound(NotFound):
    code = "report_not_found"
    default_message = "No such report."


class AlreadyReported(Conflict):
    code = "already_reported"
    default_message = "You already reported this; it is being looked at."


class ReportClosed(Conflict):
    code = "report_closed"
    default_message = "This report was already resolved."


class NotStaff(Forbidden):
    code = "not_staff"
    default_message = "Only trust and safety staff may do that."


class Suspended(Forbidden):
    code = "suspended"
    default_message = "This account is suspended."


class AlreadySuspended(Conflict):
    code = "already_suspended"
    default_message = "This account is already suspended."


class NotSuspended(Conflict):
    code = "not_suspended"
    default_message = "This account is not suspended."
