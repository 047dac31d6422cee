"""bus on AWS Lambda: the topology's handlers for one queue as the handler of a Lambda function
fed by an SQS event source mapping, with the worker's own pipeline and a partial batch response.

``handler_for(queue)`` is the entry point (``entry``); ``LambdaConsumer`` runs an event through
the pipeline (``consumer``); ``records`` converts between SQS events and ReceiveMessage answers.
"""

from bus.aws_lambda.consumer import LambdaConsumer, LambdaContext, LambdaOptions
from bus.aws_lambda.entry import LambdaHandler, handler_for
from bus.aws_lambda.records import event_of, received_of, record_of

__all__ = [
    "LambdaConsumer",
    "LambdaContext",
    "LambdaHandler",
    "LambdaOptions",
    "event_of",
    "handler_for",
    "received_of",
    "record_of",
]
