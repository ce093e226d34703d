"""`make screenshots`: every page of the three journeys (tests/e2e/site_tour.py), for each kind of
person, at 1280 and 390 px wide, as full-page PNGs in one folder, so that a reviewer can look at the
whole site at once. It serves the demo community from a throw-away SQLite database on a free port,
with Debian's Chromium (PEERLINE_CHROMIUM to use another).

    python -m tests.e2e.screenshots [--out screenshots] [--role member] [--width 390]
"""

import argparse
import logging
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

from werkzeug.serving import make_server

from tests.e2e import site_tour
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.services import CHROMIUM

WIDTHS = (1280, 390)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="screenshots", help="folder for the PNGs (default: screenshots)")
    parser.add_argument("--role", choices=site_tour.ROLES, action="append", help="only these people")
    parser.add_argument("--width", type=int, choices=WIDTHS, action="append", help="only these widths")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from app import create_app
    from core.extensions import db

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="peerline-shots-") as folder:
        app = create_app({
            "SECRET_KEY": "screenshots", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/site.db",
            "REDIS_URL": None, "MAIL_SERVER": None, "MAIL_OUTBOX_DIR": f"{folder}/mail",
            "SEARCH_INDEX_DIR": f"{folder}/search", "PEERLINE_TICKER": False,
            "PEERLINE_PAGE_CACHE_SECONDS": 0, "PEERLINE_BASE_URL": "http://127.0.0.1",
            "RATELIMIT_ENABLED": False,
        })
        with app.app_context():
            db.create_all()
            site_tour.build_community()
            with app.test_request_context():
                tours = {role: site_tour.pages(role) for role in args.role or site_tour.ROLES}
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        shots = 0
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for role, tour in tours.items():
                    for width in args.width or WIDTHS:
                        context = browser.new_context(viewport={"width": width, "height": 900})
                        page = context.new_page()
                        site_tour.sign_in(page, base, role)
                        for number, (label, path) in enumerate(tour, 1):
                            page.goto(base + path)
                            name = f"{role}-{number:02d}-{re.sub(r'[^a-z0-9]+', '-', label)}-{width}.png"
                            page.screenshot(path=str(out / name), full_page=True)
                            shots += 1
                        context.close()
                browser.close()
        finally:
            server.shutdown()
    print(f"{shots} screenshots in {out}/ ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
