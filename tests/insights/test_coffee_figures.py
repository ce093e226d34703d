"""`flask insights report --json` over the imported coffee.stackexchange.com sample, checked against
figures computed here straight from Posts.xml (METRICS.md: "the importer's figures and the metrics
job's figures agree with a direct computation from the XML in the test").

The XML side mirrors what forum/importer.py does with the dump:
- every question (PostTypeId 1) becomes a visible thread, closed ones included (the dump's
  ClosedDate is not imported), created at its CreationDate;
- every answer (PostTypeId 2) whose ParentId is a question of the dump becomes a visible answer;
  other post types (tag wikis, excerpts) are not imported;
- posts without an OwnerUserId are all written by one "anonymous" author;
- a question's AcceptedAnswerId, when that answer is in the dump, is an acceptance at the answer's
  own CreationDate (METRICS.md: the dump does not say when it was accepted);
- an author is staff when their OwnerUserId is in the staff list given to the import.
"""

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

from tests.services import require_coffee_dump

# The three busiest answerers of the sample (30, 29 and 16 answers; 6, 9 and 6 accepted). 262 also
# answered questions of its own first, which the "not the asker" rule must leave out.
STAFF_IDS = (262, 76, 127)
ANONYMOUS = "anonymous"
SECONDS_TOLERANCE = 1.0  # SQLite's julianday arithmetic
SHARE_TOLERANCE = 1e-9


# --------------------------------------------------------------------------- the XML, read directly


def when(value: str) -> datetime:
    """A dump timestamp (UTC, without a zone) as an aware datetime."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def author(row: dict) -> str:
    """Who wrote a post, as the importer maps it: its OwnerUserId, or the one anonymous author."""
    return row.get("OwnerUserId") or ANONYMOUS


def percentile(values: list[float], pct: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default, percentile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * pct / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


@dataclass(frozen=True)
class Expected:
    first_day: str
    last_day: str
    figures: dict


@cache
def expected_figures(folder: Path, staff_ids: tuple[int, ...]) -> Expected:
    rows = [row.attrib for row in ET.parse(folder / "Posts.xml").getroot().iter("row")]
    questions = {row["Id"]: row for row in rows if row["PostTypeId"] == "1"}
    answers = {row["Id"]: row for row in rows
               if row["PostTypeId"] == "2" and row.get("ParentId") in questions}
    staff = {str(i) for i in staff_ids}
    by_question: dict[str, list[dict]] = {qid: [] for qid in questions}
    for answer in answers.values():
        by_question[answer["ParentId"]].append(answer)

    first_response, staff_first_response, first_by_peer = [], [], []
    resolution, resolvers = [], []
    for qid, question in questions.items():
        asked = when(question["CreationDate"])
        asker = author(question)
        # Replies: answers by someone other than the asker, in the order they were written (then
        # in the dump's order, as the importer inserts them).
        replies = sorted((a for a in by_question[qid] if author(a) != asker),
                         key=lambda a: (when(a["CreationDate"]), int(a["Id"])))
        if replies:
            first_response.append((when(replies[0]["CreationDate"]) - asked).total_seconds())
            first_by_peer.append(author(replies[0]) not in staff)
        staff_replies = [a for a in replies if author(a) in staff]
        if staff_replies:
            staff_first_response.append((when(staff_replies[0]["CreationDate"]) - asked).total_seconds())
        accepted = answers.get(question.get("AcceptedAnswerId") or "")
        if accepted is not None:
            resolution.append((when(accepted["CreationDate"]) - asked).total_seconds())
            if author(accepted) == asker:
                resolvers.append("self")
            elif author(accepted) in staff:
                resolvers.append("staff")
            else:
                resolvers.append("peer")

    solved = len(resolvers)
    figures = {
        "threads_opened": len(questions),
        "threads_solved": solved,
        "peer_resolution_share": resolvers.count("peer") / solved if solved else None,
        "self_resolution_share": resolvers.count("self") / solved if solved else None,
        "staff_resolution_share": resolvers.count("staff") / solved if solved else None,
        "peer_answer_share": sum(first_by_peer) / len(first_by_peer) if first_by_peer else None,
        "first_response_median_s": percentile(first_response, 50),
        "first_response_p90_s": percentile(first_response, 90),
        "staff_first_response_median_s": percentile(staff_first_response, 50),
        "staff_first_response_p90_s": percentile(staff_first_response, 90),
        "time_to_resolution_median_s": percentile(resolution, 50),
        "time_to_resolution_p90_s": percentile(resolution, 90),
    }
    imported = [*questions.values(), *answers.values()]
    days = sorted(when(row["CreationDate"]).date() for row in imported)
    return Expected(days[0].isoformat(), days[-1].isoformat(), figures)


# --------------------------------------------------------------------------- the checks


def test_percentile_interpolates_between_closest_ranks():
    assert percentile([], 50) is None
    assert percentile([7.0], 90) == 7.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([float(i) for i in range(1, 11)], 90) == pytest.approx(9.1)


def test_the_xml_side_has_every_kind_of_case():
    """The staff list makes the sample exercise each resolver and both kinds of first reply."""
    expected = expected_figures(require_coffee_dump(), STAFF_IDS).figures
    assert expected["threads_opened"] == 225 and expected["threads_solved"] == 105
    shares = ("peer_resolution_share", "self_resolution_share", "staff_resolution_share", "peer_answer_share")
    for key in shares:
        assert 0 < expected[key] < 1, key
    assert expected["staff_first_response_median_s"] is not None


def test_report_over_the_imported_sample_agrees_with_the_xml(app, runner):
    folder = require_coffee_dump()
    expected = expected_figures(folder, STAFF_IDS)
    app.config["PEERLINE_TIMEZONE"] = "UTC"  # the dump's timestamps are UTC; days are UTC days

    imported = runner.invoke(args=["import", "stackexchange", str(folder),
                                   "--staff-user-ids", ",".join(str(i) for i in STAFF_IDS)])
    assert imported.exit_code == 0, imported.output + repr(imported.exception)
    assert "skipped" not in imported.output

    result = runner.invoke(args=["insights", "report", "--from", expected.first_day,
                                 "--to", expected.last_day, "--json"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads(result.output)
    assert (report["period_start"], report["period_end"]) == (expected.first_day, expected.last_day)

    disagreements = {}
    for key, want in expected.figures.items():
        got = report[key]
        if want is None or got is None:
            agree = want is got
        elif key.endswith("_s"):
            agree = abs(got - want) <= SECONDS_TOLERANCE
        elif key.endswith("_share"):
            agree = abs(got - want) <= SHARE_TOLERANCE
        else:
            agree = got == want
        if not agree:
            disagreements[key] = {"report": got, "xml": want}
    assert not disagreements, f"{app.config['PEERLINE_TEST_BACKEND']}: {disagreements}"
    shares = ("peer_resolution_share", "self_resolution_share", "staff_resolution_share")
    assert sum(report[key] for key in shares) == pytest.approx(1.0, abs=SHARE_TOLERANCE)
