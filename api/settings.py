"""One settings object, read from `KIZUNA_*` environment variables and validated.

Every bad value is reported at once, with the variable's name and what it accepts, before
anything starts.
"""

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from api.cors import parse_origins
from api.logs import LogFormat, LogLevel
from auth.keys import Keyring


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class SettingsError(ValueError):
    """One or more environment variables have unusable values."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class GraphQLLimits:
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    max_cost: int = 1000
    max_body_bytes: int = 64 * 1024


class TrustedDocuments(StrEnum):
    OFF = "off"
    ALLOW_LIST = "allow-list"


class TrustedExemption(StrEnum):
    ADMIN = "admin"
    GRAPHIQL = "graphiql"


@dataclass(frozen=True, slots=True)
class PersistedOperationSettings:
    """Automatic persisted queries and trusted documents (docs/persisted-operations.md)."""

    trusted_documents: TrustedDocuments = TrustedDocuments.OFF
    exempt: frozenset[TrustedExemption] = frozenset(
        {TrustedExemption.ADMIN, TrustedExemption.GRAPHIQL})
    apq: bool = True
    apq_max_operations: int = 10_000
    apq_max_per_client: int = 200
    apq_retention_days: int = 30
    public_cache_seconds: int = 0


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about a Kizuna server. Defaults suit local development."""

    env: Environment = Environment.DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = 8000
    mongodb_uri: str | None = None
    database: str = "kizuna"
    data_dir: Path = Path(".kizuna")
    jwt_issuer: str = "kizuna"
    jwt_audience: str = "kizuna-api"
    jwt_signing_key_pem: str | None = None
    jwt_previous_public_keys_pem: str = ""
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    login_max_attempts_per_account: int = 5
    login_max_attempts_per_client: int = 30
    login_window_seconds: int = 900
    password_time_cost: int = 3
    password_memory_kib: int = 64 * 1024
    password_concurrency: int = 2
    password_queue: int = 32
    password_queue_per_client: int = 2
    password_min_score: int = 3
    registrations_per_client: int = 20
    registration_window_seconds: int = 3600
    session_sync_seconds: int = 5
    metrics_token: str | None = None
    forwarded_allow_ips: str | None = None
    expiry_interval_seconds: int = 3600
    scan_max_failures: int = 10
    scan_max_shared_failures: int = 100
    scan_failure_window_seconds: int = 60
    scan_lockout_seconds: int = 300
    redemption_void_window_seconds: int = 2 * 3600
    key_retention_days: int = 7
    scan_audit_flush_ms: int = 100
    audit_retention_days: int = 400
    read_cache_seconds: int = 5
    stats_shards: int = 0
    """Documents each roll-up counter is spread over; 0: 1 on the embedded database (one
    transaction at a time), 8 on MongoDB."""
    event_poll_ms: int = 100
    subscription_auth_check_seconds: int = 5
    max_subscriptions_per_connection: int = 10
    max_connections_per_account: int = 5
    webhook_private_targets: bool = False
    webhook_timeout_seconds: int = 10
    webhook_poll_ms: int = 1000
    data_export_inline_records: int = 1000
    data_export_link_seconds: int = 900
    account_code_ttl_seconds: int = 900
    account_code_max_attempts: int = 5
    account_code_requests_per_address: int = 5
    account_code_requests_per_client: int = 20
    account_code_window_seconds: int = 3600
    cors_origins: tuple[str, ...] = ()
    """Origins (scheme://host[:port]) whose web apps may call the API; none: no CORS."""
    cors_max_age_seconds: int = 600
    compression: bool = True
    compression_min_bytes: int = 1024
    log_level: LogLevel = LogLevel.INFO
    log_format: LogFormat = LogFormat.AUTO
    request_telemetry: bool = True
    """Request ids, the access log and the HTTP and GraphQL metrics (off: to measure them)."""
    graphql: GraphQLLimits = field(default_factory=GraphQLLimits)
    persisted: PersistedOperationSettings = field(default_factory=PersistedOperationSettings)
    leaderboard_name_blocklist: str | None = None
    """Comma-separated words no leaderboard display name may contain, added to the built-in
    list of loyalty/play/leaderboard_names.py (`=word`: whole words only)."""

    @property
    def production(self) -> bool:
        return self.env is Environment.PRODUCTION

    def counter_shards(self) -> int:
        """The roll-up counters' shards (`stats_shards`, or what suits the database)."""
        return self.stats_shards or (1 if self.mongodb_uri is None else 8)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Settings from `environ` (default: the process environment); raises SettingsError."""
        reader = _Reader(os.environ if environ is None else environ)
        limits = GraphQLLimits(
            max_depth=reader.integer("KIZUNA_GRAPHQL_MAX_DEPTH", 10, low=2, high=50),
            max_aliases=reader.integer("KIZUNA_GRAPHQL_MAX_ALIASES", 15, low=1, high=500),
            max_tokens=reader.integer("KIZUNA_GRAPHQL_MAX_TOKENS", 2000, low=50, high=100_000),
            max_cost=reader.integer("KIZUNA_GRAPHQL_MAX_COST", 1000, low=10, high=1_000_000),
            max_body_bytes=reader.integer(
                "KIZUNA_MAX_BODY_BYTES", 64 * 1024, low=1024, high=16 * 1024 * 1024
            ),
        )
        cors_origins, cors_problems = parse_origins(reader.text("KIZUNA_CORS_ORIGINS", ""))
        reader.problems += [f"KIZUNA_CORS_ORIGINS: {problem}" for problem in cors_problems]
        settings = cls(
            env=reader.choice("KIZUNA_ENV", Environment, Environment.DEVELOPMENT),
            host=reader.text("KIZUNA_HOST", "127.0.0.1"),
            port=reader.integer("KIZUNA_PORT", 8000, low=1, high=65535),
            mongodb_uri=reader.optional(
                "KIZUNA_MONGODB_URI", check=_mongodb_uri, hint="a mongodb:// or mongodb+srv:// URI"
            ),
            database=reader.text("KIZUNA_DATABASE", "kizuna", check=_database_name,
                                 hint="1–63 letters, digits, '_' or '-'"),
            data_dir=Path(reader.text("KIZUNA_DATA_DIR", ".kizuna")),
            jwt_issuer=reader.text("KIZUNA_JWT_ISSUER", "kizuna"),
            jwt_audience=reader.text("KIZUNA_JWT_AUDIENCE", "kizuna-api"),
            jwt_signing_key_pem=reader.optional(
                "KIZUNA_JWT_SIGNING_KEY", check=_private_pem, hint="an Ed25519 private key PEM"
            ),
            jwt_previous_public_keys_pem=reader.text("KIZUNA_JWT_PREVIOUS_PUBLIC_KEYS", ""),
            access_token_ttl_seconds=reader.integer(
                "KIZUNA_ACCESS_TOKEN_TTL_SECONDS", 900, low=60, high=86400
            ),
            refresh_token_ttl_seconds=reader.integer(
                "KIZUNA_REFRESH_TOKEN_TTL_SECONDS", 30 * 86400, low=3600, high=400 * 86400
            ),
            login_max_attempts_per_account=reader.integer(
                "KIZUNA_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT", 5, low=1, high=1000
            ),
            login_max_attempts_per_client=reader.integer(
                "KIZUNA_LOGIN_MAX_ATTEMPTS_PER_CLIENT", 30, low=1, high=100_000
            ),
            login_window_seconds=reader.integer(
                "KIZUNA_LOGIN_WINDOW_SECONDS", 900, low=10, high=86400
            ),
            password_time_cost=reader.integer("KIZUNA_PASSWORD_TIME_COST", 3, low=1, high=20),
            password_memory_kib=reader.integer(
                "KIZUNA_PASSWORD_MEMORY_KIB", 64 * 1024, low=8 * 1024, high=4 * 1024 * 1024
            ),
            password_concurrency=reader.integer(
                "KIZUNA_PASSWORD_CONCURRENCY", 2, low=1, high=256
            ),
            password_queue=reader.integer("KIZUNA_PASSWORD_QUEUE", 32, low=0, high=10_000),
            password_queue_per_client=reader.integer(
                "KIZUNA_PASSWORD_QUEUE_PER_CLIENT", 2, low=1, high=10_000
            ),
            password_min_score=reader.integer("KIZUNA_PASSWORD_MIN_SCORE", 3, low=2, high=4),
            registrations_per_client=reader.integer(
                "KIZUNA_REGISTRATIONS_PER_CLIENT", 20, low=1, high=1_000_000
            ),
            registration_window_seconds=reader.integer(
                "KIZUNA_REGISTRATION_WINDOW_SECONDS", 3600, low=10, high=7 * 86400
            ),
            session_sync_seconds=reader.integer(
                "KIZUNA_SESSION_SYNC_SECONDS", 5, low=0, high=3600
            ),
            metrics_token=reader.optional("KIZUNA_METRICS_TOKEN"),
            forwarded_allow_ips=reader.optional("KIZUNA_FORWARDED_ALLOW_IPS"),
            expiry_interval_seconds=reader.integer(
                "KIZUNA_EXPIRY_INTERVAL_SECONDS", 3600, low=0, high=7 * 86400
            ),
            scan_max_failures=reader.integer("KIZUNA_SCAN_MAX_FAILURES", 10, low=1, high=1000),
            scan_max_shared_failures=reader.integer(
                "KIZUNA_SCAN_MAX_SHARED_FAILURES", 100, low=1, high=100_000
            ),
            scan_failure_window_seconds=reader.integer(
                "KIZUNA_SCAN_FAILURE_WINDOW_SECONDS", 60, low=10, high=86400
            ),
            scan_lockout_seconds=reader.integer(
                "KIZUNA_SCAN_LOCKOUT_SECONDS", 300, low=10, high=86400
            ),
            redemption_void_window_seconds=reader.integer(
                "KIZUNA_REDEMPTION_VOID_WINDOW_SECONDS", 2 * 3600, low=0, high=30 * 86400
            ),
            key_retention_days=reader.integer("KIZUNA_KEY_RETENTION_DAYS", 7, low=1, high=400),
            scan_audit_flush_ms=reader.integer(
                "KIZUNA_SCAN_AUDIT_FLUSH_MS", 100, low=10, high=24 * 3600 * 1000
            ),
            audit_retention_days=reader.integer(
                "KIZUNA_AUDIT_RETENTION_DAYS", 400, low=1, high=10 * 366
            ),
            read_cache_seconds=reader.integer("KIZUNA_READ_CACHE_SECONDS", 5, low=0, high=300),
            stats_shards=reader.integer("KIZUNA_STATS_SHARDS", 0, low=0, high=64),
            event_poll_ms=reader.integer("KIZUNA_EVENT_POLL_MS", 100, low=10, high=10_000),
            subscription_auth_check_seconds=reader.integer(
                "KIZUNA_SUBSCRIPTION_AUTH_CHECK_SECONDS", 5, low=1, high=3600),
            max_subscriptions_per_connection=reader.integer(
                "KIZUNA_MAX_SUBSCRIPTIONS_PER_CONNECTION", 10, low=1, high=1000),
            max_connections_per_account=reader.integer(
                "KIZUNA_MAX_CONNECTIONS_PER_ACCOUNT", 5, low=1, high=1000),
            webhook_private_targets=reader.boolean("KIZUNA_WEBHOOK_PRIVATE_TARGETS", False),
            webhook_timeout_seconds=reader.integer(
                "KIZUNA_WEBHOOK_TIMEOUT_SECONDS", 10, low=1, high=60),
            webhook_poll_ms=reader.integer("KIZUNA_WEBHOOK_POLL_MS", 1000, low=50,
                                           high=60_000),
            data_export_inline_records=reader.integer(
                "KIZUNA_DATA_EXPORT_INLINE_RECORDS", 1000, low=0, high=100_000),
            data_export_link_seconds=reader.integer(
                "KIZUNA_DATA_EXPORT_LINK_SECONDS", 900, low=60, high=86400),
            account_code_ttl_seconds=reader.integer(
                "KIZUNA_ACCOUNT_CODE_TTL_SECONDS", 900, low=60, high=86400),
            account_code_max_attempts=reader.integer(
                "KIZUNA_ACCOUNT_CODE_MAX_ATTEMPTS", 5, low=1, high=20),
            account_code_requests_per_address=reader.integer(
                "KIZUNA_ACCOUNT_CODE_REQUESTS_PER_ADDRESS", 5, low=1, high=1000),
            account_code_requests_per_client=reader.integer(
                "KIZUNA_ACCOUNT_CODE_REQUESTS_PER_CLIENT", 20, low=1, high=1_000_000),
            account_code_window_seconds=reader.integer(
                "KIZUNA_ACCOUNT_CODE_WINDOW_SECONDS", 3600, low=60, high=7 * 86400),
            cors_origins=cors_origins,
            cors_max_age_seconds=reader.integer(
                "KIZUNA_CORS_MAX_AGE_SECONDS", 600, low=0, high=86400),
            compression=reader.boolean("KIZUNA_COMPRESSION", True),
            compression_min_bytes=reader.integer(
                "KIZUNA_COMPRESSION_MIN_BYTES", 1024, low=64, high=16 * 1024 * 1024),
            log_level=reader.choice("KIZUNA_LOG_LEVEL", LogLevel, LogLevel.INFO),
            log_format=reader.choice("KIZUNA_LOG_FORMAT", LogFormat, LogFormat.AUTO),
            request_telemetry=reader.boolean("KIZUNA_REQUEST_TELEMETRY", True),
            graphql=limits,
            persisted=_persisted_operations(reader),
            leaderboard_name_blocklist=reader.optional("KIZUNA_LEADERBOARD_NAME_BLOCKLIST"),
        )
        if settings.jwt_signing_key_pem is not None:
            try:
                Keyring.from_pem(
                    settings.jwt_signing_key_pem.encode(),
                    settings.jwt_previous_public_keys_pem.encode(),
                )
            except ValueError as error:
                reader.problems.append(
                    f"KIZUNA_JWT_SIGNING_KEY / KIZUNA_JWT_PREVIOUS_PUBLIC_KEYS: {error}"
                )
        if settings.production and settings.jwt_signing_key_pem is None:
            reader.problems.append(
                "KIZUNA_JWT_SIGNING_KEY: required when KIZUNA_ENV=production "
                "(generate one with `kizuna generate-signing-key`)"
            )
        if settings.production and settings.webhook_private_targets:
            reader.problems.append(
                "KIZUNA_WEBHOOK_PRIVATE_TARGETS: not allowed when KIZUNA_ENV=production "
                "(webhooks would reach into the private network)")
        if settings.production and settings.mongodb_uri is None:
            reader.problems.append(
                "KIZUNA_MONGODB_URI: required when KIZUNA_ENV=production "
                "(the embedded database is for development)"
            )
        if reader.problems:
            raise SettingsError(reader.problems)
        return settings


def _persisted_operations(reader: "_Reader") -> PersistedOperationSettings:
    exempt: set[TrustedExemption] = set()
    listed = reader.text("KIZUNA_TRUSTED_DOCUMENTS_EXEMPT", "admin,graphiql")
    for name in filter(None, (part.strip().lower() for part in listed.split(","))):
        if name == "none":
            continue
        try:
            exempt.add(TrustedExemption(name))
        except ValueError:
            reader.problems.append(
                f"KIZUNA_TRUSTED_DOCUMENTS_EXEMPT={listed!r}: expected a comma-separated list "
                "of admin, graphiql (or none)")
    return PersistedOperationSettings(
        trusted_documents=reader.choice(
            "KIZUNA_TRUSTED_DOCUMENTS", TrustedDocuments, TrustedDocuments.OFF),
        exempt=frozenset(exempt),
        apq=reader.boolean("KIZUNA_APQ", True),
        apq_max_operations=reader.integer(
            "KIZUNA_APQ_MAX_OPERATIONS", 10_000, low=0, high=10_000_000),
        apq_max_per_client=reader.integer(
            "KIZUNA_APQ_MAX_PER_CLIENT", 200, low=1, high=1_000_000),
        apq_retention_days=reader.integer("KIZUNA_APQ_RETENTION_DAYS", 30, low=1, high=3660),
        public_cache_seconds=reader.integer(
            "KIZUNA_PUBLIC_CACHE_SECONDS", 0, low=0, high=86400),
    )


def _mongodb_uri(value: str) -> bool:
    return value.startswith(("mongodb://", "mongodb+srv://"))


def _database_name(value: str) -> bool:
    return 0 < len(value) < 64 and all(c.isalnum() or c in "_-" for c in value)


def _private_pem(value: str) -> bool:
    return "-----BEGIN PRIVATE KEY-----" in value


class _Reader:
    """Reads variables and collects every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []

    def _raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        return value if value not in (None, "") else None

    def text(
        self, name: str, default: str, *, check: Callable[[str], bool] | None = None,
        hint: str = "",
    ) -> str:
        value = self._raw(name)
        if value is None:
            return default
        if check is not None and not check(value):
            self.problems.append(f"{name}={value!r}: expected {hint}")
            return default
        return value

    def optional(
        self, name: str, *, check: Callable[[str], bool] | None = None, hint: str = ""
    ) -> str | None:
        value = self._raw(name)
        if value is not None and check is not None and not check(value):
            shown = "<hidden>" if any(s in name for s in ("KEY", "TOKEN", "URI")) else repr(value)
            self.problems.append(f"{name}={shown}: expected {hint}")
            return None
        return value

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            self.problems.append(f"{name}={value!r}: expected a whole number")
            return default
        if not low <= number <= high:
            self.problems.append(f"{name}={number}: expected a number from {low} to {high}")
            return default
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if value.lower() in {"1", "true", "yes", "on"}:
            return True
        if value.lower() in {"0", "false", "no", "off"}:
            return False
        self.problems.append(f"{name}={value!r}: expected true or false")
        return default

    def choice[E: StrEnum](self, name: str, enum: type[E], default: E) -> E:
        value = self._raw(name)
        if value is None:
            return default
        try:
            return enum(value.lower())
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            self.problems.append(f"{name}={value!r}: expected one of {allowed}")
            return default
