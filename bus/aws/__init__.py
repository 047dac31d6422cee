"""The only package that imports aiobotocore/botocore: clients, and AWS errors mapped to bus's."""

from bus.aws.clients import Account, AwsClients
from bus.aws.errors import aws_errors, error_code

__all__ = ["Account", "AwsClients", "aws_errors", "error_code"]
