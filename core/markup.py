"""User text to safe HTML: Markdown rendered, then sanitised with nh3. The only way in; and that HTML
back to the plain text a reader sees (for search)."""

from html.parser import HTMLParser

import markdown
import nh3
from markupsafe import Markup
from pygments.token import STANDARD_TYPES

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
    "span": _TOKEN_CLASSES,
    "code": {f"language-{lang}" for lang in ("python", "js", "json", "bash", "sql", "html")},
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

_EXTENSIONS = ["fenced_code", "codehilite", "tables", "sane_lists", "smarty"]
_EXTENSION_CONFIGS = {
    "codehilite": {"guess_lang": False, "css_class": "codehilite", "use_pygments": True},
}


def render(text: str | None) -> Markup:
    """Markdown source to sanitised HTML, safe to put in a page as it is."""
    if not text:
        return Markup("")
    html = markdown.markdown(
        text, extensions=_EXTENSIONS, extension_configs=_EXTENSION_CONFIGS, output_format="html"
    )
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


def plain_text(html: str | None) -> str:
    """Rendered HTML (from `render`) as the plain text a reader sees: no tags, no Markdown marks,
    entities decoded, blocks separated by a line break and runs of blank space folded. The result is
    text, not HTML: whoever shows it must escape it."""
    if not html:
        return ""
    collector = _TextCollector()
    collector.feed(str(html))
    collector.close()
    lines = (" ".join(line.split()) for line in "".join(collector.parts).split("\n"))
    return "\n".join(line for line in lines if line)
