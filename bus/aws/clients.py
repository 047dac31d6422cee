"""aiobotocore clients for SQS, SNS, EventBridge, CloudWatch, DynamoDB, Lambda, S3 and STS, from
``Settings``.

``AwsClients`` is an async context manager; open it once per process (or per command) and pass it
where it is needed. Client configuration: botocore "standard" retries (throttling, 5xx, connection
errors only), a connection pool sized for the worker's concurrency, and explicit timeouts. Every
``AwsClients`` of a process shares one loader of botocore's data files (the JSON service models are
parsed once per process, not once per ``AwsClients``). SNS
request bodies are form-encoded once per call instead of once per read (``encoding``); SQS's
ReceiveMessage answers are parsed by a lighter walk that yields botocore's own dicts (``receive``),
the SQS, SNS and EventBridge clients build their User-Agent header once per feature set, not twice
per call (``useragent``), and the worker's receive, delete and visibility batches skip botocore's client-side check of parameters
that bus alone builds (``unchecked``).

Endpoints: ``Settings.endpoint_url`` (``--endpoint-url``, ``AWS_ENDPOINT_URL``) serves every
service, except one that has a service-specific endpoint in the environment
(``AWS_ENDPOINT_URL_<SERVICE>``, the standard AWS setting, e.g. ``AWS_ENDPOINT_URL_DYNAMODB``):
that one wins for its service, as it does in every AWS SDK, so one emulator can serve SQS and SNS
and another DynamoDB.

S3 (the claim check's payloads) addresses buckets by path when an endpoint is given (an emulator,
or an S3-compatible service that does not serve bucket subdomains), as AWS's own default does
otherwise.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from bus.aws.errors import aws_errors
from bus.errors import BusError, SettingsError
from bus.settings import DEFAULT_MAX_ATTEMPTS, Settings, ignores_endpoints

if TYPE_CHECKING:
    from aiobotocore.session import AioSession
    from botocore.loaders import Loader
    from types_aiobotocore_cloudwatch import CloudWatchClient
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_events import EventBridgeClient
    from types_aiobotocore_lambda import LambdaClient
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sts import STSClient


@dataclass(frozen=True)
class Account:
    """Where ARNs point: partition, region and account id of the caller."""

    account_id: str
    region: str
    partition: str = "aws"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"


SERVICE_ENDPOINT_VARS: Mapping[str, str] = {
    "sqs": "AWS_ENDPOINT_URL_SQS",
    "sns": "AWS_ENDPOINT_URL_SNS",
    "events": "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "cloudwatch": "AWS_ENDPOINT_URL_CLOUDWATCH",
    "dynamodb": "AWS_ENDPOINT_URL_DYNAMODB",
    "sts": "AWS_ENDPOINT_URL_STS",
}
"""botocore's client name -> the standard service-specific endpoint variable (the service id,
upper case, spaces as underscores)."""


def service_endpoint(
    service: str, settings: Settings, environ: Mapping[str, str] | None = None
) -> str | None:
    """The endpoint ``service``'s client is given: its service-specific variable when set, else
    ``settings.endpoint_url``. ``None`` lets botocore resolve it the standard way."""
    env = os.environ if environ is None else environ
    variable = SERVICE_ENDPOINT_VARS.get(service, "")
    own = env.get(variable, "")
    if own and ignores_endpoints(env, settings.profile):
        own = ""
    if own and not own.startswith(("http://", "https://")):
        raise SettingsError(f"{variable} {own!r}: an endpoint URL starts with http:// or https://")
    return own or settings.endpoint_url


def retries(settings: Settings, session: AioSession | None = None) -> dict[str, Any]:
    """botocore's ``retries`` for bus's clients. Attempts: ``settings.max_attempts``, else the
    AWS configuration's as botocore reads it (``AWS_MAX_ATTEMPTS``, else the profile's
    ``max_attempts``), else ``DEFAULT_MAX_ATTEMPTS``; 1 to 20. Mode: ``adaptive`` when the AWS
    configuration asks for it (``AWS_RETRY_MODE``, the profile's ``retry_mode``), else
    ``standard``, also in place of ``legacy``: bus relies on the standard mode's rules (which
    errors are retried, how long it waits). ``session``: the one clients are made from (else
    one for ``settings.profile``)."""
    from botocore.session import Session

    config: Session = session or Session(profile=settings.profile)
    with aws_errors("read the AWS configuration"):  # a missing profile: SettingsError
        mode = config.get_config_variable("retry_mode")
        attempts = settings.max_attempts
        if attempts is None:
            try:
                attempts = config.get_config_variable("max_attempts")
            except ValueError as exc:  # not a whole number
                raise SettingsError(
                    f"max_attempts in the AWS configuration (AWS_MAX_ATTEMPTS or the profile's "
                    f"max_attempts): {exc}"
                ) from exc
    if attempts is None:
        attempts = DEFAULT_MAX_ATTEMPTS
    if not 1 <= attempts <= 20:
        raise SettingsError(
            f"max_attempts is {attempts} in the AWS configuration (AWS_MAX_ATTEMPTS or the "
            "profile's max_attempts): bus takes 1 to 20"
        )
    return {
        "mode": "adaptive" if mode == "adaptive" else "standard",
        "total_max_attempts": attempts,
    }


_LOADERS: dict[str | None, Loader] = {}


def _share_loader(session: AioSession) -> AioSession:
    """Give ``session`` the process's loader of botocore's data files (one per data path): each
    new session would otherwise parse the JSON models and endpoint rules again, most of the cost
    of opening ``AwsClients`` a second time in a process (a CLI command, a test)."""
    from botocore.loaders import create_loader

    path = session.get_config_variable("data_path")
    loader = _LOADERS.get(path) or _LOADERS.setdefault(path, create_loader(path))
    session.register_component("data_loader", loader)
    return session


class AwsClients:
    """Open SQS, SNS, EventBridge, CloudWatch, DynamoDB, Lambda, S3 and STS clients sharing
    one configuration.

    Every client is opened with the others (opening one makes no call to AWS).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack: AsyncExitStack | None = None
        self._sqs: SQSClient | None = None
        self._sns: SNSClient | None = None
        self._events: EventBridgeClient | None = None
        self._cloudwatch: CloudWatchClient | None = None
        self._dynamodb: DynamoDBClient | None = None
        self._lambda: LambdaClient | None = None
        self._s3: S3Client | None = None
        self._sts: STSClient | None = None
        self._account: Account | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        """The event loop the clients were opened on: their connections belong to it."""

    def _client_kwargs(self, service: str, retry: dict[str, Any], **extra: Any) -> dict[str, Any]:
        from aiobotocore.config import AioConfig

        s = self.settings
        config = AioConfig(
            retries=dict(retry),
            max_pool_connections=s.max_pool_connections,
            connect_timeout=s.connect_timeout,
            read_timeout=s.read_timeout,
            **extra,
        )
        kwargs: dict[str, Any] = {"config": config}
        if s.region:
            kwargs["region_name"] = s.region
        endpoint = service_endpoint(service, s)
        if endpoint:
            kwargs["endpoint_url"] = endpoint
        return kwargs

    async def __aenter__(self) -> AwsClients:
        # aiobotocore (with aiohttp and most of botocore) is imported here, when clients are
        # first opened, not by ``import bus``: the commands and tests that never call AWS
        # (``bus validate``, ``bus graph``, ``--help``, the in-memory AWS) start without it.
        from aiobotocore.session import AioSession

        from bus.aws.encoding import EVENT as ENCODE_ONCE_EVENT
        from bus.aws.encoding import encode_query_body_once
        from bus.aws.receive import EVENT as RECEIVE_EVENT
        from bus.aws.receive import parse_receive
        from bus.aws.signing import light_signing
        from bus.aws.unchecked import skip_validation
        from bus.aws.useragent import cache_user_agent

        stack = AsyncExitStack()
        with aws_errors("create clients"):  # a missing profile fails here, as a SettingsError
            session = _share_loader(AioSession(profile=self.settings.profile))
            retry = retries(self.settings, session)

        def open_client(service: Any) -> Any:
            return stack.enter_async_context(
                session.create_client(service, **self._client_kwargs(service, retry))
            )

        try:
            with aws_errors("create clients"):
                self._sqs = await open_client("sqs")
                self._sqs.meta.events.register(RECEIVE_EVENT, parse_receive)
                cache_user_agent(self._sqs)
                light_signing(self._sqs)
                skip_validation(self._sqs)
                self._sns = await open_client("sns")
                self._sns.meta.events.register(ENCODE_ONCE_EVENT, encode_query_body_once)
                cache_user_agent(self._sns)
                light_signing(self._sns)
                self._events = await open_client("events")
                cache_user_agent(self._events)
                light_signing(self._events)
                self._cloudwatch = await open_client("cloudwatch")
                self._dynamodb = await open_client("dynamodb")
                self._lambda = await open_client("lambda")
                self._sts = await open_client("sts")
                s3_path = (
                    {"addressing_style": "path"} if service_endpoint("s3", self.settings) else None
                )
                self._s3 = await stack.enter_async_context(
                    session.create_client("s3", **self._client_kwargs("s3", retry, s3=s3_path))
                )
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        self._loop = asyncio.get_running_loop()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None

    def ensure_loop(self) -> None:
        """Raise a clear ``BusError`` when called on another event loop than the one the
        clients were opened on: their connections belong to that loop, and aiohttp would fail
        each call with "attached to a different loop" (a Publisher opened in one loop and used
        from ``asyncio.run`` or another test's loop)."""
        opened = self._loop
        if opened is not None and opened is not asyncio.get_running_loop():
            raise BusError(
                "these AwsClients were opened on another event loop, and their connections "
                "belong to it: open the clients (AwsClients, Publisher.open) in the loop that "
                "uses them, e.g. in the application's startup or in a fixture of the test's loop"
            )

    def _require(self, client: Any) -> Any:
        if client is None:
            raise BusError("AwsClients is not open: use `async with AwsClients(settings) as aws:`")
        return client

    @property
    def sqs(self) -> SQSClient:
        client: SQSClient = self._require(self._sqs)
        return client

    @property
    def sns(self) -> SNSClient:
        client: SNSClient = self._require(self._sns)
        return client

    @property
    def events(self) -> EventBridgeClient:
        client: EventBridgeClient = self._require(self._events)
        return client

    @property
    def cloudwatch(self) -> CloudWatchClient:
        client: CloudWatchClient = self._require(self._cloudwatch)
        return client

    @property
    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self._require(self._dynamodb)
        return client

    @property
    def lambda_(self) -> LambdaClient:
        """Lambda (event source mappings, ``bus.topology.mappings_aws``)."""
        client: LambdaClient = self._require(self._lambda)
        return client

    @property
    def s3(self) -> S3Client:
        client: S3Client = self._require(self._s3)
        return client

    @property
    def region(self) -> str:
        return str(self.sqs.meta.region_name)

    async def account(self) -> Account:
        """The caller's account (STS GetCallerIdentity), fetched once."""
        if self._account is None:
            sts: STSClient = self._require(self._sts)
            with aws_errors("GetCallerIdentity"):
                ident = await sts.get_caller_identity()
            arn = ident.get("Arn", "arn:aws:")
            partition = arn.split(":")[1] if arn.count(":") >= 2 else "aws"
            self._account = Account(
                account_id=ident["Account"], region=self.region, partition=partition or "aws"
            )
        return self._account
