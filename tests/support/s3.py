"""An S3-compatible endpoint for tests: moto's standalone server on a free localhost port.

``s3_endpoint`` starts it, sets dummy AWS credentials in the environment and yields the endpoint URL;
``s3_bucket`` makes a bucket and yields (endpoint, bucket, an s3fs filesystem on it) for checking objects.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (a free port); the AWS variables set to dummies while it runs."""
    from moto.server import ThreadedMotoServer

    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def s3_bucket() -> Iterator[tuple[str, str, Any]]:
    """A new bucket on a fresh endpoint: (endpoint URL, bucket name, s3fs filesystem)."""
    import s3fs

    with s3_endpoint() as endpoint:
        fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
        bucket = f"lethe-{uuid.uuid4().hex[:12]}"
        fs.mkdir(bucket)
        yield endpoint, bucket, fs
