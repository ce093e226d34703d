"""Charts of the insights figures as SVG or PNG bytes, drawn with matplotlib's Agg and SVG back ends.

Each chart is its own `matplotlib.figure.Figure` (never pyplot's global figures), and drawing holds
one lock: matplotlib's settings (rcParams, here the SVG font type and hash salt) and its font
cache are process-wide, so two requests drawing at once must not see each other's settings.

Readable without colour: lines differ by marker and dash pattern, bars by hatching, and every
chart has a legend; the colours are the Okabe-Ito palette, which colour-blind readers tell apart.
The same input gives the same bytes (fixed SVG ids, no date), so a chart can be cached by ETag.
"""

from __future__ import annotations

import io
import math
import threading

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

# Okabe & Ito (2008), "Color Universal Design": distinct for the common colour-vision
# deficiencies. Yellow last: it is faint on white.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINE_STYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 3)), (0, (8, 2, 1, 2)))
HATCHES = ("", "//", "..", "xx", "\\\\", "oo", "++", "**")
TARGET_COLOUR = "#555555"
NO_DATA = "No data in this period"
FORMATS = ("svg", "png")
UNITS = ("", "%", "s")

WIDTH_IN, HEIGHT_IN = 6.0, 3.0  # 600 x 300 CSS pixels in SVG
SVG_DPI, PNG_DPI = 100, 200  # PNG at twice that, sharp on high-density screens and in mail
MAX_TICKS = 12

_RC = {
    "svg.fonttype": "none",  # text stays text: small files, selectable, the reader's font
    "svg.hashsalt": "peerline-charts",  # fixed clip-path and element ids: the same chart, the same bytes
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.edgecolor": "#444444",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "hatch.linewidth": 0.8,
    "hatch.color": "#222222",
    "path.simplify": False,
}
_lock = threading.Lock()

Series = list[tuple[str, list[float | None]]]


def line_chart(title: str, labels: list[str], series: Series, *, target: float | None = None,
               target_label: str = "", unit: str = "", fmt: str = "svg") -> bytes:
    """A line per series over the x labels (None leaves a gap), with an optional dashed horizontal
    reference line at `target` (in the series' unit). Raises ValueError for an unknown fmt or unit,
    or a series whose length differs from the labels'."""
    _check(labels, series, unit, fmt)
    with _lock, matplotlib.rc_context(_RC):
        figure = _figure()
        if not _has_data(labels, series):
            return _no_data(figure, title, fmt)
        axes = figure.add_subplot()
        scale, suffix = _scale(unit, series, target)
        positions = range(len(labels))
        # Past a dozen points, a marker on every point hides the line: mark some, enough to tell.
        every = max(1, math.ceil(len(labels) / MAX_TICKS))
        for index, (name, values) in enumerate(series):
            axes.plot(positions, [_scaled(v, scale) for v in values], label=name,
                      color=PALETTE[index % len(PALETTE)], marker=MARKERS[index % len(MARKERS)],
                      linestyle=LINE_STYLES[index % len(LINE_STYLES)], linewidth=1.8, markersize=5,
                      markevery=(index % every, every), clip_on=False, zorder=3)
        if target is not None:
            axes.axhline(target / scale, color=TARGET_COLOUR, linestyle=(0, (6, 3)), linewidth=1.2,
                         label=target_label or "Target", zorder=2)
        _finish(figure, axes, title, labels, unit, suffix)
        return _save(figure, fmt)


def bar_chart(title: str, labels: list[str], series: Series, *, stacked: bool = False, unit: str = "",
              fmt: str = "svg") -> bytes:
    """Bars per x label, side by side or `stacked`, each series with its own hatching (None draws no
    bar). Raises ValueError for an unknown fmt or unit, or a series whose length differs from the
    labels'."""
    _check(labels, series, unit, fmt)
    with _lock, matplotlib.rc_context(_RC):
        figure = _figure()
        if not _has_data(labels, series):
            return _no_data(figure, title, fmt)
        axes = figure.add_subplot()
        totals = [sum(v or 0 for v in column) for column in zip(*(values for _name, values in series),
                                                                 strict=True)]
        scale, suffix = _scale(unit, [("total", totals)] if stacked else series, None)
        count = len(series)
        width = 0.8 if stacked else 0.8 / count
        bottoms = [0.0] * len(labels)
        for index, (name, values) in enumerate(series):
            heights = [(v or 0) / scale for v in values]
            if stacked:
                lefts = list(range(len(labels)))
            else:
                lefts = [x - 0.4 + width * (index + 0.5) for x in range(len(labels))]
            axes.bar(lefts, heights, width=width, bottom=bottoms if stacked else None, label=name,
                     color=PALETTE[index % len(PALETTE)], hatch=HATCHES[index % len(HATCHES)],
                     edgecolor="#222222", linewidth=0.6, zorder=3)
            if stacked:
                bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        _finish(figure, axes, title, labels, unit, suffix)
        return _save(figure, fmt)


# --- pieces --------------------------------------------------------------------------------------------


def _check(labels: list[str], series: Series, unit: str, fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown chart format {fmt!r}; formats are {', '.join(FORMATS)}")
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; units are '', '%' and 's'")
    for name, values in series:
        if len(values) != len(labels):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(labels)} labels")


def _has_data(labels: list[str], series: Series) -> bool:
    return bool(labels) and any(_number(v) is not None for _name, values in series for v in values)


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _scaled(value, scale: float) -> float:
    number = _number(value)
    return math.nan if number is None else number / scale


def _figure() -> Figure:
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=SVG_DPI, layout="constrained")
    figure.patch.set_facecolor("white")
    return figure


def _scale(unit: str, series: Series, target: float | None) -> tuple[float, str]:
    """What to divide values by, and the tick suffix: shares as percent, durations in minutes, hours
    or days by the largest value."""
    if unit == "%":
        return 0.01, "%"
    if unit != "s":
        return 1.0, ""
    numbers = [n for _name, values in series for n in map(_number, values) if n is not None]
    if target is not None:
        numbers.append(float(target))
    largest = max(numbers, default=0.0)
    if largest >= 2 * 86400:
        return 86400.0, "d"
    if largest >= 2 * 3600:
        return 3600.0, "h"
    if largest >= 120:
        return 60.0, "m"
    return 1.0, "s"


def _finish(figure: Figure, axes, title: str, labels: list[str], unit: str, suffix: str) -> None:
    handles, names = axes.get_legend_handles_labels()
    columns = min(len(names), 4)
    rows = math.ceil(len(names) / columns) if names else 0
    # The legend sits between the title and the plot, a row per four entries.
    axes.set_title(title, loc="left", pad=6 + 15 * rows)
    axes.set_xlim(-0.6, len(labels) - 0.4)
    step = max(1, math.ceil(len(labels) / MAX_TICKS))
    ticks = list(range(0, len(labels), step))
    axes.set_xticks(ticks, [labels[i] for i in ticks])
    axes.tick_params(axis="x", length=3)
    if unit == "%":
        axes.set_ylim(0, max(100.0, axes.get_ylim()[1]))
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=0))
    else:
        # All zeros would leave an axis of 0 to 0.05: a count axis goes to 1 at least.
        axes.set_ylim(0, max(1.0, axes.get_ylim()[1]))
        if unit == "s":
            axes.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
            axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}{suffix}"))
        else:
            axes.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    axes.grid(axis="y", color="#dddddd", linewidth=0.6, zorder=0)
    axes.set_axisbelow(True)
    if handles:
        axes.legend(handles, names, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=columns, frameon=False,
                    borderaxespad=0.2, borderpad=0.2, handlelength=2.8)


def _no_data(figure: Figure, title: str, fmt: str) -> bytes:
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.set_title(title, loc="left")
    axes.text(0.5, 0.5, NO_DATA, ha="center", va="center", fontsize=11, color="#555555",
              transform=axes.transAxes)
    return _save(figure, fmt)


def _save(figure: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "svg":
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    else:
        figure.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return buffer.getvalue()
