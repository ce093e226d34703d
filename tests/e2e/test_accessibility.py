"""Every page of the three journeys, for each kind of person, at 1280 and 390 px wide: axe-core
(vendored: tests/e2e/vendor) finds no serious or critical violation, the header stays one row, and
nothing is wider than the screen."""

import json
from pathlib import Path

import pytest

from tests.e2e import site_tour

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WIDTHS = (1280, 390)
# The header: one row of about 3.5rem at every width (its narrow form folds the rest into "Menu").
HEADER_MAX_HEIGHT = 72


@pytest.fixture(scope="module")
def axe_source():
    return AXE.read_text(encoding="utf-8")


def serious_violations(page, axe_source: str) -> list[str]:
    """axe-core's serious and critical findings on the page, one line each (rule, element, help)."""
    page.evaluate(axe_source)  # through the DevTools protocol, so the site's CSP does not apply
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {json.dumps(v['nodes'])}" for v in found]


@pytest.mark.parametrize("role", site_tour.ROLES)
def test_the_journeys_pages_pass_axe_and_fit_the_screen(live_server, chromium, axe_source, role):
    with live_server.app.app_context():
        site_tour.build_community()
        with live_server.app.test_request_context():
            tour = site_tour.pages(role)
    problems = []
    for width in WIDTHS:
        context = chromium.new_context(viewport={"width": width, "height": 900})
        try:
            page = context.new_page()
            site_tour.sign_in(page, live_server.url, role)
            for label, path in tour:
                response = page.goto(live_server.url + path)
                assert response.status == 200, f"{role} {label} {path}: {response.status}"
                where = f"{role}, {label} ({path}) at {width} px"
                problems += [f"{where}: {line}" for line in serious_violations(page, axe_source)]
                header = page.locator(".site-header").bounding_box()["height"]
                if header > HEADER_MAX_HEIGHT:
                    problems.append(f"{where}: the header is {header:.0f} px tall")
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                if overflow > 0:
                    problems.append(f"{where}: the page is {overflow} px wider than the screen")
        finally:
            context.close()
    assert not problems, "\n".join(problems)
