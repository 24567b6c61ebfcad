"""One Settings object, read from environment variables (12-factor).

Conventional names (``DATABASE_URL``, ``REDIS_URL``, ``PORT``, ``HOST``) are used as they are;
everything else carries the ``HUB_`` prefix. The defaults are the embedded mode: SQLite under
``./var``, the in-process bus, local media files and the built-in offline image engine.
Every field is documented in docs/settings.md (``tests/test_docs.py`` checks it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", populate_by_name=True)

    # --- process ---------------------------------------------------------------------------
    host: str = Field("127.0.0.1", validation_alias=_env("HOST"), description="Interface to bind.")
    port: int = Field(8000, validation_alias=_env("PORT"), description="TCP port to listen on.")
    environment: Literal["development", "production", "test"] = Field(
        "development", description="Deployment environment; production enforces a secret key."
    )
    public_url: str = Field(
        "",
        description="External base URL; used for links, OAuth redirects and the Origin allow-list. "
        "Empty: http://HOST:PORT.",
    )
    secret_key: SecretStr = Field(
        SecretStr("dev-insecure-secret-change-me"),
        description="Signs CSRF tokens and access tokens. Must be set in production.",
    )
    log_level: str = Field("INFO", description="Root log level (DEBUG, INFO, WARNING, ...).")
    log_json: bool = Field(True, description="Emit structured JSON logs (one object per line).")
    data_dir: Path = Field(
        Path("./var"), description="Directory for the SQLite file, media and other local state."
    )

    # --- data layer ------------------------------------------------------------------------
    database_url: str = Field(
        "",
        validation_alias=_env("DATABASE_URL"),
        description="SQLAlchemy URL. Empty means SQLite at {data_dir}/hub.sqlite3. "
        "postgresql:// URLs use asyncpg.",
    )
    db_pool_size: int = Field(
        10,
        description="Database connections kept open per process (SQLite and Postgres); "
        "0 opens one connection per use and keeps none.",
    )
    db_max_overflow: int = Field(
        10, ge=0, description="Extra connections a process may open beyond the pool under load."
    )
    db_pool_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a request waits for a free database connection before it "
        "answers 503 `unavailable`.",
    )
    db_ready_timeout: float = Field(
        2.0,
        gt=0,
        description="Seconds `/readyz` waits for the database before it reports it down (503).",
    )
    db_command_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds one Postgres statement may take (the check of a pooled connection "
        "before use included) before it fails and the request answers 503 `unavailable`: a "
        "link that went silent under an open connection.",
    )
    db_echo: bool = Field(False, description="Log every SQL statement (debugging only).")
    auto_migrate: bool = Field(
        True,
        description="Run Alembic migrations to head at startup (embedded convenience). "
        "Processes that start at once on one database migrate one at a time.",
    )

    # --- bus -------------------------------------------------------------------------------
    redis_url: str = Field(
        "",
        validation_alias=_env("REDIS_URL"),
        description="Redis URL for the room bus, presence and rate limits. Empty: in-process.",
    )

    # --- HTTP limits -----------------------------------------------------------------------
    max_body_bytes: int = Field(
        1_048_576, description="Largest accepted JSON/form request body in bytes (413 above)."
    )
    max_upload_bytes: int = Field(
        20 * 1_048_576,
        validation_alias=AliasChoices("HUB_UPLOAD_MAX_BYTES", "HUB_MAX_UPLOAD_BYTES"),
        description="Largest accepted image upload in bytes.",
    )
    upload_max_pixels: int = Field(
        16_777_216,
        ge=1,
        description="Largest accepted image upload in pixels (4096x4096; decoding costs 4 bytes a "
        "pixel, however small the file).",
    )
    image_decode_concurrency: int = Field(
        2,
        ge=1,
        le=64,
        description="Images one process decodes at once (uploads, thumbnails); the rest wait. "
        "Peak image memory is about this times 4 bytes times the largest image's pixels.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Extra origins allowed for API CORS and room sockets."
    )

    # --- accounts --------------------------------------------------------------------------
    session_cookie_name: str = Field("hub_session", description="Browser session cookie name.")
    session_max_age: int = Field(
        14 * 24 * 3600, description="Browser session lifetime in seconds (sliding)."
    )
    access_token_ttl: int = Field(900, description="API access token lifetime in seconds.")
    refresh_token_ttl: int = Field(
        30 * 24 * 3600, description="API refresh token lifetime in seconds."
    )
    auth_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        description="How long a process reuses a bearer token's user without reading the "
        "database again (ended credentials are forgotten at once on every process over the "
        "bus; after a bus outage everything is forgotten). 0 turns the cache off.",
    )
    auth_cache_entries: int = Field(
        10_000, ge=0, description="Bearer tokens the actor cache holds per process."
    )
    registration_open: bool = Field(True, description="Allow self-service registration.")
    site_cache_seconds: float = Field(
        5.0,
        ge=0,
        description="How long each process keeps the site settings admins change at run time "
        "(docs/admin.md); a change reaches other processes within this time.",
    )
    rate_limit_login: str = Field(
        "10/minute",
        description="Login attempts per account, and password changes per user (limits syntax).",
    )
    rate_limit_login_ip: str = Field(
        "100/minute",
        description="Login attempts per client IP, all accounts together (limits syntax); far "
        "above the per-account limit because a classroom or an office shares one IP.",
    )
    rate_limit_register: str = Field(
        "5/minute", description="Registrations per client IP (limits syntax)."
    )
    oidc_google_client_id: str = Field("", description="Google OAuth client id (enables Google).")
    oidc_google_client_secret: SecretStr = Field(
        SecretStr(""), description="Google OAuth client secret."
    )
    oidc_issuer: str = Field(
        "", description="Generic OIDC issuer URL (discovery at /.well-known/openid-configuration)."
    )
    oidc_client_id: str = Field("", description="Client id at the generic OIDC issuer.")
    oidc_client_secret: SecretStr = Field(
        SecretStr(""), description="Client secret at the generic OIDC issuer."
    )
    oidc_name: str = Field("SSO", description="Button label for the generic OIDC provider.")

    # --- rooms -----------------------------------------------------------------------------
    room_max_members: int = Field(50, description="Most simultaneous sockets per room.")
    room_max_message_bytes: int = Field(
        262_144, description="Largest WebSocket message accepted on room sockets (1009 above)."
    )
    room_messages_per_second: float = Field(
        60.0, description="Sustained messages per second per socket before 4529."
    )
    room_store_flush_ms: int = Field(
        250, description="How far (ms) persisted document updates may lag behind edits."
    )
    room_event_window: int = Field(
        1000,
        ge=1,
        description="Room events kept replayable per room (?since=); older ones need a resync.",
    )
    room_chat_retention_days: int = Field(
        0, ge=0, description="Delete chat messages older than this (0: keep chat history forever)."
    )
    room_retention_interval: float = Field(
        3600.0, gt=0, description="Seconds between runs of the room event retention job."
    )
    rate_limit_room_create: str = Field(
        "30/hour", description="Rooms one user may create (limits syntax)."
    )
    redis_key_prefix: str = Field(
        "hub:",
        description="Prefix of the Redis keys and channels of room presence and room buses "
        "(lets several hubs share one Redis).",
    )
    ws_max_size: int = Field(
        1_048_576, description="uvicorn --ws-max-size for every WebSocket (bytes)."
    )
    graceful_shutdown_seconds: int = Field(
        10, description="uvicorn graceful shutdown timeout in seconds."
    )

    # --- generation ------------------------------------------------------------------------
    embedded_worker: bool = Field(
        True, description="Run one job worker inside the web process (embedded mode)."
    )
    worker_concurrency: int = Field(2, description="Jobs one worker process runs at once.")
    worker_metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port on which `hub worker` serves its own Prometheus `/metrics` (job "
        "durations, credits); 0 serves none. Web processes serve `/metrics` on their own port.",
    )
    jobs_per_user_running: int = Field(3, description="Most running jobs per user.")
    offline_step_delay: float = Field(
        0.05, ge=0, description="Pause (s) between offline-engine steps so progress is watchable."
    )
    offline_preview_size: int = Field(
        64, ge=16, le=512, description="Longest side (px) of the offline engine's previews."
    )
    signup_credits: int = Field(100, description="Credits granted to every new account.")
    jobs_max_running: int = Field(
        16, description="Most jobs running at once across every worker (global cap)."
    )
    jobs_per_user_queued: int = Field(
        100, description="Most queued jobs per user; more answer 429 until some finish."
    )
    job_max_attempts: int = Field(
        3, description="Attempts per job (retryable provider errors, expired leases)."
    )
    job_lease_seconds: float = Field(
        30.0, description="Job lease; a job whose worker stops renewing it is re-queued after it."
    )
    job_poll_interval: float = Field(
        0.5, description="Seconds between a worker's queue polls (and cancel checks)."
    )
    job_retry_base_seconds: float = Field(
        2.0, description="First retry delay; doubles per attempt (exponential backoff)."
    )
    job_retry_max_seconds: float = Field(300.0, description="Longest retry delay in seconds.")
    job_cancel_grace_seconds: float = Field(
        5.0, description="How long a canceled or stopping job may take to stop before it is cut."
    )
    job_retention_days: int = Field(
        30, description="Failed and canceled jobs are deleted after this many days."
    )
    job_batch_max_prompts: int = Field(16, description="Most prompts in one batch request.")
    job_batch_max_jobs: int = Field(
        64, ge=1, description="Most jobs in one named batch from the prompt library."
    )
    rate_limit_generate: str = Field(
        "60/minute", description="Generation requests per user (limits syntax)."
    )
    comfyui_url: str = Field("", description="ComfyUI base URL (enables the ComfyUI models).")
    comfyui_checkpoint: str = Field(
        "v1-5-pruned-emaonly.safetensors",
        description="Checkpoint file the ComfyUI workflows load; must exist in the ComfyUI "
        "server's models/checkpoints folder.",
    )
    openai_base_url: str = Field(
        "https://api.openai.com", description="OpenAI-compatible images API base URL."
    )
    openai_api_key: SecretStr = Field(
        SecretStr(""), description="OpenAI API key (enables the OpenAI model)."
    )
    openai_model: str = Field("gpt-image-1", description="OpenAI images model name.")
    seedream_base_url: str = Field(
        "https://ark.cn-beijing.volces.com/api", description="Volcengine Ark base URL."
    )
    seedream_api_key: SecretStr = Field(
        SecretStr(""), description="Volcengine Ark API key (enables Seedream)."
    )
    seedream_model: str = Field(
        "doubao-seedream-4-0-250828", description="Seedream model or Ark endpoint id."
    )
    seedream_watermark: bool = Field(
        False, description="Let Seedream stamp its visible 'AI generated' watermark."
    )
    gemini_base_url: str = Field(
        "https://generativelanguage.googleapis.com", description="Gemini API base URL."
    )
    gemini_api_key: SecretStr = Field(
        SecretStr(""), description="Gemini API key (enables the Gemini model)."
    )
    gemini_model: str = Field("gemini-2.5-flash-image", description="Gemini image model name.")
    openrouter_base_url: str = Field("https://openrouter.ai", description="OpenRouter base URL.")
    openrouter_api_key: SecretStr = Field(
        SecretStr(""), description="OpenRouter API key (enables the OpenRouter model)."
    )
    openrouter_model: str = Field(
        "google/gemini-2.5-flash-image", description="OpenRouter image model name."
    )

    # --- storage ---------------------------------------------------------------------------
    media_dir: Path = Field(
        Path("./var/media"),
        description="Local media directory. Unless set: {data_dir}/media (follows HUB_DATA_DIR).",
    )
    s3_bucket: str = Field("", description="S3 bucket; when set, media goes to S3 instead.")
    s3_endpoint_url: str = Field("", description="S3-compatible endpoint URL (MinIO, R2, ...).")
    s3_region: str = Field("us-east-1", description="S3 region.")
    s3_access_key_id: str = Field("", description="S3 access key id.")
    s3_secret_access_key: SecretStr = Field(SecretStr(""), description="S3 secret access key.")
    s3_public_base_url: str = Field(
        "", description="Public base URL of the bucket; empty means presigned URLs."
    )
    rate_limit_upload: str = Field(
        "120/hour", description="Image uploads (and avatar changes) per user (limits syntax)."
    )
    media_orphan_grace_seconds: float = Field(
        86_400.0,
        gt=0,
        description="Files of deleted images, and media files no row references, are removed "
        "by the cleanup once they are this old (seconds).",
    )

    # --- prompt library --------------------------------------------------------------------
    rate_limit_prompt: str = Field(
        "120/hour",
        description="Prompt templates one user may create, edit or restore, and templates they "
        "may use in rooms.",
    )
    rate_limit_prompt_new: str = Field(
        "20/hour", description="Prompt writes and uses a new account may make."
    )
    prompt_index_refresh_seconds: float = Field(
        2.0,
        gt=0,
        description="How often each web process reads the prompt templates changed since its "
        "last look into its suggestion index (changes made on the process itself apply at once).",
    )
    prompt_index_rebuild_seconds: float = Field(
        30.0,
        gt=0,
        description="Least time between two rebuilds of the suggestion index's ranked text and "
        "vocabulary after changes (completions and ranks lag by up to this long).",
    )

    # --- community -------------------------------------------------------------------------
    new_account_hours: float = Field(
        72.0,
        ge=0,
        description="Accounts younger than this many hours get the tighter *_NEW community "
        "rate limits (posting, commenting, liking, following, publishing).",
    )
    rate_limit_thread: str = Field("20/hour", description="Forum threads one user may start.")
    rate_limit_thread_new: str = Field(
        "3/hour", description="Forum threads a new account may start."
    )
    rate_limit_comment: str = Field("120/hour", description="Comments one user may post.")
    rate_limit_comment_new: str = Field("20/hour", description="Comments a new account may post.")
    rate_limit_reaction: str = Field(
        "600/hour", description="Likes and favorites (set or unset) one user may make."
    )
    rate_limit_reaction_new: str = Field(
        "120/hour", description="Likes and favorites a new account may make."
    )
    rate_limit_follow: str = Field("200/hour", description="Follows and unfollows per user.")
    rate_limit_follow_new: str = Field(
        "30/hour", description="Follows and unfollows per new account."
    )
    rate_limit_work: str = Field("60/hour", description="Works one user may create.")
    rate_limit_report: str = Field(
        "30/hour", description="Reports (of works, threads, comments, rooms, users) per user."
    )
    pre_review_new_accounts: bool = Field(
        False,
        description="Hold the works, threads and comments of new accounts (see "
        "HUB_NEW_ACCOUNT_HOURS and trust levels) until a moderator approves them; off: "
        "post first, review on report (docs/moderation.md).",
    )
    rate_limit_work_new: str = Field("10/hour", description="Works a new account may create.")
    forum_max_body_chars: int = Field(
        20_000,
        ge=100,
        le=200_000,
        description="The longest Markdown body of a forum thread or comment (characters); "
        "longer ones get 413 payload_too_large.",
    )
    feed_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="How long a web process reuses a public feed page (latest, hot, per "
        "category; not the following feed) before reading it again; 0 turns the cache off. A "
        "process sees its own writes at once, another process's within this time.",
    )
    hot_refresh_interval: float = Field(
        300.0,
        ge=0,
        description="Seconds between the web process's runs of the hot-score repair over recent "
        "works (docs/community.md); 0 turns it off.",
    )
    hot_refresh_days: float = Field(
        7.0,
        gt=0,
        description="How far back (days of publication) the periodic hot-score repair looks.",
    )

    # --- search ----------------------------------------------------------------------------
    search_language: str = Field(
        "simple",
        pattern=r"^[a-z_]{1,63}$",
        description="Postgres text search configuration of the search index ('simple': no "
        "stemming, any language; 'english', 'german', ...: stemming and stop words). Run "
        "`hub search reindex` after changing it. Not used on SQLite (trigram index).",
    )

    # --- payments and membership ----------------------------------------------------------
    payments_provider: Literal["offline", "stripe"] = Field(
        "offline",
        description="Who takes payments: 'offline' (embedded mode and tests: a confirm page of "
        "the hub's own, no money moves) or 'stripe' (Checkout Sessions and signed webhooks).",
    )
    payments_currency: str = Field(
        "usd", pattern=r"^[a-z]{3}$", description="ISO 4217 currency of every price (lowercase)."
    )
    payments_packs: str = Field(
        "500:499,1200:999,3000:1999",
        pattern=r"^\d{1,9}:\d{1,9}(,\d{1,9}:\d{1,9}){0,9}$",
        description="Credit packs on sale, as comma-separated 'credits:price in cents' pairs; "
        "each is item 'pack-<credits>' of the catalogue. Empty pairs are not allowed.",
    )
    membership_price_cents: int = Field(
        999, ge=0, description="Monthly membership price in cents; 0 takes it off sale."
    )
    membership_monthly_credits: int = Field(
        1500, ge=0, description="Credits a member gets with each paid month."
    )
    membership_priority: int = Field(
        10,
        ge=0,
        le=1000,
        description="Queue priority of members' jobs (others' are 0): a worker claims queued "
        "jobs of a higher priority first.",
    )
    membership_jobs_running: int = Field(
        6, ge=1, description="Most running jobs per member (HUB_JOBS_PER_USER_RUNNING for others)."
    )
    membership_jobs_queued: int = Field(
        300, ge=1, description="Most queued jobs per member (HUB_JOBS_PER_USER_QUEUED for others)."
    )
    membership_period_days: int = Field(
        30,
        ge=1,
        le=366,
        description="How long one paid month of membership lasts with the offline provider "
        "(Stripe says when its periods end).",
    )
    stripe_api_base: str = Field(
        "https://api.stripe.com", description="Stripe API base URL (tests point it elsewhere)."
    )
    stripe_secret_key: SecretStr = Field(
        SecretStr(""), description="Stripe secret API key (sk_...); needed by the stripe provider."
    )
    stripe_webhook_secret: SecretStr = Field(
        SecretStr(""),
        description="Signing secret (whsec_...) of the Stripe webhook endpoint; events whose "
        "Stripe-Signature does not verify with it are refused.",
    )

    # --- works -----------------------------------------------------------------------------
    works_default_category: str = Field(
        "showcase",
        pattern=r"^[a-z0-9][a-z0-9-]{0,63}$",
        description="The forum category of a published work's discussion thread when the work "
        "names none.",
    )
    sitemap_chunk: int = Field(
        10_000,
        ge=1,
        le=50_000,
        description="Most URLs in one sitemap file; /sitemap.xml is an index of files of works, "
        "threads and profiles, each covering this many ids (the protocol allows 50,000).",
    )

    # --- derived ---------------------------------------------------------------------------
    @property
    def room_channel_prefix(self) -> str:
        """The bus channel prefix of rooms: every process that reaches rooms uses this one."""
        return f"{self.redis_key_prefix}room:"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgres://"):
                url = "postgresql://" + url[len("postgres://") :]
            if url.startswith("postgresql://"):
                url = "postgresql+asyncpg://" + url[len("postgresql://") :]
            if url.startswith("sqlite:///"):
                url = "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
            return url
        return f"sqlite+aiosqlite:///{self.data_dir / 'hub.sqlite3'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def https(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def allowed_origins(self) -> set[str]:
        origins = {self.public_url.rstrip("/")}
        origins.update(o.rstrip("/") for o in self.cors_origins)
        # A hub on loopback is opened as localhost or 127.0.0.1 interchangeably; both are this
        # machine, so neither is a foreign origin.
        for origin in list(origins):
            scheme, _, rest = origin.partition("://")
            host, _, port = rest.partition(":")
            if host in _LOOPBACK_NAMES:
                suffix = f":{port}" if port else ""
                origins.update(f"{scheme}://{name}{suffix}" for name in _LOOPBACK_NAMES)
        return origins

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        if not self.public_url:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
            self.public_url = f"http://{host}:{self.port}"
        return self

    @model_validator(mode="after")
    def _default_media_dir(self) -> Settings:
        if "media_dir" not in self.model_fields_set:
            self.media_dir = self.data_dir / "media"
        return self
