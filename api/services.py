"""Building the long-lived services from settings: database, keys, authenticator."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from api.migrations import migrate
from api.operation_store import INDEXES as PERSISTED_OPERATION_INDEXES
from api.privacy import personal_data
from api.settings import Settings
from auth.accounts import BIRTHDAY_INDEX
from auth.attempts import AttemptLimit, AttemptLimiter
from auth.codes import CodePolicy
from auth.collections import INDEXES as AUTH_INDEXES
from auth.data_export import DataRights
from auth.erasure import PENDING_INDEX as ERASURE_INDEX
from auth.export_links import ExportLinks
from auth.imports import EXTERNAL_ID_INDEX
from auth.keys import Keyring, load_key_dir
from auth.member_search import INDEXES as MEMBER_SEARCH_INDEXES
from auth.passwords import HashingCapacity, PasswordCost, Passwords
from auth.refresh_tokens import RefreshTokens
from auth.revocations import SessionRevocations
from auth.sign_in import AttemptLimits, Authenticator
from auth.tokens import AccessTokens
from events import INDEXES as EVENT_INDEXES
from events.audit import INDEXES as AUDIT_INDEXES
from events.feed import EventFeed
from events.privacy import INDEXES as PRIVACY_INDEXES
from events.webhooks import INDEXES as WEBHOOK_INDEXES
from loyalty.badges.catalogue import INDEXES as BADGE_INDEXES
from loyalty.earning.orders import INDEXES as ORDER_INDEXES
from loyalty.earning.rules.store import INDEXES as RULE_INDEXES
from loyalty.engagement.gifts import INDEXES as GIFT_INDEXES
from loyalty.engagement.surveys import INDEXES as SURVEY_INDEXES
from loyalty.ledger.indexes import INDEXES as LEDGER_INDEXES
from loyalty.members.admin_view import INDEXES as ADMIN_VIEW_INDEXES
from loyalty.members.directory import INDEXES as DIRECTORY_INDEXES
from loyalty.members.privacy import INDEXES as MEMBER_PRIVACY_INDEXES
from loyalty.play.challenge_completion import INDEXES as CHALLENGE_COMPLETION_INDEXES
from loyalty.play.challenge_store import INDEXES as CHALLENGE_INDEXES
from loyalty.play.draws import INDEXES as DRAW_INDEXES
from loyalty.play.leaderboard_names import parse_blocklist
from loyalty.play.leaderboard_players import INDEXES as LEADERBOARD_PLAYER_INDEXES
from loyalty.play.leaderboard_prizes import INDEXES as LEADERBOARD_PRIZE_INDEXES
from loyalty.play.leaderboard_scores import INDEXES as LEADERBOARD_SCORE_INDEXES
from loyalty.rewards.catalogue import INDEXES as REWARD_INDEXES
from loyalty.segments.definitions import INDEXES as SEGMENT_INDEXES
from scanner.audit import AuditLog, adopt_legacy_records
from scanner.collections import INDEXES as SCANNER_INDEXES
from scanner.desk import ScanDesk
from scanner.guessing import GuessingLimit, GuessingLimiter
from scanner.payload import VoucherTokens
from scanner.qr import QrRenderer
from schema.context import Services
from store import Store, connect, ensure_indexes
from store.clock import Clock, system_clock
from store.embedded import EmbeddedServer

ALL_INDEXES = (*EVENT_INDEXES, *WEBHOOK_INDEXES, *AUTH_INDEXES, *LEDGER_INDEXES,
               *ORDER_INDEXES, *RULE_INDEXES, *SCANNER_INDEXES, *SURVEY_INDEXES,
               BIRTHDAY_INDEX, *GIFT_INDEXES, *SEGMENT_INDEXES, *REWARD_INDEXES,
               *AUDIT_INDEXES, *MEMBER_SEARCH_INDEXES, *DIRECTORY_INDEXES,
               *ADMIN_VIEW_INDEXES, *PRIVACY_INDEXES, *MEMBER_PRIVACY_INDEXES,
               ERASURE_INDEX, EXTERNAL_ID_INDEX, *PERSISTED_OPERATION_INDEXES,
               *DRAW_INDEXES, *BADGE_INDEXES,
               *LEADERBOARD_SCORE_INDEXES, *LEADERBOARD_PLAYER_INDEXES,
               *LEADERBOARD_PRIZE_INDEXES,
               *CHALLENGE_INDEXES, *CHALLENGE_COMPLETION_INDEXES)


@dataclass(frozen=True, slots=True)
class Database:
    store: Store
    uri: str
    embedded: EmbeddedServer | None
    """The embedded server started (and supervised) or attached to; None for a MongoDB
    from settings."""


@dataclass(frozen=True, slots=True)
class Running:
    services: Services
    keyring: Keyring
    database: Database


def build_keyring(settings: Settings, clock: Clock) -> Keyring:
    # A replaced key stays trusted while something it signed may still be in use: access
    # tokens (minutes), and voucher QR payloads an app cached while offline (days).
    lifetime = max(
        timedelta(seconds=settings.access_token_ttl_seconds),
        timedelta(days=settings.key_retention_days),
    )
    if settings.jwt_signing_key_pem is not None:
        return Keyring.from_pem(
            settings.jwt_signing_key_pem.encode(), settings.jwt_previous_public_keys_pem.encode()
        )
    return load_key_dir(settings.data_dir / "keys", now=clock(), token_lifetime=lifetime)


def build_authenticator(settings: Settings, store: Store, keyring: Keyring, clock: Clock) -> (
    Authenticator
):
    window = timedelta(seconds=settings.login_window_seconds)
    access_lifetime = timedelta(seconds=settings.access_token_ttl_seconds)
    revocations = SessionRevocations(
        store, clock=clock, token_lifetime=access_lifetime,
        sync_interval=timedelta(seconds=settings.session_sync_seconds),
    )
    return Authenticator(
        store=store,
        passwords=Passwords(
            PasswordCost(time_cost=settings.password_time_cost,
                         memory_kib=settings.password_memory_kib),
            HashingCapacity(concurrent=settings.password_concurrency,
                            waiting=settings.password_queue,
                            per_client=settings.password_queue_per_client),
            min_score=settings.password_min_score,
        ),
        access_tokens=AccessTokens(
            keyring=keyring, issuer=settings.jwt_issuer, audience=settings.jwt_audience,
            lifetime=access_lifetime, clock=clock,
        ),
        refresh_tokens=RefreshTokens(
            store, lifetime=timedelta(seconds=settings.refresh_token_ttl_seconds), clock=clock,
            revocations=revocations,
        ),
        revocations=revocations,
        attempts=AttemptLimiter(store, clock),
        limits=AttemptLimits(
            per_account=AttemptLimit(settings.login_max_attempts_per_account, window),
            per_client=AttemptLimit(settings.login_max_attempts_per_client, window),
            registrations_per_client=AttemptLimit(
                settings.registrations_per_client,
                timedelta(seconds=settings.registration_window_seconds),
            ),
        ),
        codes=code_policy(settings),
    )


def code_policy(settings: Settings) -> CodePolicy:
    """One-time codes (password reset, email change) as the settings say."""
    window = timedelta(seconds=settings.account_code_window_seconds)
    return CodePolicy(
        lifetime=timedelta(seconds=settings.account_code_ttl_seconds),
        max_attempts=settings.account_code_max_attempts,
        requests_per_address=AttemptLimit(settings.account_code_requests_per_address, window),
        requests_per_client=AttemptLimit(settings.account_code_requests_per_client, window),
    )


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The configured MongoDB, or the embedded server started (or reused) for the data dir.
    A server started here is started again if it dies, until this context ends."""
    embedded: EmbeddedServer | None = None
    uri = settings.mongodb_uri
    if uri is None:
        embedded = await EmbeddedServer.start_or_attach(settings.data_dir / "db")
        uri = embedded.uri
    store = connect(uri, settings.database,
                    read_cache=timedelta(seconds=settings.read_cache_seconds),
                    counter_shards=settings.counter_shards())
    try:
        await store.require_transactions()
        await ensure_indexes(store, ALL_INDEXES)
        await adopt_legacy_records(store)  # the scan audit's former collection, once
        await migrate(store)
        yield Database(store=store, uri=uri, embedded=embedded)
    finally:
        await store.close()
        if embedded is not None:
            await embedded.stop()


@contextlib.asynccontextmanager
async def running(settings: Settings, clock: Clock = system_clock) -> AsyncIterator[Running]:
    async with database(settings) as opened:
        store = opened.store
        keyring = build_keyring(settings, clock)
        authenticator = build_authenticator(settings, store, keyring, clock)
        audit = AuditLog(store, flush_interval=settings.scan_audit_flush_ms / 1000)
        try:
            async with authenticator.revocations.running(), audit.running(), _event_feed(
                settings, opened.uri,
            ) as feed:
                yield Running(
                    services=Services(
                        store=store, authenticator=authenticator, clock=clock,
                        scanning=build_scan_desk(settings, store, keyring, audit, clock),
                        qr=QrRenderer(), feed=feed,
                        data_rights=build_data_rights(settings, authenticator, keyring, clock),
                        webhook_private_targets=settings.webhook_private_targets,
                        leaderboard_name_blocklist=parse_blocklist(
                            settings.leaderboard_name_blocklist),
                    ),
                    keyring=keyring,
                    database=opened,
                )
        finally:
            authenticator.passwords.close()


@contextlib.asynccontextmanager
async def _event_feed(settings: Settings, uri: str) -> AsyncIterator[EventFeed]:
    """The live feed on a connection of its own: its reads are no request's round trips."""
    async with background_store(settings, uri) as store, EventFeed(
        store, poll_interval=settings.event_poll_ms / 1000,
    ).running() as feed:
        yield feed


@contextlib.asynccontextmanager
async def background_store(settings: Settings, uri: str) -> AsyncIterator[Store]:
    """A connection of its own for background work, so that its reads and writes are not
    counted as any request's round trips."""
    store = connect(uri, settings.database, read_cache=timedelta(0),
                    counter_shards=settings.counter_shards())
    try:
        yield store
    finally:
        await store.close()


def build_data_rights(settings: Settings, authenticator: Authenticator, keyring: Keyring,
                      clock: Clock) -> DataRights:
    return DataRights(
        personal_data=personal_data(authenticator.refresh_tokens),
        links=ExportLinks(keyring=keyring, issuer=settings.jwt_issuer, clock=clock,
                          lifetime=timedelta(seconds=settings.data_export_link_seconds)),
        inline_limit=settings.data_export_inline_records,
    )


def build_scan_desk(
    settings: Settings, store: Store, keyring: Keyring, audit: AuditLog, clock: Clock
) -> ScanDesk:
    return ScanDesk(
        store=store, tokens=VoucherTokens(keyring), audit=audit, clock=clock,
        limiter=GuessingLimiter(store, clock, GuessingLimit(
            max_failures=settings.scan_max_failures,
            max_shared_failures=settings.scan_max_shared_failures,
            window=timedelta(seconds=settings.scan_failure_window_seconds),
            lockout=timedelta(seconds=settings.scan_lockout_seconds),
        )),
        void_window=timedelta(seconds=settings.redemption_void_window_seconds),
    )
