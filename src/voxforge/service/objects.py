"""Job files in S3-compatible object storage (``boto3``): AWS S3, MinIO, Ceph, moto's server.

With ``VOXFORGE_S3_BUCKET`` set, :class:`~voxforge.service.storage.Storage` keeps the local data
folder as each server's working area (uploads arrive there, workers write there) and copies a
job's input and finished outputs to ``<prefix>jobs/<id>/input/<name>`` and
``<prefix>jobs/<id>/output/<name>``; downloads stream from the bucket (or redirect to a presigned
URL), so any server behind the balancer serves any job. Credentials come from boto3's usual chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, an instance role).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voxforge.core.errors import ConfigError, VoxforgeError

CHUNK = 1 << 16


class ObjectStoreError(VoxforgeError):
    """The object store refused or could not be reached: 503."""

    http_status = 503


@dataclass
class ObjectBody:
    """An object being read: its size and a chunk iterator (closes the connection when done)."""

    size: int
    chunks: Iterator[bytes]


class ObjectStore:
    """One bucket (and key prefix) through boto3's S3 client."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        prefix: str = "",
        region: str | None = None,
        client: Any = None,
    ) -> None:
        if not bucket:
            raise ConfigError("s3_bucket: empty bucket name")
        self.bucket, self.prefix = bucket, prefix
        if client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise ConfigError(
                    "s3_bucket is set but boto3 is not installed (pip install boto3)"
                ) from None
            config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5)
            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
        self.client = client

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def put_file(self, name: str, path: Path, content_type: str | None = None) -> None:
        """Upload ``path`` as object ``name`` (multipart for large files)."""
        extra = {"ContentType": content_type} if content_type else None
        with _errors(f"upload of {name}"):
            self.client.upload_file(str(path), self.bucket, self.key(name), ExtraArgs=extra)

    def get_file(self, name: str, path: Path) -> None:
        """Download object ``name`` to ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with _errors(f"download of {name}"):
            self.client.download_file(self.bucket, self.key(name), str(path))

    def open(self, name: str) -> ObjectBody | None:
        """Stream object ``name``; None when it does not exist."""
        from botocore.exceptions import ClientError

        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise ObjectStoreError(_message(f"download of {name}", err)) from None
        except Exception as err:
            raise ObjectStoreError(_message(f"download of {name}", err)) from None
        body = obj["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(CHUNK)
            finally:
                body.close()

        return ObjectBody(int(obj["ContentLength"]), chunks())

    def presigned_url(self, name: str, filename: str, expires_s: int = 300) -> str:
        """A time-limited GET URL for ``name`` that downloads as ``filename``."""
        with _errors(f"presigning {name}"):
            return self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self.key(name),
                    "ResponseContentDisposition": f'attachment; filename="{filename}"',
                },
                ExpiresIn=expires_s,
            )

    def list(self, prefix: str) -> list[str]:
        """Names (without the store's prefix) of the objects under ``prefix``."""
        names: list[str] = []
        with _errors(f"listing {prefix}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.key(prefix)
            )
            for page in pages:
                names += [o["Key"][len(self.prefix) :] for o in page.get("Contents", [])]
        return names

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; how many."""
        names = self.list(prefix)
        with _errors(f"deleting {prefix}"):
            for i in range(0, len(names), 1000):
                batch = [{"Key": self.key(n)} for n in names[i : i + 1000]]
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch})
        return len(names)

    def check(self) -> None:
        """Raise :class:`ObjectStoreError` when the bucket cannot be reached."""
        with _errors(f"bucket {self.bucket}"):
            self.client.head_bucket(Bucket=self.bucket)


class _errors:
    """Context manager: boto3/botocore errors -> :class:`ObjectStoreError` naming the action."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, err: Any, _tb: Any) -> bool:
        if err is None or isinstance(err, VoxforgeError) or not isinstance(err, Exception):
            return False
        raise ObjectStoreError(_message(self.what, err)) from None


def _message(what: str, err: Exception) -> str:
    code = (
        getattr(err, "response", {}).get("Error", {}).get("Code") if hasattr(err, "response") else None
    )
    return f"object storage: {what} failed ({code or type(err).__name__}); try again later"


def make_object_store(
    bucket: str | None, endpoint_url: str | None = None, prefix: str = "", region: str | None = None
) -> ObjectStore | None:
    """An :class:`ObjectStore` when a bucket is named, else None (the local folder only)."""
    if not bucket:
        return None
    return ObjectStore(bucket, endpoint_url=endpoint_url, prefix=prefix, region=region)
