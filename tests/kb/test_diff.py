"""Line diffs with the changed words marked: what the compare page is built from."""

from types import SimpleNamespace

from kb.diff import DELETE, EQUAL, GAP, INSERT, compare, diff_lines, word_segments


def kinds(lines) -> list[tuple]:
    return [(line.kind, line.old_number, line.new_number) for line in lines]


def test_the_same_text_has_no_lines():
    assert diff_lines("a\nb", "a\nb") == []
    assert diff_lines("", "") == []


def test_far_away_unchanged_lines_collapse_into_gaps():
    old = "\n".join(f"line {n}" for n in range(1, 21))
    new = old.replace("line 10", "line ten")
    lines = diff_lines(old, new)
    assert kinds(lines) == [(GAP, None, None)] + [(EQUAL, n, n) for n in (7, 8, 9)] + [
        (DELETE, 10, None), (INSERT, None, 10)] + [(EQUAL, n, n) for n in (11, 12, 13)] + [(GAP, None, None)]
    assert (lines[0].skipped, lines[-1].skipped) == (6, 7)


def test_added_and_removed_lines_at_the_ends():
    assert kinds(diff_lines("", "first")) == [(INSERT, None, 1)]
    assert kinds(diff_lines("first\nsecond", "second")) == [(DELETE, 1, None), (EQUAL, 2, 1)]


def test_changed_words_are_marked_and_rewrites_are_not():
    left, right = word_segments("Click the red button now", "Click the green button now")
    assert [(s.text, s.changed) for s in left] == [("Click the ", False), ("red", True),
                                                   (" button now", False)]
    assert [(s.text, s.changed) for s in right] == [("Click the ", False), ("green", True),
                                                    (" button now", False)]
    left, right = word_segments("Completely different", "Nothing alike here at all")
    assert [s.changed for s in left + right] == [False, False]  # shown as a removal and an addition


def test_text_is_kept_verbatim_for_the_template_to_escape():
    payload = '<script>alert(1)</script> & "quotes"'
    lines = diff_lines("safe", payload)
    assert "".join(s.text for s in lines[-1].segments) == payload


def test_compare_reports_title_and_counts():
    old = SimpleNamespace(title="Old", body="a\nb")
    new = SimpleNamespace(title="New", body="a\nc\nd")
    result = compare(old, new)
    assert [line.kind for line in result.title] == [DELETE, INSERT]
    assert (result.added, result.removed, result.identical) == (2, 1, False)
    assert compare(old, old).identical


def test_huge_changed_lines_are_shown_whole_rather_than_compared_word_by_word():
    # Word by word, two one-line 49,000-character versions took most of a minute to compare.
    old = " ".join(f"word{i}" for i in range(8_000))
    new = " ".join(f"word{i}" if i % 3 else f"changed{i}" for i in range(8_000))
    removed, added = diff_lines(old, new)
    assert (removed.kind, added.kind) == (DELETE, INSERT)
    assert [(s.text, s.changed) for s in removed.segments] == [(old, True)]
    assert [(s.text, s.changed) for s in added.segments] == [(new, True)]
    small_left, _ = word_segments("one two three", "one 2 three")
    assert [s.changed for s in small_left] == [False, True, False]  # short lines still word by word
