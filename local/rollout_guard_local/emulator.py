"""A moto server on a free loopback port, started and always stopped: shared by the drill and the tests.

The server is moto's own, with what moto lacks of IoT (`emulator_iot`), of Greengrass v2 (`emulator_greengrass`) and
of EventBridge's delivery (`emulator_events`) added: run as
`python -m rollout_guard_local.emulator -H 127.0.0.1 -p PORT`, it is moto_server with those handlers installed
(`moto_server()` hands it its listening socket instead).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

EMULATOR_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def moto_server(startup_timeout: float = 30.0) -> Iterator[str]:
    """Run `moto_server` on 127.0.0.1 and yield its URL; the process is stopped on exit, whatever happened.

    The listening socket is made here and handed to the server process (`--fd`): a port found free and closed
    before the server binds it could be taken in between by any other program's socket, a client's included."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(128)
        port = listening.getsockname()[1]
        process = subprocess.Popen(
            [sys.executable, "-m", "rollout_guard_local.emulator", "--fd", str(listening.fileno())],
            pass_fds=[listening.fileno()],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **EMULATOR_ENV},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto server exited with code {process.returncode} before it was ready")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):  # noqa: S310 (http on loopback, built here)
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not answer on {url} within {startup_timeout:.0f}s") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def client_env(url: str) -> dict[str, str]:
    """Environment variables that point boto3 (and the AWS CLI) at the emulator."""
    return {**EMULATOR_ENV, "AWS_ENDPOINT_URL": url}


def client(service: str, url: str, region: str | None = None):
    """A boto3 client of the emulator (in its default region, or `region`), whatever the caller's own AWS
    configuration."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region or EMULATOR_ENV["AWS_REGION"],
        aws_access_key_id=EMULATOR_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=EMULATOR_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def reset(url: str) -> None:
    """Empty the emulator (moto's own reset API)."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310 (loopback, built here)
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


def serve(argv: list[str]) -> None:
    """moto_server, with the IoT handlers and the EventBridge delivery moto lacks: `-H HOST -p PORT` as moto_server
    takes them, or `--fd N` to serve on a listening socket the caller made (`moto_server()`)."""
    from moto.server import main

    from . import (
        emulator_cloudformation,
        emulator_dynamodb,
        emulator_events,
        emulator_greengrass,
        emulator_iot,
        emulator_jobs_data,
        emulator_speed,
    )

    emulator_iot.install()
    emulator_jobs_data.install()
    emulator_greengrass.install()
    emulator_cloudformation.install()
    emulator_events.install()
    emulator_dynamodb.install()
    emulator_speed.install()
    if argv[:1] == ["--fd"] and len(argv) == 2:
        _serve_on(int(argv[1]))
    else:
        main(argv)


def _serve_on(fd: int) -> None:
    """What moto_server's main does, on an inherited listening socket."""
    import signal

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # as moto_server: an unexpected error answers with its traceback
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler, fd=fd)
    os.environ.setdefault("MOTO_PORT", str(server.server_address[1]))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1:])
