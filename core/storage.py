"""Where attached files live: a folder under instance/ by default, or an S3-compatible bucket
(AWS S3, MinIO, Ceph, R2...) when several web hosts must see the same files. Keys are opaque
strings the caller makes; the store keeps bytes and their content type and knows nothing else."""

from pathlib import Path

from flask import current_app


class LocalStore:
    """Files in one folder: `<root>/<first two characters of the key>/<key>`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not key or "/" in key or "\\" in key or key.startswith("."):
            raise ValueError(f"not a storage key: {key!r}")
        return self.root / key[:2] / key

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)  # whole or not at all

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Store:
    """Objects in a bucket of an S3-compatible service, under `prefix`."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, region: str | None = None,
                 prefix: str = ""):
        import boto3  # only sites that use a bucket pay for loading it

        self.bucket, self.prefix = bucket, prefix
        self.client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)  # a missing key is no error


def store():
    """The app's store, made once from its config (UPLOADS_DIR, or UPLOADS_S3_*)."""
    app = current_app._get_current_object()
    made = app.extensions.get("peerline_store")
    if made is None:
        config = app.config
        if config.get("UPLOADS_S3_BUCKET"):
            made = S3Store(config["UPLOADS_S3_BUCKET"], endpoint_url=config.get("UPLOADS_S3_ENDPOINT"),
                           region=config.get("UPLOADS_S3_REGION"),
                           prefix=config.get("UPLOADS_S3_PREFIX") or "")
        else:
            made = LocalStore(config["UPLOADS_DIR"])
        app.extensions["peerline_store"] = made
    return made
