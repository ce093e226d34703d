"""Line-by-line differences between two versions of an article, with the changed words marked.

The result is plain data (lines of segments); `templates/kb/_diff.html` renders it, so every
piece of user text reaches the page through Jinja's escaping.
"""

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

EQUAL, DELETE, INSERT, GAP = "equal", "delete", "insert", "gap"
CONTEXT_LINES = 3
# Below this similarity two paired lines are shown as a plain removal and addition:
# marking nearly every word of a rewritten line helps nobody.
_WORD_DIFF_MIN_RATIO = 0.4
# Comparing word by word costs about len(a) * len(b): two one-line 49,000-character versions took
# most of a minute. Lines longer than this (in tokens, multiplied) are shown whole instead.
_WORD_DIFF_MAX_WORK = 250_000
_TOKEN_RE = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class Segment:
    text: str
    changed: bool = False


@dataclass(frozen=True)
class Line:
    """One row of a diff: an unchanged, removed or added line, or a gap of unchanged lines."""

    kind: str
    old_number: int | None = None
    new_number: int | None = None
    segments: tuple[Segment, ...] = ()
    skipped: int = 0  # for a gap: how many unchanged lines it stands for


@dataclass
class Comparison:
    """What changed between two versions: the title (when it did) and the body."""

    old: object
    new: object
    title: list[Line] = field(default_factory=list)
    body: list[Line] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(1 for line in self.body if line.kind == INSERT)

    @property
    def removed(self) -> int:
        return sum(1 for line in self.body if line.kind == DELETE)

    @property
    def identical(self) -> bool:
        return not self.title and not self.body


def _merge(segments: list[Segment]) -> tuple[Segment, ...]:
    merged: list[Segment] = []
    for segment in segments:
        if not segment.text:
            continue
        if merged and merged[-1].changed == segment.changed:
            merged[-1] = Segment(merged[-1].text + segment.text, segment.changed)
        else:
            merged.append(segment)
    return tuple(merged)


def word_segments(old: str, new: str) -> tuple[tuple[Segment, ...], tuple[Segment, ...]]:
    """The two lines split into unchanged and changed runs of words (whole lines when they
    have too little in common)."""
    a, b = _TOKEN_RE.findall(old), _TOKEN_RE.findall(new)
    if len(a) * len(b) > _WORD_DIFF_MAX_WORK:
        return (Segment(old, True),), (Segment(new, True),)
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < _WORD_DIFF_MIN_RATIO or matcher.ratio() < _WORD_DIFF_MIN_RATIO:
        return (Segment(old),), (Segment(new),)
    left: list[Segment] = []
    right: list[Segment] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        left.append(Segment("".join(a[i1:i2]), op != EQUAL))
        right.append(Segment("".join(b[j1:j2]), op != EQUAL))
    return _merge(left), _merge(right)


def diff_lines(old: str, new: str, context: int = CONTEXT_LINES) -> list[Line]:
    """The changed lines of `new` against `old`, with up to `context` unchanged lines around each
    change and a gap row for the unchanged lines left out; [] when the texts are the same."""
    a, b = (old or "").splitlines(), (new or "").splitlines()
    if a == b:
        return []
    matcher = SequenceMatcher(None, a, b)
    lines: list[Line] = []
    shown_until = 0  # old-line index up to which everything is shown or counted in a gap
    for group in matcher.get_grouped_opcodes(context):
        first_old = group[0][1]
        if first_old > shown_until:
            lines.append(Line(GAP, skipped=first_old - shown_until))
        for op, i1, i2, j1, j2 in group:
            if op == EQUAL:
                for offset in range(i2 - i1):
                    lines.append(Line(EQUAL, i1 + offset + 1, j1 + offset + 1, (Segment(a[i1 + offset]),)))
                continue
            removed = [(i, (Segment(a[i]),)) for i in range(i1, i2)]
            added = [(j, (Segment(b[j]),)) for j in range(j1, j2)]
            if op == "replace":
                for k in range(min(len(removed), len(added))):
                    left, right = word_segments(a[i1 + k], b[j1 + k])
                    removed[k], added[k] = (i1 + k, left), (j1 + k, right)
            lines += [Line(DELETE, old_number=i + 1, segments=segments) for i, segments in removed]
            lines += [Line(INSERT, new_number=j + 1, segments=segments) for j, segments in added]
        shown_until = group[-1][2]
    if shown_until < len(a):
        lines.append(Line(GAP, skipped=len(a) - shown_until))
    return lines


def compare(old, new) -> Comparison:
    """The differences between two revisions (anything with `title` and `body`), old to new."""
    title = [] if old.title == new.title else diff_lines(old.title, new.title, context=0)
    return Comparison(old=old, new=new, title=title, body=diff_lines(old.body, new.body))
