"""bus side by side with a bare aiobotocore loop, Celery and Dramatiq on one embedded LocalStack.

``python -m bench.compare [--quick]`` (part of ``make bench``) starts LocalStack, runs every system
on the same queue with the same messages, payload and concurrency, and prints each figure as a
ratio to the bare aiobotocore loop. One small module per system; each measurement runs in a
subprocess of its own: bus and the bare loop in the project's virtualenv, Celery and Dramatiq in
the benchmark's own (``peers``), so their boto3/botocore never meets aiobotocore's pin.

Only ``common``, ``stats`` and ``report`` are shared by both environments: they use the standard
library alone.
"""
