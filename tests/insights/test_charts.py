"""insights.charts: SVG and PNG charts that parse, say what they show, and survive gaps and empty input."""

import xml.etree.ElementTree as ET

import pytest

from insights import charts

SVG = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WEEKS = [f"W{n}" for n in range(38, 46)]


def texts(svg: bytes) -> list[str]:
    """Every text of the SVG (the font type 'none' keeps them as <text>, not glyph paths)."""
    root = ET.fromstring(svg)
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def test_line_chart_svg_parses_and_names_its_title_series_and_target():
    svg = charts.line_chart("Staff first response", WEEKS,
                            [("Median", [1800, 2400, None, 4000, 3000, 3600, 5000, 4200]),
                             ("p90", [7200, 9000, None, 12000, 8000, 9500, 11000, 10000])],
                            target=3600, target_label="SLA target (1h)", unit="s")
    found = texts(svg)
    assert "Staff first response" in found
    assert {"Median", "p90", "SLA target (1h)"} <= set(found)
    assert "W38" in found and "W45" in found
    assert b"<script" not in svg.lower()
    # Durations are shown in hours (the largest is above two hours), not in seconds.
    assert any(text.endswith("h") for text in found if text[:1].isdigit())


def test_bar_chart_svg_stacked_and_grouped():
    series = [("Peer", [5, 6, None, 3, 0, 9, 4, 5]), ("Self", [1, 2, 1, 0, 0, 1, 2, 1]),
              ("Staff", [3, 3, 2, 4, 1, 2, 2, 3])]
    for stacked in (True, False):
        svg = charts.bar_chart("Threads solved by", WEEKS, series, stacked=stacked)
        found = texts(svg)
        assert "Threads solved by" in found
        assert {"Peer", "Self", "Staff"} <= set(found)
        # Each series has its own hatch pattern, so the bars read without colour.
        assert svg.count(b'<pattern id=') >= 2


def test_png_has_the_signature_and_the_mail_size():
    png = charts.bar_chart("Opened vs solved", WEEKS, [("Opened", [3] * 8), ("Solved", [2] * 8)], fmt="png")
    assert png.startswith(PNG_SIGNATURE)
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1200, 600)
    line = charts.line_chart("Share", WEEKS, [("Peers", [0.5] * 8)], unit="%", fmt="png")
    assert line.startswith(PNG_SIGNATURE)


def test_percent_unit_shows_percent_ticks():
    shares = [0.1, 0.25, 0.5, None, 0.6, 0.7, 0.8, 0.9]
    svg = charts.line_chart("Peer resolution share", WEEKS, [("Peers", shares)], unit="%")
    ticks = [text for text in texts(svg) if text.endswith("%")]
    assert "100%" in ticks and "0%" in ticks
    assert "0.5" not in texts(svg)


@pytest.mark.parametrize("labels, series", [
    ([], []),
    (WEEKS, []),
    (WEEKS, [("Opened", [None] * 8)]),
    ([], [("Opened", [])]),
])
@pytest.mark.parametrize("draw", [charts.line_chart, charts.bar_chart])
def test_no_data_says_so_instead_of_crashing(draw, labels, series):
    svg = draw("Threads opened", labels, series)
    assert charts.NO_DATA in texts(svg)
    assert "Threads opened" in texts(svg)
    assert draw("Threads opened", labels, series, fmt="png").startswith(PNG_SIGNATURE)


def test_one_label_and_a_hundred_labels():
    one = charts.line_chart("One day", ["Nov 3"], [("Opened", [4])])
    assert "Nov 3" in texts(one)
    assert charts.bar_chart("One day", ["Nov 3"], [("Opened", [4]), ("Solved", [None])])
    days = [f"D{n}" for n in range(100)]
    many = charts.line_chart("A hundred days", days, [("Opened", [n % 7 for n in range(100)])])
    shown = [text for text in texts(many) if text.startswith("D")]
    assert 2 <= len(shown) <= charts.MAX_TICKS + 1  # thinned, not a hundred overlapping labels
    assert charts.bar_chart("A hundred days", days, [("Opened", [n % 7 for n in range(100)])], stacked=True)


def test_same_input_same_bytes():
    draw = lambda: charts.line_chart("Same", WEEKS, [("A", list(range(8)))], target=4, target_label="Target")  # noqa: E731
    assert draw() == draw()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="format"):
        charts.line_chart("x", WEEKS, [("A", [1] * 8)], fmt="gif")
    with pytest.raises(ValueError, match="unit"):
        charts.bar_chart("x", WEEKS, [("A", [1] * 8)], unit="kg")
    with pytest.raises(ValueError, match="values for"):
        charts.line_chart("x", WEEKS, [("A", [1, 2])])
