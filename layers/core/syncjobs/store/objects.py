"""S3: source exports (read by byte range) and run logs (parts per shard attempt, merged logs).

Layout of the log bucket:
  runs/<run_id>/parts/<shard_id>/<attempt>/<name>   what one attempt at a shard wrote
  runs/<run_id>/logs/<outcome>.<ext>                 the merged, downloadable log of one outcome
  runs/<run_id>/logs/swept/<outcome>.<ext>           the same, of what a run the sweep ended had counted
  runs/<run_id>/plan/<entity_type>.json              the shards of one phase, queued when it is due
  runs/<run_id>/errors/<part>.txt                    the last error an attempt at a shard part raised
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError

from syncjobs.settings import get_settings
from syncjobs.store.clients import client
from syncjobs.store.errors import NotFound, StoreError, translate

MIN_UPLOAD_PART = 5 * 1024 * 1024  # S3's least size of a multipart upload's part (all but the last)
_READERS = 16  # concurrent GETs in get_many (the shared client pools 32 connections)

_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
    "json": "application/json",
}


def run_key_prefix(run_id: str) -> str:
    return f"runs/{run_id}/"


def part_key(run_id: str, shard_id: str, attempt: str, name: str) -> str:
    return f"{run_key_prefix(run_id)}parts/{shard_id}/{attempt}/{name}"


def error_key(run_id: str, part: str) -> str:
    """The last error an attempt at a shard part raised (what its dead-letter reason quotes)."""
    return f"{run_key_prefix(run_id)}errors/{part}.txt"


def plan_key(run_id: str, entity_type: str) -> str:
    return f"{run_key_prefix(run_id)}plan/{entity_type}.json"


def log_key(run_id: str, outcome: str, ext: str, swept: bool = False) -> str:
    """`swept`: the sweep's merge goes to its own keys, so that it can never overwrite the logs of a
    finalizer that ended the run meanwhile (the sweep's end is then refused, its logs unused)."""
    return f"runs/{run_id}/logs/{'swept/' if swept else ''}{outcome}.{ext}"


def log_download_name(job_id: str, run_id: str, log: str) -> str:
    """What a downloaded log is called: `<job>-<run>-<outcome>.<ext>`, from its key or its file name."""
    return f"{job_id}-{run_id}-{log.rsplit('/', 1)[-1]}"


class UploadGone(StoreError):
    """A multipart upload no longer exists: completed or aborted (by another writer, or the bucket's
    lifecycle rule)."""


def _upload_error(err: ClientError, what: str) -> StoreError:
    if err.response["Error"]["Code"] == "NoSuchUpload":
        return UploadGone(f"{what}: the upload is gone")
    return translate(err, what)


def _object_headers(key: str, download_name: str | None) -> dict[str, str]:
    """The object's Content-Type (from its extension) and, for a download, its file name."""
    headers = {"ContentType": _CONTENT_TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")}
    if download_name:
        headers["ContentDisposition"] = f'attachment; filename="{download_name}"'
    return headers


class SourceObjects:
    """Read-only access to source exports, by byte range, so shards read only their slice."""

    def __init__(self) -> None:
        self._s3 = client("s3")

    def size(self, bucket: str, key: str) -> int:
        try:
            return int(self._s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except ClientError as err:
            raise translate(err, f"reading s3://{bucket}/{key}") from err

    def iter_range(
        self, bucket: str, key: str, start: int, end: int | None = None, chunk_size: int = 1 << 20
    ) -> Iterator[bytes]:
        """Bytes [start, end) (end=None: to the end of the object), in chunks."""
        wanted = f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"
        if end is not None and end <= start:
            return
        try:
            body = self._s3.get_object(Bucket=bucket, Key=key, Range=wanted)["Body"]
        except ClientError as err:
            if err.response["Error"]["Code"] == "InvalidRange":
                return
            raise translate(err, f"reading s3://{bucket}/{key}") from err
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()


class LogObjects:
    def __init__(self) -> None:
        self._s3 = client("s3")
        self._bucket = get_settings().log_bucket

    def put(self, key: str, data: bytes | bytearray, download_name: str | None = None) -> None:
        try:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, **_object_headers(key, download_name))
        except ClientError as err:
            raise translate(err, f"writing s3://{self._bucket}/{key}") from err

    # ------------------------------------------------------------------ multipart uploads
    # A merged log too big for one PUT is uploaded in parts (each but the last at least
    # MIN_UPLOAD_PART bytes, as S3 requires), so that its writer never holds the whole file.

    def start_upload(self, key: str, download_name: str | None = None) -> str:
        """Begin a multipart upload of `key`; returns its upload id."""
        try:
            answer = self._s3.create_multipart_upload(
                Bucket=self._bucket, Key=key, **_object_headers(key, download_name)
            )
        except ClientError as err:
            raise translate(err, f"starting an upload of s3://{self._bucket}/{key}") from err
        return str(answer["UploadId"])

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes | bytearray) -> str:
        """Upload part `number` (from 1) of an upload; returns its ETag. Uploading the same number again
        replaces the part. UploadGone if the upload was completed or aborted meanwhile."""
        try:
            answer = self._s3.upload_part(
                Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
        except ClientError as err:
            raise _upload_error(err, f"uploading part {number} of s3://{self._bucket}/{key}") from err
        return str(answer["ETag"])

    def complete_upload(self, key: str, upload_id: str, etags: Sequence[str]) -> None:
        """Make the object of the parts numbered 1.. with these ETags, in that order. UploadGone if the
        upload was completed or aborted meanwhile."""
        parts = [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, start=1)]
        try:
            self._s3.complete_multipart_upload(
                Bucket=self._bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except ClientError as err:
            raise _upload_error(err, f"completing the upload of s3://{self._bucket}/{key}") from err

    def abort_upload(self, key: str, upload_id: str) -> None:
        """Drop an upload and its parts; one already gone is fine."""
        try:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
        except ClientError as err:
            if err.response["Error"]["Code"] != "NoSuchUpload":
                raise translate(err, f"aborting the upload of s3://{self._bucket}/{key}") from err

    def get(self, key: str) -> bytes:
        try:
            return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]
        except ClientError as err:
            if err.response["Error"]["Code"] in {"NoSuchKey", "404"}:
                raise NotFound(f"s3://{self._bucket}/{key} does not exist") from err
            raise translate(err, f"reading s3://{self._bucket}/{key}") from err

    def get_many(self, keys: Sequence[str], missing: bytes | None = None) -> list[bytes]:
        """The objects at `keys`, in that order, read a few at a time: finalize reads one manifest, seen
        list and log part per counted part, and one GET after another does not fit a Lambda's time once
        a run has hundreds of parts. A missing object reads as `missing`, or raises NotFound if None."""
        if len(keys) <= 1:
            return [self._get_or(key, missing) for key in keys]
        with ThreadPoolExecutor(max_workers=min(_READERS, len(keys))) as pool:
            # each read runs in a copy of the caller's context (the local stack's identity rides on it)
            futures = [pool.submit(contextvars.copy_context().run, self._get_or, key, missing) for key in keys]
            return [future.result() for future in futures]

    def _get_or(self, key: str, missing: bytes | None) -> bytes:
        try:
            return self.get(key)
        except NotFound:
            if missing is None:
                raise
            return missing

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as err:
            if err.response["Error"]["Code"] in {"NoSuchKey", "404", "NotFound"}:
                return False
            raise translate(err, f"reading s3://{self._bucket}/{key}") from err
        return True

    def presign_download(self, key: str, download_name: str, lifetime_seconds: int) -> str:
        """A SigV4 presigned GET that downloads as `download_name`."""
        return self._s3.generate_presigned_url(  # type: ignore[no-any-return]
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{download_name}"',
            },
            ExpiresIn=lifetime_seconds,
        )
