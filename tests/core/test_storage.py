"""Where attached files live (core.storage): a folder under instance/, or an S3-compatible bucket for
several web hosts. The bucket is a real S3 server speaking the S3 protocol over HTTP (moto's
standalone server); the same journey as the folder's, through the app."""

import io
import uuid

import boto3
import pytest
from PIL import Image

from core.storage import LocalStore, S3Store
from tests.factories import PASSWORD, make_thread, make_user


@pytest.fixture
def s3_server(monkeypatch):
    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "peerline-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "peerline-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    bucket = f"peerline-{uuid.uuid4().hex[:12]}"  # the server's buckets outlive it, in this process
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    yield endpoint, bucket
    server.stop()


def test_the_folder_store_keeps_deletes_and_refuses_paths(tmp_path):
    store = LocalStore(tmp_path / "uploads")
    store.put("abcdef", b"bytes", "image/png")
    assert store.get("abcdef") == b"bytes" and store.get("missing") is None
    store.delete("abcdef")
    store.delete("abcdef")  # gone already: no error
    assert store.get("abcdef") is None
    for key in ("../secret_key", "a/b", ".hidden", ""):
        with pytest.raises(ValueError):
            store.put(key, b"x", "text/plain")


def test_the_bucket_store_keeps_and_deletes(s3_server):
    endpoint, bucket = s3_server
    store = S3Store(bucket, endpoint_url=endpoint, region="us-east-1", prefix="site-a/")
    store.put("key1", b"\x89PNG...", "image/png")
    assert store.get("key1") == b"\x89PNG..." and store.get("nope") is None
    head = store.client.head_object(Bucket=bucket, Key="site-a/key1")
    assert head["ContentType"] == "image/png"
    store.delete("key1")
    store.delete("key1")
    assert store.get("key1") is None


def test_attachments_go_to_the_bucket_when_one_is_set(make_app, backend, s3_server, tmp_path):
    endpoint, bucket = s3_server
    app = make_app(backend, UPLOADS_S3_BUCKET=bucket, UPLOADS_S3_ENDPOINT=endpoint,
                   UPLOADS_S3_REGION="us-east-1")
    with app.app_context():
        client = app.test_client()
        writer = make_user()
        thread = make_thread(writer)
        client.post("/signin", data={"login": writer.username, "password": PASSWORD})
        out = io.BytesIO()
        Image.new("RGB", (50, 40), (1, 2, 3)).save(out, format="PNG")
        sent = client.post("/uploads", data={"file": (io.BytesIO(out.getvalue()), "a.png"), "place": "thread",
                                             "target": str(thread.id)}, content_type="multipart/form-data")
        assert sent.status_code == 201, sent.text
        key = sent.json["url"].rsplit("/", 1)[1]
        listed = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").list_objects_v2(
            Bucket=bucket)
        assert [o["Key"] for o in listed["Contents"]] == [f"uploads/{key}"]
        assert not (tmp_path / "uploads").exists()
        served = client.get(sent.json["url"])
        assert served.status_code == 200 and served.mimetype == "image/png"
