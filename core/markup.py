"""User text to safe HTML: Markdown rendered, then sanitised with nh3. The only way in; and that HTML
back to the plain text a reader sees (for search)."""

import hashlib
import re
import unicodedata
import xml.etree.ElementTree as etree
from html import unescape
from html.parser import HTMLParser
from importlib import metadata

import markdown
import nh3
import sqlalchemy as sa
from markdown.extensions import Extension
from markdown.inlinepatterns import InlineProcessor
from markdown.treeprocessors import Treeprocessor
from markdown.util import AtomicString
from markupsafe import Markup
from pygments.token import STANDARD_TYPES

from core.models import MarkupState

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl",
    "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li",
    "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
})
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow ugc noopener"

# Pygments' short class names, so highlighted code keeps its colours and nothing else.
_TOKEN_CLASSES = {name for name in STANDARD_TYPES.values() if name}
ALLOWED_CLASSES = {
    "div": {"codehilite"},
    "span": _TOKEN_CLASSES | {"task-box"},
    "code": {f"language-{lang}" for lang in ("python", "js", "json", "bash", "sql", "html")},
    "ul": {"task-list"},
    "li": {"task-list-item"},
    "a": {"mention", "attachment"},
}

_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags={"script", "style", "iframe", "object", "embed", "template", "noscript"},
    attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(URL_SCHEMES),
    link_rel=LINK_REL,
    # Set on every image, whatever the author wrote: images below the fold load only when
    # scrolled to, so a thread of large pictures does not fetch them all up front.
    set_tag_attribute_values={"img": {"loading": "lazy"}},
    allowed_classes={tag: set(classes) for tag, classes in ALLOWED_CLASSES.items()},
    strip_comments=True,
)

# Markdown as people write it on GitHub, Discourse and Stack Overflow: a list right after a line of
# text (breakless lists), two-space nested lists (truly sane lists), bare links made links (magiclink;
# nh3 still adds rel="nofollow ugc"), ~~strikethrough~~ (tilde), task lists shown but not clickable
# (tasklist, its checkboxes turned into marks below), and a newline as a line break (nl2br).
class _OrderedListStart(Extension):
    """An ordered list keeps the number it starts at ("3." gives <ol start="3">), which
    truly-sane-lists' list processor drops (it leaves Python-Markdown's lazy numbering on)."""

    def extendMarkdown(self, md):
        md.parser.blockprocessors["olist"].LAZY_OL = False


# --- attachments ---------------------------------------------------------------------------------------
# A file attached through the editor is written `![name](/uploads/<key>)`: it shows as its thumbnail,
# a link to the full image. Where the files are served from (forum.uploads owns them).
UPLOAD_PATH = "/uploads/"
THUMBNAIL_SUFFIX = "/thumb"
_UPLOAD_SRC = re.compile(re.escape(UPLOAD_PATH) + r"[A-Za-z0-9_-]{22}")


class _AttachmentThumbnails(Treeprocessor):
    def run(self, root):
        for parent in root.iter():
            if parent.tag == "a":
                continue  # an image someone made a link already goes where they said
            for index, child in enumerate(list(parent)):
                src = child.get("src", "") if child.tag == "img" else ""
                if not _UPLOAD_SRC.fullmatch(src):
                    continue
                link = etree.Element("a", {"href": src, "class": "attachment"})
                link.tail, child.tail = child.tail, None
                child.set("src", src + THUMBNAIL_SUFFIX)
                parent.remove(child)
                link.append(child)
                parent.insert(index, link)


class _Attachments(Extension):
    def extendMarkdown(self, md):
        md.treeprocessors.register(_AttachmentThumbnails(md), "attachments", 5)


_EXTENSIONS = ["fenced_code", "codehilite", "tables", "smarty", "nl2br", "mdx_breakless_lists",
               "mdx_truly_sane_lists", "pymdownx.tilde", "pymdownx.tasklist", "pymdownx.magiclink",
               _OrderedListStart(), _Attachments()]
_EXTENSION_CONFIGS = {
    "codehilite": {"guess_lang": False, "css_class": "codehilite", "use_pygments": True},
    "mdx_truly_sane_lists": {"nested_indent": 2, "truly_sane": True},
    "pymdownx.tilde": {"subscript": False},  # ~one~ stays text; ~~two~~ strikes through
    "pymdownx.tasklist": {"custom_checkbox": False, "clickable_checkbox": False},
    "pymdownx.magiclink": {"hide_protocol": False, "repo_url_shortener": False,
                           "social_url_shortener": False},
}
# A task's checkbox becomes a mark: forms have no place in a post (nh3 would drop the input anyway).
_TASK_BOX = re.compile(r'<input type="checkbox" disabled(?P<checked> checked)?\s*/?>')
_TASK_MARKS = {False: '<span class="task-box">☐</span>', True: '<span class="task-box">☑</span>'}


def _libraries() -> str:
    found = []
    for name in ("markdown", "pymdown-extensions", "mdx-truly-sane-lists", "mdx-breakless-lists", "nh3",
                 "pygments"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} ?")
    return ", ".join(found)


# What stored HTML was rendered by: the extensions, their settings, the cleaning rules and the
# libraries' versions. Stored HTML of another version is stale (`flask markup rerender`).
RENDERER_VERSION = hashlib.sha256(repr((
    [e if isinstance(e, str) else type(e).__name__ for e in _EXTENSIONS], sorted(_EXTENSION_CONFIGS.items()),
    sorted(ALLOWED_TAGS),
    sorted((k, sorted(v)) for k, v in ALLOWED_ATTRIBUTES.items()),
    sorted((k, sorted(v)) for k, v in ALLOWED_CLASSES.items()), sorted(URL_SCHEMES), LINK_REL,
    _TASK_MARKS, "mentions 1", UPLOAD_PATH, THUMBNAIL_SUFFIX, _libraries())).encode()).hexdigest()[:16]


# --- @mentions ------------------------------------------------------------------------------------
# "@name" links to that person's profile when someone has that name (compared as accounts compares
# names: NFKC, then case-folded); never inside code, an e-mail address or a URL. Core knows no people:
# accounts sets the lookup (names to (username, profile path)) when the app starts.
MENTION_RE = r"(?<![\w@/`])@(\w(?:[\w.-]{0,28}\w)?)"
_MENTION_LINK = re.compile(r'<a [^>]*class="mention"[^>]*>@([^<]+)</a>')
_mention_lookup = None


def set_mention_lookup(lookup) -> None:
    """`lookup(keys)`: for a set of folded names, {key: (username, profile path)} of those who exist."""
    global _mention_lookup
    _mention_lookup = lookup


def fold_name(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold()


def mentioned(html: str | None) -> list[str]:
    """The usernames rendered HTML links as mentions, each once, in order."""
    return list(dict.fromkeys(_MENTION_LINK.findall(str(html or ""))))


class _MentionPattern(InlineProcessor):
    def __init__(self, pattern, md, found, missed=None):
        super().__init__(pattern, md)
        self.found, self.missed = found, missed

    def handleMatch(self, m, data):
        hit = self.found.get(fold_name(m.group(1)))
        if hit is None:
            if self.missed is not None:
                self.missed.append(m.group(1))
            return None, None, None
        link = etree.Element("a")
        link.set("href", hit[1])
        link.set("class", "mention")
        link.text = AtomicString("@" + hit[0])
        return link, m.start(0), m.end(0)


class _Mentions(Extension):
    """Links the names in `found` (after code spans, before emphasis: @a_b_c is one name)."""

    def __init__(self, found, missed=None):
        super().__init__()
        self.found, self.missed = found, missed

    def extendMarkdown(self, md):
        md.inlinePatterns.register(_MentionPattern(MENTION_RE, md, self.found, self.missed), "mention", 175)


def mention_misses(text: str | None) -> list[str]:
    """The @names written in `text` where a mention would link (not in code, an address or a URL)
    that match nobody, each once, as written: so the writer can be told nobody was notified."""
    if not text or _mention_lookup is None or "@" not in text:
        return []
    missed: list[str] = []
    markdown.markdown(text, extensions=_EXTENSIONS + [_Mentions(_mentions_in(text), missed)],
                      extension_configs=_EXTENSION_CONFIGS, output_format="html")
    return list(dict.fromkeys(missed))


def _mentions_in(text: str) -> dict:
    if _mention_lookup is None or "@" not in text:
        return {}
    keys = {fold_name(name) for name in re.findall(MENTION_RE, text)}
    return _mention_lookup(keys) if keys else {}


def render(text: str | None) -> Markup:
    """Markdown source to sanitised HTML, safe to put in a page as it is."""
    if not text:
        return Markup("")
    found = _mentions_in(text)
    html = markdown.markdown(
        text, extensions=_EXTENSIONS + ([_Mentions(found)] if found else []),
        extension_configs=_EXTENSION_CONFIGS, output_format="html"
    )
    html = _TASK_BOX.sub(lambda m: _TASK_MARKS[bool(m.group("checked"))], html)
    return Markup(_cleaner.clean(html))


def sanitize_html(html: str | None) -> Markup:
    """HTML from outside (an import, say) cleaned by the same rules as rendered Markdown."""
    if not html:
        return Markup("")
    return Markup(_cleaner.clean(html))


_BLOCK_TAGS = frozenset({
    "blockquote", "br", "dd", "details", "div", "dl", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "li", "ol", "p", "pre", "summary", "table", "td", "th", "tr", "ul",
})
_SKIPPED_TAGS = frozenset({"script", "style", "template"})  # nh3 drops them; belt and braces


class _TextCollector(HTMLParser):
    """The text a reader sees in rendered HTML: words, a space between blocks, images by their alt."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIPPED_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f" {alt} ")

    def handle_endtag(self, tag):
        if tag in _SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


# What `render` and `sanitize_html` give back (nh3's serialiser): start tags of the allowed elements
# with lower-case names and double-quoted attribute values, end tags, and text with `<` escaped.
# `plain_text` reads HTML of that shape with one regex split; anything else goes to HTMLParser.
_SERIALISED_TAG = re.compile(r'<(?:([a-z][a-z0-9]*)((?: [a-z][a-z0-9-]*="[^"<]*")*)|/([a-z][a-z0-9]*))>')
_ATTRIBUTE = re.compile(r' ([a-z][a-z0-9-]*)="([^"<]*)"')
_PLAIN_TAGS = ALLOWED_TAGS - _SKIPPED_TAGS


def _serialised_parts(html: str) -> list[str] | None:
    """What `_TextCollector` collects from `html`, when it is of nh3's shape; None when it is not."""
    pieces = _SERIALISED_TAG.split(html)
    text = pieces[0]
    if "<" in text:
        return None
    parts = [unescape(text) if "&" in text else text]
    append = parts.append
    for at in range(1, len(pieces), 4):
        start, attributes, end, text = pieces[at:at + 4]
        tag = start or end
        if tag not in _PLAIN_TAGS or "<" in text:
            return None
        if tag in _BLOCK_TAGS:
            append("\n")
        elif start == "img" and attributes:
            alt = dict(_ATTRIBUTE.findall(attributes)).get("alt")
            if alt:
                append(f" {unescape(alt)} ")
        if text:
            append(unescape(text) if "&" in text else text)
    return parts


def _parsed_parts(html: str) -> list[str]:
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return collector.parts


def _tags_pattern(start_tags, end_tags) -> re.Pattern:
    """Start tags of these names (with nh3's attributes) or end tags of those."""
    return re.compile(rf'<(?:{"|".join(sorted(start_tags))})(?: [a-z][a-z0-9-]*="[^"<]*")*>'
                      rf'|</(?:{"|".join(sorted(end_tags))})>')


_BLOCK_TAG = _tags_pattern(_BLOCK_TAGS, _BLOCK_TAGS)
_INLINE_TAG = _tags_pattern(_PLAIN_TAGS - _BLOCK_TAGS - {"img"}, _PLAIN_TAGS - _BLOCK_TAGS)
# A character reference that ends before any tag can: text cut out of such HTML unescapes alike in
# one piece or in the pieces between its tags.
_LOOSE_REFERENCE = re.compile(r"&(?![A-Za-z0-9#]+;)")


def _serialised_text(html: str) -> str | None:
    """`"".join(_serialised_parts(html))` for the usual post (no image, every `&` a whole character
    reference), with two substitutions and no loop in Python; None for any other."""
    if "<img" in html or ("&" in html and _LOOSE_REFERENCE.search(html)):
        return None
    text = _INLINE_TAG.sub("", _BLOCK_TAG.sub("\n", html))
    if "<" in text:
        return None
    return unescape(text) if "&" in text else text


def plain_text(html: str | None) -> str:
    """Rendered HTML (from `render`) as the plain text a reader sees: no tags, no Markdown marks,
    entities decoded, blocks separated by a line break and runs of blank space folded. The result is
    text, not HTML: whoever shows it must escape it."""
    if not html:
        return ""
    html = str(html)
    text = _serialised_text(html)
    if text is not None:
        return _folded([text])
    parts = _serialised_parts(html)
    return _folded(parts if parts is not None else _parsed_parts(html))


def _folded(parts: list[str]) -> str:
    lines = (" ".join(line.split()) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


# --- stored HTML -------------------------------------------------------------------------------------
# Packages that store rendered Markdown beside its source register the pair here (forum posts, KB
# articles, escalation notes and messages). When the renderer changes (RENDERER_VERSION), `flask
# markup rerender` renders every stored text again; `make run` runs it with --if-stale, and so should
# a deploy, before the new version serves pages.

STORED: dict[str, tuple] = {}


def register_stored(name: str, model, source: str = "body", html: str = "body_html", rendered=None) -> None:
    """Declare that `model` keeps `html`, rendered from `source` by `render`; `rendered`, when given,
    is the SQL condition of the rows whose HTML `render` made (imported posts keep their own)."""
    STORED[name] = (model, source, html, rendered)


def stored_version() -> str | None:
    """The renderer version the stored HTML was last made with (None: never recorded)."""
    from core.extensions import db

    return db.session.scalar(sa.select(MarkupState.renderer_version).where(MarkupState.id == 1))


def rerender(batch: int = 500, progress=None) -> int:
    """Render every registered stored text again, in batches by id, writing only rows whose HTML
    changes, then record RENDERER_VERSION; returns how many rows changed. `progress(n)` is told as
    each batch is done."""
    from core import clock
    from core.extensions import db

    changed = 0
    for model, source, html, rendered in STORED.values():
        table = model.__table__
        key, text_column, html_column = table.c.id, table.c[source], table.c[html]
        after = 0
        while True:
            query = sa.select(key, text_column, html_column).where(key > after)
            if rendered is not None:
                query = query.where(rendered)
            rows = db.session.execute(query.order_by(key).limit(batch)).all()
            if not rows:
                break
            fresh = [(row_id, str(render(text)), old) for row_id, text, old in rows]
            updates = [{"row_id": row_id, "new_html": new} for row_id, new, old in fresh if new != old]
            if updates:
                db.session.execute(sa.update(table).where(key == sa.bindparam("row_id"))
                                   .values({html: sa.bindparam("new_html")}), updates)
            db.session.commit()
            changed += len(updates)
            after = rows[-1][0]
            if progress is not None:
                progress(len(rows))
    state = db.session.get(MarkupState, 1)
    if state is None:
        db.session.add(MarkupState(id=1, renderer_version=RENDERER_VERSION, rendered_at=clock.now()))
    else:
        state.renderer_version, state.rendered_at = RENDERER_VERSION, clock.now()
    db.session.commit()
    return changed


def stored_count() -> int:
    """How many stored texts `rerender` goes through."""
    from core.extensions import db

    return sum(db.session.scalar(sa.select(sa.func.count()).select_from(model.__table__)
                                 .where(rendered if rendered is not None else sa.true())) or 0
               for model, _source, _html, rendered in STORED.values())
