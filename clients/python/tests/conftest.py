"""A real driftwatch service for the tests: `driftwatch serve` from this
repository, as its own process, on a free loopback port with its data in a
temp folder; stopped and started again by the outage test."""

import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(os.environ.get("DRIFTWATCH_REPO", Path(__file__).resolve().parents[3]))
CLI = REPO / "cli" / "driftwatch.mjs"
NODE = os.environ.get("NODE", "node")
API_KEY = "sdk-python-key-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, data_dir: str, port: int, env: dict):
        self.data_dir = data_dir
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        self.env = env
        self.process = None
        self.output = []

    def start(self, timeout: float = 180.0) -> None:
        env = dict(os.environ, PORT=str(self.port), DATA_DIR=self.data_dir, ANALYSIS_ENABLED="false",
                   LOG_LEVEL="info", **self.env)
        self.process = subprocess.Popen([NODE, str(CLI), "serve"], cwd=str(REPO), env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        listening = threading.Event()

        def read(stream):
            for line in stream:
                self.output.append(line)
                if "listening on" in line:
                    listening.set()
        threading.Thread(target=read, args=(self.process.stdout,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not listening.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError("driftwatch did not start:\n" + "".join(self.output[-50:]))

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(60)

    def get(self, path: str):
        request = urllib.request.Request(self.url + path, headers={"Authorization": "Bearer " + API_KEY})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def events(self, model: str) -> int:
        for m in self.get("/v1/models")["models"]:
            if m["model"] == model:
                return m["events"]
        return 0

    def labels(self, model: str) -> int:
        for m in self.get("/v1/models")["models"]:
            if m["model"] == model:
                return m["labels"]
        return 0


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError("timed out after %s s waiting for %s" % (timeout, what))


@pytest.fixture(scope="session")
def service():
    with tempfile.TemporaryDirectory(prefix="driftwatch-pytest-") as data_dir:
        svc = Service(data_dir, free_port(), {"API_KEYS": API_KEY})
        svc.start()
        try:
            yield svc
        finally:
            if svc.process.poll() is None:
                svc.stop()
