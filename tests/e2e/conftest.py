"""Browser-test fixtures: the app served on a free port, and a Chromium page driven by Playwright."""

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.services import CHROMIUM, chromium_available, require

E2E_DIR = Path(__file__).parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def pytest_collection_modifyitems(items):
    """Mark every test under tests/e2e as `e2e` (this hook sees the whole session, so filter by path)."""
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@dataclass
class LiveServer:
    url: str
    app: Flask


@pytest.fixture
def live_server(make_app):
    """The app on SQLite with CSRF on, served by a threaded Werkzeug server on 127.0.0.1."""
    app = make_app("sqlite", WTF_CSRF_ENABLED=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium():
    """Headless Chromium, started once a run (a second or two each time); skipped (or failed in CI)
    without it."""
    require(chromium_available(), f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    require(importlib.util.find_spec("playwright") is not None,
            "playwright is not installed: pip install -e '.[test]'")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium):
    """A fresh page in a fresh context (its own cookies and storage) of the run's Chromium."""
    context = chromium.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()
