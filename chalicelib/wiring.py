"""The single place that builds services with real clients.

Built once per Lambda container (cold start) and reused; tests build their own with
``build_services`` and install it with ``use_services``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any, Callable

from argon2 import PasswordHasher
from pynamodb.connection import Connection

from chalicelib.clock import Clock, SystemClock
from chalicelib.events import EventPublisher
from chalicelib.gateways.cdn import CdnSigner
from chalicelib.gateways.email import Mailer
from chalicelib.gateways.media import MediaGateway
from chalicelib.gateways.media_store import S3MediaStore
from chalicelib.gateways.payments import Payments
from chalicelib.gateways.push import PushGateway
from chalicelib.gateways.queues import Queue, QueueSender
from chalicelib.gateways.realtime import ConnectionDirectory, RealtimeGateway
from chalicelib.models.media_workers import MediaPoolSlotModel, MediaWorkerModel
from chalicelib.services.account_deletion import AccountDeletion
from chalicelib.services.accounts import AccountLimits, AccountService
from chalicelib.services.audience import AudienceService
from chalicelib.services.blocks import Blocking
from chalicelib.services.chat import ChatService
from chalicelib.services.feed import LiveFeed
from chalicelib.services.idempotency import Idempotency
from chalicelib.services.membership import Membership
from chalicelib.services.moderation import Moderation
from chalicelib.services.notifications.fanout import Fanout
from chalicelib.services.notifications.inbox import Devices, Inbox
from chalicelib.services.notifications.jobs import NotificationJobs
from chalicelib.services.notifications.reminders import Reminders
from chalicelib.services.password_resets import PasswordResets
from chalicelib.services.pins import Pins
from chalicelib.services.realtime import RealtimeService
from chalicelib.services.reports import Reports
from chalicelib.services.rooms import RoomService
from chalicelib.services.search import SpaceSearch
from chalicelib.services.sessions import Sessions
from chalicelib.services.social import SocialGraph
from chalicelib.services.spaces import SpaceService
from chalicelib.services.speaking import SpeakingIndicators
from chalicelib.services.staff import StaffService
from chalicelib.services.throttle import Throttle
from chalicelib.services.ticketing.ledger import TicketLedger
from chalicelib.services.ticketing.payouts import PayoutService
from chalicelib.services.ticketing.reconcile import CheckoutReconciler
from chalicelib.services.ticketing.refunds import RefundService
from chalicelib.services.ticketing.seats import SeatService
from chalicelib.services.ticketing.webhooks import StripeWebhooks
from chalicelib.services.tokens import RoomTokens, SessionTokens, media_keypair
from chalicelib.services.trending import Trending
from chalicelib.services.turn import TurnCredentials
from chalicelib.settings import Settings, check_secrets, get_settings


@dataclass
class Services:
    settings: Settings
    clock: Clock
    tokens: SessionTokens
    room_tokens: RoomTokens
    events: EventPublisher
    media: MediaGateway
    accounts: AccountService
    social: SocialGraph
    spaces: SpaceService
    membership: Membership
    rooms: RoomService
    moderation: Moderation
    search: SpaceSearch
    feed: LiveFeed
    realtime_gateway: RealtimeGateway
    realtime: RealtimeService
    chat: ChatService
    speaking: SpeakingIndicators
    reminders: Reminders
    fanout: Fanout
    inbox: Inbox
    devices: Devices
    notification_jobs: NotificationJobs
    payouts: PayoutService
    seats: SeatService
    stripe_webhooks: StripeWebhooks
    refunds: RefundService
    idempotency: Idempotency
    checkouts: CheckoutReconciler
    account_deletion: AccountDeletion
    password_resets: PasswordResets
    audience: AudienceService
    blocks: Blocking
    reports: Reports
    staff: StaffService
    pins: Pins
    trending: Trending


def build_services(settings: Settings, clock: Clock | None = None, hasher: PasswordHasher | None = None,
                   events: EventPublisher | None = None, media: MediaGateway | None = None,
                   payments: Payments | None = None) -> Services:
    """The API's services for ``settings``. Fails closed: ``InsecureSettings`` (naming the
    variables) when a secret is missing, published or weak, so no Lambda serves with one."""
    check_secrets(settings)
    media_private_key, media_public_key = media_keypair(settings)
    clock = clock or SystemClock()
    connection = Connection()
    tokens = SessionTokens(settings.jwt_secret, settings.token_ttl_seconds, clock)
    room_tokens = RoomTokens(media_private_key, settings.jwt_secret, clock)
    directory = ConnectionDirectory(clock)
    management = _client("apigatewaymanagementapi", settings, endpoint_url=settings.ws_management_url)
    realtime_gateway = RealtimeGateway(directory, management,
                                       QueueSender(_client("sqs", settings), settings.queue_name(Queue.REALTIME)),
                                       settings.realtime_inline_limit)
    events = events or realtime_gateway
    media = media or _default_media(settings, clock, events, media_public_key)
    membership = Membership(connection, clock, events)
    social = SocialGraph(connection, clock)
    chat = ChatService(clock, membership, events, social)
    notifications_queue = QueueSender(_client("sqs", settings), settings.queue_name(Queue.NOTIFICATIONS))
    reminders = Reminders(connection, clock, settings, notifications_queue)
    inbox = Inbox(clock)
    devices = Devices(PushGateway(_client("sns", settings), {"apns": settings.sns_apns_arn, "fcm": settings.sns_fcm_arn}))
    fanout = Fanout(settings, notifications_queue, social, reminders, inbox, devices, events)
    payments = payments or Payments(settings.stripe_api_key, settings.stripe_webhook_secret, settings.stripe_api_base)
    payouts = PayoutService(settings, payments)
    ledger = TicketLedger(connection)
    refunds = RefundService(ledger, clock, payments, QueueSender(_client("sqs", settings), settings.queue_name(Queue.REFUNDS)))
    seats = SeatService(ledger, clock, settings, payments, payouts, refunds)
    idempotency = Idempotency()
    audience = _audience(settings, clock, seats)
    spaces = SpaceService(connection, clock, settings, membership, events, media, observers=[reminders, fanout, refunds],
                          ticket_rules=payouts)
    moderation = Moderation(clock, membership, events, media, on_ban=refunds.refund_banned)
    accounts = AccountService(connection, clock, tokens, hasher or PasswordHasher(), Throttle(clock),
                              AccountLimits.from_settings(settings),
                              Sessions(tokens, clock, settings.refresh_ttl_seconds))
    return Services(
        settings=settings,
        clock=clock,
        tokens=tokens,
        room_tokens=room_tokens,
        events=events,
        media=media,
        accounts=accounts,
        social=social,
        spaces=spaces,
        membership=membership,
        rooms=RoomService(clock, membership, events, media, room_tokens, admission=seats,
                          relays=TurnCredentials(settings.turn_urls, settings.turn_secret, settings.turn_ttl_seconds, clock),
                          streams=audience, webrtc_listener_cap=settings.webrtc_listener_cap, social=social),
        audience=audience,
        moderation=moderation,
        search=SpaceSearch(social),
        feed=LiveFeed(social, settings.feed_following_limit),
        realtime_gateway=realtime_gateway,
        realtime=RealtimeService(room_tokens, membership, directory, chat, realtime_gateway,
                                 settings.realtime_max_sockets_per_user),
        chat=chat,
        speaking=SpeakingIndicators(clock, events, settings.service_secret),
        reminders=reminders,
        fanout=fanout,
        inbox=inbox,
        devices=devices,
        notification_jobs=NotificationJobs(reminders, fanout),
        payouts=payouts,
        seats=seats,
        stripe_webhooks=StripeWebhooks(payments, payouts, seats, refunds, idempotency),
        refunds=refunds,
        idempotency=idempotency,
        checkouts=CheckoutReconciler(clock, payments, seats),
        account_deletion=AccountDeletion(connection, accounts, spaces, social, devices),
        password_resets=PasswordResets(accounts, clock, Mailer(_client("ses", settings), settings.email_sender),
                                       settings.password_reset_ttl_seconds, settings.password_reset_url,
                                       settings.log_reset_links),
        blocks=Blocking(social, membership, moderation),
        reports=Reports(connection, clock),
        staff=StaffService(connection, clock, accounts.sessions, spaces),
        pins=Pins(clock, events),
        trending=Trending(hidden_hosts=social.blocker_ids),  # hosts who block the caller are not shown
    )


def _client(service: str, settings: Settings, **kwargs: Any) -> Callable[[], Any]:
    """A boto3 client built on first use (cold start pays only for what it calls)."""
    import boto3

    return cache(lambda: boto3.client(service, **kwargs))


def _audience(settings: Settings, clock: Clock, seats: SeatService) -> AudienceService:
    """The audience tier, where the deployment has a media bucket and a CDN signing key."""
    store = S3MediaStore(settings.media_bucket, _client("s3", settings)) if settings.media_bucket else None
    signer = (CdnSigner(settings.cdn_url, settings.cdn_key_pair_id, settings.cdn_private_key, clock)
              if settings.cdn_url and settings.cdn_private_key else None)
    return AudienceService(clock, store, signer, timedelta(seconds=settings.hls_access_seconds),
                           timedelta(seconds=settings.replay_access_seconds), admission=seats)


def _default_media(settings: Settings, clock: Clock, events: EventPublisher, media_public_key: str) -> MediaGateway:
    import os

    from chalicelib.gateways import launchers, media, media_pool

    launcher: launchers.Launcher
    local: launchers.LocalProcessLauncher | None = None
    if settings.media_launcher == "local":
        env = launchers.worker_env(os.environ, MediaWorkerModel.Meta.table_name, media_public_key,
                                   settings.service_secret, settings.api_url, MediaPoolSlotModel.Meta.table_name,
                                   settings.media_bucket)
        launcher = local = launchers.LocalProcessLauncher(env, settings.media_base_port)
    elif settings.media_launcher == "ecs":
        import boto3

        launcher = launchers.EcsLauncher(boto3.client("ecs"), settings.ecs_cluster,
                                         settings.ecs_task_definition, settings.ecs_container, list(settings.ecs_subnets),
                                         list(settings.ecs_security_groups), settings.api_url, media_public_key,
                                         settings.media_bucket)
    else:
        return media.UnavailableMedia()
    pool = (media_pool.WarmPool(launcher, clock, settings.service_secret, settings.media_warm_pool)
            if settings.media_warm_pool > 0 else None)
    gateway = media.WorkerMediaGateway(launcher, clock, settings.service_secret, pool=pool, events=events)
    if local is not None:
        local.on_exit(gateway.worker_exited)  # on AWS, ECS task-state events call it (api/media_tasks.py)
    return gateway


_services: Services | None = None


def services() -> Services:
    global _services
    if _services is None:
        _services = build_services(get_settings())
    return _services


def use_services(replacement: Services | None) -> None:
    """Install a container (tests), or None to rebuild from the environment on next use."""
    global _services
    _services = replacement
