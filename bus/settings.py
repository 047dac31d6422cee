"""Explicit settings: where AWS is, which stage, which topology. Loaded once, then passed around.

Nothing here assumes an emulator: the endpoint, region and profile come from the standard AWS
configuration (``AWS_ENDPOINT_URL``, ``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_PROFILE``) unless
given explicitly (the CLI's ``--endpoint-url``, ``--region``, ``--profile``, ``--env``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from bus.errors import SettingsError

DEFAULT_TOPOLOGY = Path("topology.yaml")
DEFAULT_MAX_ATTEMPTS = 5
"""Attempts per AWS call when neither ``Settings`` nor the AWS configuration says."""
_ENV_RE = r"^[a-z0-9][a-z0-9-]{0,19}$"


CLI_CONNECT_TIMEOUT = 2.0
CLI_READ_TIMEOUT = 4.0
CLI_MAX_ATTEMPTS = 2
"""What ``bus publish`` uses unless told otherwise: a call that never gets an answer fails after
2 attempts of 4 s and botocore's wait between them (at most 1 s): under 10 s. (Publishing an event
of the reference topology against such an endpoint makes two calls one after the other, STS's
GetCallerIdentity and EventBridge's PutEvents: under 20 s.)"""


class Settings(BaseModel):
    """Connection and stage settings. ``None`` means: let botocore resolve it the standard way."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    env: str | None = Field(default=None, pattern=_ENV_RE)
    topology_path: Path = DEFAULT_TOPOLOGY
    max_pool_connections: int = Field(default=50, ge=1, le=1000)
    connect_timeout: float = Field(default=5.0, gt=0)
    """Seconds to wait for a connection to AWS, per attempt."""
    read_timeout: float = Field(default=30.0, gt=0)
    """Seconds to wait for each read of an answer, per attempt. Above SQS's 20 s long poll, which
    the worker and the DLQ tools use."""
    max_attempts: int | None = Field(default=None, ge=1, le=20)
    """Attempts per AWS call, the first included (botocore's standard retry mode, which waits
    up to 2**n s between them). ``None``: the AWS configuration's (``AWS_MAX_ATTEMPTS``, or the
    profile's ``max_attempts``), else ``DEFAULT_MAX_ATTEMPTS`` (5); ``bus.aws.clients.retries``
    resolves it. Against an endpoint that accepts connections but never answers,
    a call fails after about ``max_attempts * read_timeout`` plus those waits: 155 s with these
    defaults; ``bus publish`` uses the ``CLI_*`` values above (under 10 s a call). A ``SyncPublisher`` or
    ``Publisher`` that must fail faster takes lower values, e.g.
    ``Settings.from_env(read_timeout=5, max_attempts=3)``."""

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_is_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value or None  # empty: not set

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from the environment, with explicit ``overrides`` (``None`` ignored).
        ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true``, or the profile's
        ``ignore_configured_endpoint_urls = true``, leaves ``AWS_ENDPOINT_URL`` out, as every AWS
        SDK does (``--endpoint-url`` still counts)."""
        env = os.environ if environ is None else environ
        profile = str(overrides.get("profile") or env.get("AWS_PROFILE") or "") or None
        endpoint = env.get("AWS_ENDPOINT_URL") or None
        if endpoint is not None and ignores_endpoints(env, profile):
            endpoint = None
        values: dict[str, object] = {
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            "endpoint_url": endpoint,
            "profile": env.get("AWS_PROFILE") or None,
            "env": env.get("BUS_ENV") or None,
        }
        if env.get("BUS_TOPOLOGY"):
            values["topology_path"] = Path(env["BUS_TOPOLOGY"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(_problem(error) for error in exc.errors())
            raise SettingsError(f"invalid settings: {problems}") from exc


def ignores_endpoints(environ: Mapping[str, str], profile: str | None = None) -> bool:
    """The AWS configuration says to ignore configured endpoints: the endpoint variables
    (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_<SERVICE>``) are not used. As botocore reads it:
    ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` when set, else the profile's
    ``ignore_configured_endpoint_urls`` in the shared config file (``AWS_CONFIG_FILE``, else
    ``~/.aws/config``; the profile: ``profile``, else ``AWS_PROFILE``, else ``default``)."""
    value: object = environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
    if value is None:
        value = _profile_setting(environ, profile, "ignore_configured_endpoint_urls")
    return str(value).lower() == "true"


def _profile_setting(environ: Mapping[str, str], profile: str | None, name: str) -> object:
    """``name`` in the profile's section of the shared config file, or ``None``. A missing or
    unreadable file says nothing here: botocore reports a broken one when clients are made."""
    from botocore.configloader import load_config
    from botocore.exceptions import BotoCoreError

    path = environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    name_of_profile = (
        profile or environ.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE") or "default"
    )
    try:
        profiles = load_config(path).get("profiles", {})
    except (BotoCoreError, OSError, ValueError):
        return None
    return profiles.get(name_of_profile, {}).get(name)


_SOURCES: Mapping[str, str] = {
    "region": "AWS_REGION / --region",
    "endpoint_url": "AWS_ENDPOINT_URL / --endpoint-url",
    "profile": "AWS_PROFILE / --profile",
    "env": "BUS_ENV / --env",
    "topology_path": "BUS_TOPOLOGY / --topology",
}
"""Where each setting ``from_env`` reads comes from: named in its errors."""


def _problem(error: ErrorDetails) -> str:
    """One validation error as ``SOURCE 'value': message``."""
    field = ".".join(str(part) for part in error["loc"]) or "settings"
    message = error["msg"].removeprefix("Value error, ")
    return f"{_SOURCES.get(field, field)} {error.get('input')!r}: {message}"
