"""Map botocore's exceptions into bus's hierarchy, keeping AWS's error code.

Retries of AWS calls are botocore's "standard" retry mode (configured in ``clients.py``): it retries
only throttling codes, HTTP 5xx / transient codes and connection errors, with exponential backoff.
Everything it gives up on, or never retries, surfaces here as an ``AwsError`` with the AWS code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    InvalidRegionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from bus.errors import AwsError, SettingsError

CONNECTION_ERROR = "ConnectionError"


def error_code(exc: BaseException) -> str | None:
    """The AWS error code carried by ``exc`` (a bus ``AwsError`` or a botocore ``ClientError``)."""
    if isinstance(exc, AwsError):
        return exc.code
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return None


@contextmanager
def aws_errors(operation: str = "") -> Iterator[None]:
    """Translate botocore failures raised inside the block into ``AwsError``/``SettingsError``."""
    try:
        yield
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        op = operation or str(exc.operation_name)
        raise AwsError(
            f"{op} failed: {code}: {err.get('Message', '')}".rstrip(": "), code=code, operation=op
        ) from exc
    except InvalidRegionError as exc:
        raise SettingsError(f"{exc} (AWS_REGION / --region, e.g. eu-west-1)") from exc
    except ProfileNotFound as exc:
        raise SettingsError(
            f"{exc} (AWS_PROFILE / --profile names a profile of the AWS config and credentials "
            "files, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE if set)"
        ) from exc
    except (NoRegionError, NoCredentialsError, PartialCredentialsError) as exc:
        raise SettingsError(
            f"{exc} (set AWS_REGION / --region and AWS credentials or a profile; "
            "for the embedded emulator run `bus emulator start` and export what it prints)"
        ) from exc
    except (
        EndpointConnectionError,
        ConnectionClosedError,
        ConnectTimeoutError,
        ReadTimeoutError,
    ) as exc:
        raise AwsError(
            f"{operation or 'AWS call'}: cannot reach AWS: {exc}",
            code=CONNECTION_ERROR,
            operation=operation,
        ) from exc
    except BotoCoreError as exc:
        raise AwsError(
            f"{operation or 'AWS call'}: {exc}", code=type(exc).__name__, operation=operation
        ) from exc
