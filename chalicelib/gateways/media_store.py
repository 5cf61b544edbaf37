"""The media bucket as the API uses it: read a playlist or a segment, write a clip, delete a
recording. Its workers write the streams (``media_worker.hls``); layout in ``parlor_contract.hls``."""

from __future__ import annotations

from typing import Any, Callable, Protocol


class MediaStore(Protocol):
    def read(self, key: str) -> bytes | None:
        """The object's bytes, None when there is none."""

    def write(self, key: str, data: bytes, content_type: str, cache_control: str, tagging: str) -> None: ...

    def delete_under(self, prefix: str) -> int:
        """Delete every object under ``prefix``; how many there were."""


class S3MediaStore:
    def __init__(self, bucket: str, client: Callable[[], Any]):
        self._bucket = bucket
        self._client = client  # built on first use

    @property
    def _s3(self) -> Any:
        return self._client()

    def read(self, key: str) -> bytes | None:
        try:
            reply = self._s3.get_object(Bucket=self._bucket, Key=key)
        except self._s3.exceptions.NoSuchKey:
            return None
        return bytes(reply["Body"].read())

    def write(self, key: str, data: bytes, content_type: str, cache_control: str, tagging: str) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type,
                            CacheControl=cache_control, Tagging=tagging)

    def delete_under(self, prefix: str) -> int:
        deleted = 0
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:  # a page holds at most 1,000 keys: one DeleteObjects call
                self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
        return deleted
