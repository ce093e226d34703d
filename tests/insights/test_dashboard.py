"""The staff insights dashboard as people use it: who may see it, the headline cards beside the
previous period's, the period picker and its mistakes, the charts with their tables, the exports,
and the figures agreeing with `flask insights report --json`."""

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from bs4 import BeautifulSoup

from core import clock, jobs
from core.errors import Invalid
from forum import services as forum_services
from insights import dashboard, measures
from insights.cli import format_value
from insights.models import ALL
from tests import factories
from tests.escalation.desk import escalated

# "Now" in the tests: Wednesday 12 March 2025, noon (UTC, the default site zone). The last 7 days
# are Wednesday 5 to Tuesday 11 March; the 7 days before them, Wednesday 26 February to Tuesday 4
# March.
NOW = datetime(2025, 3, 12, 12, tzinfo=UTC)
CURRENT = (date(2025, 3, 5), date(2025, 3, 11))
PREVIOUS = (date(2025, 2, 26), date(2025, 3, 4))
CUSTOM_QUERY = {"period": "custom", "from": "2025-03-05", "to": "2025-03-11"}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def page(response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def cards(response) -> dict[str, dict[str, str]]:
    """{label: {value, change, previous}} of the headline cards, as the page reads."""
    found = {}
    for card in page(response).select("ul.cards li.card"):
        found[card.select_one(".card-label").get_text(strip=True)] = {
            "value": card.select_one(".card-value").get_text(strip=True),
            "change": " ".join(card.select_one(".card-change").get_text(" ", strip=True).split()),
            "previous": card.select_one(".card-previous").get_text(strip=True),
        }
    return found


def chart_table(response, title: str) -> dict[str, list[str]]:
    """{row label: [cell texts]} of the table beside the chart titled `title`."""
    soup = page(response)
    for figure in soup.select("figure.chart"):
        if figure.select_one("figcaption").get_text(strip=True) == title:
            return {row.th.get_text(strip=True): [td.get_text(strip=True) for td in row.find_all("td")]
                    for row in figure.select("tbody tr")}
    raise AssertionError(f"no chart titled {title!r}")


def asked(asker, category, day: int, hour: int, title: str):
    clock.set(at(day, hour))
    return factories.make_thread(asker, category=category, title=title)


def answered(thread, author, day: int, hour: int, minute: int = 0):
    clock.set(at(day, hour, minute))
    return factories.make_answer(thread, author)


def accepted(asker, post, day: int, hour: int):
    clock.set(at(day, hour))
    forum_services.accept_answer(asker, post)


@pytest.fixture
def no_trend_backfill(monkeypatch):
    """For tests not about the trends: days without a stored snapshot stay gaps instead of being
    computed on the page view (30 of them for the default period, a few seconds on a busy machine)."""
    monkeypatch.setattr(dashboard, "MISSING_LIMIT", 0)


@pytest.fixture
def community(app):
    """Built chronologically through the forum services, the clock moved to each moment.

    The previous 7 days: 3 threads opened (3 March: one solved by an advocate, one by a staff
    answer given an hour after the question; 4 March: one never answered). The last 7 days: 3
    threads opened (6 March: two solved by peers; 7 March: one solved by a staff answer given two
    hours after the question). At the end of both periods the backlog is the unanswered thread."""
    asker, other = factories.make_user(username="asker"), factories.make_user(username="other")
    advocate, peer = factories.make_user("advocate"), factories.make_user()
    staff = factories.make_user("staff", username="helpdesk")
    billing, setup = factories.make_category("Billing"), factories.make_category("Setup")

    old_peer = asked(asker, billing, 3, 9, "Old invoice question")
    old_staff = asked(other, setup, 3, 9, "Old setup question")
    reply = answered(old_peer, advocate, 3, 10)
    staff_reply = answered(old_staff, staff, 3, 10)
    accepted(asker, reply, 3, 11)
    accepted(other, staff_reply, 3, 11)
    asked(asker, setup, 4, 9, "Nobody answers this one")

    first = asked(asker, billing, 6, 9, "Invoice total is off by a penny")
    second = asked(other, billing, 6, 9, "Refund shows twice")
    reply_one = answered(first, advocate, 6, 10)
    reply_two = answered(second, peer, 6, 11)
    accepted(asker, reply_one, 6, 12)
    accepted(other, reply_two, 6, 12)
    third = asked(asker, setup, 7, 9, "Installer stops at 90%")
    staff_answer = answered(third, staff, 7, 11)
    accepted(asker, staff_answer, 7, 12)

    clock.set(NOW)
    jobs.wait_idle()  # the forum's own jobs (notices, the search index) out of the way
    return {"asker": asker, "advocate": advocate, "staff": staff, "billing": billing, "setup": setup}


# --- who may see it -----------------------------------------------------------------------------------


def test_staff_see_the_headline_cards_with_the_figures_of_the_period(community, client, auth):
    auth.as_role("staff")
    response = client.get("/staff/insights?period=7d")
    assert response.status_code == 200
    shown = cards(response)
    assert list(shown) == [label for _key, label, _good in dashboard.CARDS]
    assert shown["Solved by peers"]["value"] == "66.7%"  # 2 of the 3 solved threads
    assert shown["Staff first response, median"]["value"] == "2h 00m"
    assert shown["Backlog (open threads)"]["value"] == "1"
    text = page(response).get_text(" ", strip=True)
    assert "3 threads opened, 3 solved (0.0% by the asker, 33.3% by staff)" in text
    assert "Last 7 days: Wed 05 Mar 2025 to Tue 11 Mar 2025" in text


def test_admins_see_the_dashboard_too(community, client, auth):
    auth.as_role("admin")
    assert client.get("/staff/insights").status_code == 200


@pytest.mark.parametrize("role", ["member", "advocate"])
def test_members_and_advocates_are_refused(community, client, auth, role):
    auth.as_role(role)
    assert client.get("/staff/insights").status_code == 403
    assert client.get("/staff/insights?period=7d").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/staff/insights?period=7d")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/signin")


# --- the headline cards beside the previous period ---------------------------------------------------------


def test_each_card_shows_the_change_from_the_previous_period(community, client, auth):
    auth.as_role("staff")
    shown = cards(client.get("/staff/insights?period=7d"))
    # Previous 7 days: 1 of 2 solved by a peer; staff answered in 1 h. Now: 2 of 3, and 2 h.
    assert shown["Solved by peers"] == {"value": "66.7%", "change": "▲ +16.7 points (better)",
                                        "previous": "before: 50.0%"}
    assert shown["Staff first response, median"] == {"value": "2h 00m", "change": "▲ +1h 00m (worse)",
                                                     "previous": "before: 1h 00m"}
    assert shown["Staff first response, p90"] == {"value": "2h 00m", "change": "▲ +1h 00m (worse)",
                                                  "previous": "before: 1h 00m"}
    assert shown["Backlog (open threads)"] == {"value": "1", "change": "= no change", "previous": "before: 1"}
    # Nothing measured in either period: said so, not a made-up zero.
    for label in ("SLA attainment", "Deflection"):
        assert shown[label] == {"value": "-", "change": "no earlier figure", "previous": "before: -"}


def test_a_fall_where_a_rise_is_good_reads_as_worse(community, client, auth):
    """Short custom ranges compared with the days just before them."""
    auth.as_role("staff")
    shown = cards(client.get("/staff/insights", query_string={"period": "custom", "from": "2025-03-03",
                                                              "to": "2025-03-03"}))
    assert shown["Staff first response, median"]["value"] == "1h 00m"
    assert shown["Staff first response, median"]["change"] == "no earlier figure"  # 2 March: none
    shown = cards(client.get("/staff/insights", query_string={"period": "custom", "from": "2025-03-07",
                                                              "to": "2025-03-08"}))
    # 7-8 March: 2 h; 5-6 March: no staff answer. Backlog: 1 at the end of both.
    assert shown["Staff first response, median"]["previous"] == "before: -"
    assert shown["Solved by peers"] == {"value": "0.0%", "change": "▼ -100.0 points (worse)",
                                        "previous": "before: 100.0%"}


# --- the period picker ------------------------------------------------------------------------------------

PRESET_RANGES = {
    "7d": "Last 7 days: Wed 05 Mar 2025 to Tue 11 Mar 2025",
    "30d": "Last 30 days: Mon 10 Feb 2025 to Tue 11 Mar 2025",
    "90d": "Last 90 days: Thu 12 Dec 2024 to Tue 11 Mar 2025",
    "last-week": "Last week: Mon 03 Mar 2025 to Sun 09 Mar 2025",
    "last-month": "Last month: Sat 01 Feb 2025 to Fri 28 Feb 2025",
}


@pytest.mark.parametrize("preset", sorted(PRESET_RANGES))
def test_each_preset_is_whole_days_ending_yesterday(app, no_trend_backfill, client, auth, preset):
    clock.set(NOW)
    auth.as_role("staff")
    response = client.get("/staff/insights", query_string={"period": preset})
    assert response.status_code == 200
    soup = page(response)
    assert PRESET_RANGES[preset] in soup.get_text(" ", strip=True)
    current = soup.select('.period-presets a[aria-current="page"]')
    assert [a.get_text(strip=True) for a in current] == [dashboard.PRESETS[preset]]
    assert not soup.select('[role="alert"]')


def test_the_default_period_is_the_last_30_days(app, no_trend_backfill, client, auth):
    clock.set(NOW)
    auth.as_role("staff")
    text = page(client.get("/staff/insights")).get_text(" ", strip=True)
    assert PRESET_RANGES["30d"] in text


def test_a_custom_range_shows_its_own_figures(community, client, auth):
    auth.as_role("staff")
    response = client.get("/staff/insights", query_string={"period": "custom", "from": "2025-03-06",
                                                           "to": "2025-03-06"})
    assert response.status_code == 200
    text = page(response).get_text(" ", strip=True)
    assert ("06 Mar 2025 to 06 Mar 2025: Thu 06 Mar 2025 to Thu 06 Mar 2025, compared with the 1 day before"
            in text)
    assert "2 threads opened, 2 solved" in text
    assert cards(response)["Solved by peers"]["value"] == "100.0%"
    soup = page(response)
    assert soup.select_one("input#from")["value"] == "2025-03-06"
    assert soup.select_one("input#to")["value"] == "2025-03-06"


@pytest.mark.parametrize(("query", "message"), [
    ({"period": "custom", "from": "2025-03-05", "to": "2025-03-01"},
     "The range ends (2025-03-01) before it starts (2025-03-05)."),
    ({"period": "custom", "from": "yesterday", "to": "2025-03-01"},
     "The start date 'yesterday' is not a date: write it as YYYY-MM-DD."),
    ({"period": "custom", "from": "2025-03-01", "to": "2025-02-30"},
     "The end date '2025-02-30' is not a date: write it as YYYY-MM-DD."),
    ({"period": "custom", "from": "2025-03-01"},
     "The end date '' is not a date: write it as YYYY-MM-DD."),
    ({"period": "forever"}, "Choose one of the periods offered, not 'forever'."),
    ({"period": "custom", "from": "2010-01-01", "to": "2025-03-01"}, "Choose a range of ten years or less."),
])
def test_bad_periods_answer_400_with_the_reason_and_show_the_default(app, no_trend_backfill, client, auth,
                                                                     query, message):
    clock.set(NOW)
    auth.as_role("staff")
    response = client.get("/staff/insights", query_string=query)
    assert response.status_code == 400
    soup = page(response)
    alert = soup.select_one('[role="alert"]').get_text(strip=True)
    assert alert == f"{message} Showing last 30 days instead."
    assert PRESET_RANGES["30d"] in soup.get_text(" ", strip=True)
    assert len(cards(response)) == len(dashboard.CARDS)


def test_html_and_unicode_in_the_query_are_shown_as_text(app, no_trend_backfill, client, auth):
    clock.set(NOW)
    auth.as_role("staff")
    response = client.get("/staff/insights", query_string={
        "period": "<script>alert(1)</script>", "from": '"><img src=x onerror=alert(2)>', "to": "Zürich ☃"})
    assert response.status_code == 400
    assert "<script>alert(1)" not in response.text
    assert "<img src=x" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    soup = page(response)
    assert soup.select_one('[role="alert"]').get_text(strip=True).startswith(
        "Choose one of the periods offered, not '<script>alert(1)</script>'.")
    assert soup.select_one("input#from")["value"] == '"><img src=x onerror=alert(2)>'  # one attribute
    assert soup.select_one("input#to")["value"] == "Zürich ☃"
    assert not soup.find("img", src="x")

    custom = client.get("/staff/insights", query_string={"period": "custom", "from": "2025-03-01",
                                                         "to": "mañana☃"})
    assert custom.status_code == 400
    assert page(custom).select_one('[role="alert"]').get_text(strip=True).startswith(
        "The end date 'mañana☃' is not a date")


def test_period_boundaries(app):
    clock.set(NOW)
    ten_years = {"period": "custom", "from": "2015-03-12", "to": "2025-03-11"}  # 3653 days
    assert dashboard.parse_period(ten_years).days == dashboard.MAX_DAYS
    with pytest.raises(Invalid):
        dashboard.parse_period({**ten_years, "from": "2015-03-11"})
    one_day = dashboard.parse_period({"period": "custom", "from": " 2025-03-11 ", "to": "2025-03-11"})
    assert (one_day.first, one_day.last, one_day.days) == (date(2025, 3, 11), date(2025, 3, 11), 1)
    assert dashboard.parse_period({"period": "last-month"}).previous == (date(2025, 1, 1), date(2025, 1, 31))


# --- charts and the tables beside them ------------------------------------------------------------------


def test_each_chart_has_a_table_of_its_numbers_by_day(community, client, auth):
    auth.as_role("staff")
    response = client.get("/staff/insights?period=7d")
    activity = chart_table(response, "Threads opened and solved")
    assert list(activity) == ["05 Mar", "06 Mar", "07 Mar", "08 Mar", "09 Mar", "10 Mar", "11 Mar"]
    assert activity["06 Mar"] == ["2", "2"]
    assert activity["07 Mar"] == ["1", "1"]
    assert activity["05 Mar"] == ["0", "0"]
    resolvers = chart_table(response, "Threads solved by peers, askers and staff")
    assert resolvers["06 Mar"] == ["2", "0", "0"]
    assert resolvers["07 Mar"] == ["0", "0", "1"]
    assert chart_table(response, "First response and staff first response (median)")["07 Mar"] == \
        ["2h 00m", "2h 00m"]
    assert chart_table(response, "Backlog at the end of each period")["11 Mar"] == ["1", "1", "0"]
    images = [img["src"] for img in page(response).select("figure.chart img")]
    assert len(images) == 4
    assert all(src.startswith("/staff/insights/charts/") and ".svg?" in src and "period=7d" in src
               for src in images)


def test_weekly_trend_rows_are_iso_weeks(community, client, auth):
    auth.as_role("staff")
    response = client.get("/staff/insights?period=last-month&by=week")
    assert response.status_code == 200
    activity = chart_table(response, "Threads opened and solved")
    assert list(activity) == ["W5 (27 Jan)", "W6 (03 Feb)", "W7 (10 Feb)", "W8 (17 Feb)", "W9 (24 Feb)"]


@pytest.mark.parametrize(("fmt", "mimetype", "start"), [("svg", "image/svg+xml", b"<svg"),
                                                        ("png", "image/png", b"\x89PNG\r\n\x1a\n")])
def test_charts_answer_as_images_for_staff(community, client, auth, fmt, mimetype, start):
    auth.as_role("staff")
    response = client.get(f"/staff/insights/charts/activity.{fmt}?period=7d")
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.data.lstrip().startswith(start) or start in response.data[:200]
    if fmt == "svg":
        assert "Threads opened and solved" in response.text
    again = client.get(f"/staff/insights/charts/activity.{fmt}?period=7d",
                       headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_chart_mistakes(community, client, auth):
    auth.as_role("staff")
    assert client.get("/staff/insights/charts/nonsense.svg").status_code == 404
    assert client.get("/staff/insights/charts/activity.gif").status_code == 404
    assert client.get("/staff/insights/charts/activity.svg?period=forever").status_code == 400
    bad_range = {"period": "custom", "from": "2025-03-05", "to": "2025-03-01"}
    assert client.get("/staff/insights/charts/backlog.png", query_string=bad_range).status_code == 400
    for name in ("activity", "resolvers", "response", "backlog"):
        assert client.get(f"/staff/insights/charts/{name}.svg?period=7d").status_code == 200


def test_charts_are_refused_to_members(community, client, auth):
    auth.as_role("member")
    assert client.get("/staff/insights/charts/activity.svg?period=7d").status_code == 403
    assert client.get("/staff/insights/charts/activity.png?period=7d").status_code == 403


# --- exports --------------------------------------------------------------------------------------------


def read_csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.text)))


def test_the_csv_export_carries_the_names_of_metrics_md(community, client, auth):
    auth.as_role("staff")
    response = client.get("/staff/insights/export.csv?period=7d&view=summary")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'filename="peerline-summary-2025-03-05-2025-03-11.csv"' in response.headers["Content-Disposition"]
    header = next(csv.reader(io.StringIO(response.text)))
    assert header[:len(measures.KEYS)] == list(measures.KEYS)
    assert header[0] == "period_start" and "deflection_rate" in header
    [row] = read_csv(response)
    assert row["period_start"] == "2025-03-05" and row["period_end"] == "2025-03-11"
    assert row["threads_opened"] == "3" and row["threads_solved"] == "3"
    assert float(row["peer_resolution_share"]) == pytest.approx(2 / 3)
    assert float(row["staff_first_response_median_s"]) == 7200
    assert row["sla_attainment"] == ""  # nothing to measure: empty, not 0


def test_the_json_export_is_a_list_of_flat_objects(community, client, auth):
    auth.as_role("staff")
    response = client.get("/staff/insights/export.json?period=7d&view=day")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    rows = response.get_json()
    assert isinstance(rows, list) and len(rows) == 7
    for row in rows:
        assert set(measures.KEYS) <= set(row)
        assert not any(isinstance(value, dict | list) for value in row.values())
    by_day = {row["period_start"]: row for row in rows}
    assert by_day["2025-03-06"]["threads_opened"] == 2
    assert by_day["2025-03-06"]["peer_resolution_share"] == 1
    assert by_day["2025-03-05"]["threads_opened"] == 0
    assert by_day["2025-03-05"]["peer_resolution_share"] is None
    summary = client.get("/staff/insights/export.json?period=7d").get_json()
    assert len(summary) == 1 and summary[0]["threads_opened"] == 3


def test_the_category_export_names_each_category(community, client, auth):
    auth.as_role("staff")
    rows = read_csv(client.get("/staff/insights/export.csv?period=7d&view=category"))
    assert {row["category"]: row["threads_opened"] for row in rows} == {"Billing": "2", "Setup": "1"}
    assert rows[0]["category"] == "Billing"  # largest first
    assert {row["category_id"] for row in rows} == {str(community["billing"].id), str(community["setup"].id)}
    as_json = client.get("/staff/insights/export.json?period=7d&view=category").get_json()
    assert [row["category"] for row in as_json] == ["Billing", "Setup"]
    assert as_json[1]["staff_resolution_share"] == 1


def test_the_breaches_export_and_page_list_an_overdue_escalation(app, client, auth):
    clock.set(at(6, 10))  # the default policy: around the clock, an hour to answer
    escalation = escalated(title="Charged twice for March")
    clock.set(NOW)  # nobody answered: overdue since 11:00 on 6 March
    jobs.wait_idle()
    auth.as_role("staff")
    rows = read_csv(client.get("/staff/insights/export.csv?period=7d&view=breaches"))
    assert len(rows) == 1
    assert rows[0]["escalation_id"] == str(escalation.id)
    assert rows[0]["title"] == "Charged twice for March"
    assert rows[0]["due_at"].startswith("2025-03-06T11:00")
    assert rows[0]["first_response_at"] == ""
    [as_json] = client.get("/staff/insights/export.json?period=7d&view=breaches").get_json()
    assert as_json["first_response_at"] is None and as_json["assignee"] is None

    response = client.get("/staff/insights?period=7d")
    breaches = page(response).find("h2", id="breaches").find_next("table")
    assert "Charged twice for March" in breaches.get_text()
    assert "none yet" in breaches.get_text()
    shown = cards(response)
    assert shown["SLA attainment"]["value"] == "0.0%"
    # Not due in the 7 days before: nothing there.
    earlier = client.get("/staff/insights/export.json", query_string={
        "view": "breaches", "period": "custom", "from": "2025-02-26", "to": "2025-03-04"})
    assert earlier.get_json() == []


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_bad_view_answers_400_with_the_choices(community, client, auth, fmt):
    auth.as_role("staff")
    response = client.get(f"/staff/insights/export.{fmt}?period=7d&view=everything")
    assert response.status_code == 400
    message = "Choose a view among summary, day, week, category, team, staff, breaches."
    assert (response.get_json()["error"] if fmt == "json" else response.text.strip()) == message


def test_a_bad_period_in_an_export_answers_400_with_the_reason(app, client, auth):
    clock.set(NOW)
    auth.as_role("staff")
    response = client.get("/staff/insights/export.csv?period=custom&from=2025-03-05&to=2025-03-01")
    assert response.status_code == 400
    assert response.text.strip() == "The range ends (2025-03-01) before it starts (2025-03-05)."
    response = client.get("/staff/insights/export.json?period=soon")
    assert response.status_code == 400
    assert response.get_json() == {"error": "Choose one of the periods offered, not 'soon'."}


def test_every_view_exports_for_staff_and_none_for_members(community, client, auth):
    auth.as_role("staff")
    for view in ("summary", "day", "week", "category", "team", "staff", "breaches"):
        for fmt in ("csv", "json"):
            assert client.get(f"/staff/insights/export.{fmt}?period=7d&view={view}").status_code == 200, view
    auth.sign_out()
    auth.as_role("member")
    assert client.get("/staff/insights/export.csv?period=7d").status_code == 403
    assert client.get("/staff/insights/export.json?period=7d&view=breaches").status_code == 403


# --- the same figures as the command line ------------------------------------------------------------------


def test_the_dashboard_agrees_with_the_report_command(community, client, auth, runner):
    result = runner.invoke(args=["insights", "report", "--from", "2025-03-05", "--to", "2025-03-11",
                                 "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["threads_opened"] == 3 and report["peer_resolution_share"] == pytest.approx(2 / 3)

    auth.as_role("staff")
    [exported] = client.get("/staff/insights/export.json", query_string=CUSTOM_QUERY).get_json()
    assert {key: exported[key] for key in measures.KEYS} == report
    [preset] = client.get("/staff/insights/export.json?period=7d").get_json()
    assert {key: preset[key] for key in measures.KEYS} == report

    shown = cards(client.get("/staff/insights", query_string=CUSTOM_QUERY))
    for key, label, _good in dashboard.CARDS:
        assert shown[label]["value"] == format_value(key, report[key]), label

    previous = runner.invoke(args=["insights", "report", "--from", "2025-02-26", "--to", "2025-03-04",
                                   "--json"])
    earlier = json.loads(previous.output)
    for key, label, _good in dashboard.CARDS:
        assert shown[label]["previous"] == "before: " + format_value(key, earlier[key]), label


def test_a_stored_snapshot_and_a_fresh_computation_agree(community):
    """The dashboard reads the stored snapshot of an ended period; it matches computing afresh."""
    stored = dashboard.figures(*CURRENT)[0]
    assert dashboard.figures(*CURRENT)[0] == stored  # read back from the snapshot now
    fresh = measures.compute(*CURRENT, ALL)[0]
    assert {key: stored[key] for key in measures.KEYS} == json.loads(json.dumps(
        {key: fresh[key] for key in measures.KEYS}, default=str))


def test_today_is_never_part_of_a_preset(community, client, auth):
    """A thread asked this morning is in no preset period yet."""
    clock.set(NOW - timedelta(hours=2))
    factories.make_thread(community["asker"], category=community["billing"], title="Asked this morning")
    clock.set(NOW)
    auth.as_role("staff")
    [row] = client.get("/staff/insights/export.json?period=7d").get_json()
    assert row["threads_opened"] == 3
    [today] = client.get("/staff/insights/export.json", query_string={
        "period": "custom", "from": "2025-03-12", "to": "2025-03-12"}).get_json()
    assert today["threads_opened"] == 1


def test_an_empty_breaches_csv_still_has_the_breaches_columns(app, client, auth):
    clock.set(NOW)
    auth.as_role("staff")
    response = client.get("/staff/insights/export.csv?period=7d&view=breaches")
    assert response.status_code == 200
    header = next(csv.reader(io.StringIO(response.text)))
    assert header[:3] == ["escalation_id", "thread_id", "title"]


def test_today_is_shown_as_it_is_now_not_as_the_last_roll_up_left_it(app, client, auth, real_clock):
    from insights import rollup

    category = factories.make_category("Billing")
    asker = factories.make_user()
    thread = asked(asker, category, 12, 9, "The invoice PDF shows the wrong currency")
    answer = answered(thread, factories.make_user("advocate"), 12, 10)
    clock.set(at(12, 10, 30))
    rollup.roll_up_day(date(2025, 3, 12))  # the five-minute job ran before the acceptance
    accepted(asker, answer, 12, 11)
    clock.set(at(12, 11, 2))
    auth.as_role("staff")
    today = {"period": "custom", "from": "2025-03-12", "to": "2025-03-12"}
    response = client.get("/staff/insights", query_string=today)
    assert response.status_code == 200
    assert cards(response)["Solved by peers"]["value"] == "100.0%"
    assert chart_table(response, "Threads opened and solved")["12 Mar"] == ["1", "1"]
