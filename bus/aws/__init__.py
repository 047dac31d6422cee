"""The AWS core: the only package that talks to AWS through aiobotocore/botocore (the in-memory
AWS raises botocore's ``ClientError`` as they do), and the one place each AWS fact bus relies on
is modelled. One small module per job:

- ``clients``: ``AwsClients`` (aiobotocore clients from ``Settings``); ``errors``: botocore's
  exceptions mapped into bus's, keeping AWS's code;
- ``queues``: queue resolution (name -> URL, attributes, redrive policy; one missing-queue error);
- ``sqs``: ``QueueOps``, the SQS calls of the worker and the DLQ tools, batch calls answering per
  entry;
- ``limits``: AWS's size limits, one table; ``backoff``: one backoff function and one retry-config
  shape (``RetryConfig``); ``failure``: the one reader and writer of the ``bus.failure`` record;
- ``s3``: the claim check's objects (put, read within a size limit);
- the hot path's lighter botocore steps, each the same bytes or dicts as botocore's own and each
  falling back to botocore's when its internals differ: ``receive`` (ReceiveMessage answers
  parsed), ``encoding`` (SNS bodies form-encoded once; ``LightSerializer`` for the batch entries
  bus built), ``unchecked`` (the worker's own calls skip the client-side check), ``useragent``
  (the header built once per feature set).

Functions here take the client (``aws.sqs``) at aiobotocore's method level: an in-memory AWS with
the same methods plugs in below them.
"""

from bus.aws.clients import Account, AwsClients
from bus.aws.errors import aws_errors, error_code

__all__ = ["Account", "AwsClients", "aws_errors", "error_code"]
