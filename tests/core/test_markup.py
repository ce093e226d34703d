"""XSS payload corpus and over-sanitising checks for core.markup.render and sanitize_html."""

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import html5lib
import pytest
from markupsafe import Markup, escape

from core.markup import (
    _folded,
    _parsed_parts,
    _serialised_parts,
    _serialised_text,
    plain_text,
    render,
    sanitize_html,
)
from tests.services import require_coffee_dump


def _parsed_plain_text(html: str | None) -> str:
    """`plain_text` read by HTMLParser whatever the HTML's shape: what its faster readings must equal."""
    return _folded(_parsed_parts(str(html))) if html else ""

# --------------------------------------------------------------------------- helpers

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
FORBIDDEN_ELEMENTS = frozenset(
    "script iframe object embed form meta base link style svg math"
    " applet frame frameset template noscript button input".split()
)
URL_ATTRIBUTES = frozenset(
    "href src action formaction srcset xlink:href poster background cite data codebase"
    " longdesc lowsrc dynsrc ping manifest icon usemap classid archive profile".split()
)
XLINK_NS = "http://www.w3.org/1999/xlink"

_C0_AND_SPACE = "".join(chr(code) for code in range(0x21))
_DROP_TAB_AND_NEWLINE = str.maketrans("", "", "\t\n\r")
_VALID_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*\Z")


def url_scheme(url: str) -> str | None:
    """The scheme a browser reads from ``url`` (WHATWG URL parser), lower-cased; None if relative.

    Leading and trailing C0 controls and spaces go, tab/LF/CR go wherever they are, and the
    scheme is whatever precedes the first ':' provided that comes before any '/', '?' or '#'.
    A prefix that is not a syntactically valid scheme makes the parser start over as a
    relative URL, so that counts as no scheme too.
    """
    cleaned = url.strip(_C0_AND_SPACE).translate(_DROP_TAB_AND_NEWLINE).lower()
    head, colon, _ = cleaned.partition(":")
    if not colon or any(char in head for char in "/?#"):
        return None
    return head if _VALID_SCHEME.match(head) else None


def _local(name: str) -> str:
    """Drop the ``{namespace}`` prefix html5lib's etree builder puts on foreign names."""
    namespace, brace, local = name.rpartition("}")
    if brace and namespace.lstrip("{") == XLINK_NS:
        return f"xlink:{local}"
    return local.lower()


def _urls(attribute: str, value: str) -> list[str]:
    if attribute != "srcset":
        return [value]
    return [candidate.split()[0] for candidate in value.split(",") if candidate.split()]


# Output lands in the middle of a page with more markup after it: parsing it there too catches
# a stray <body onload> (merged into the real <body>) and a tag left open for the template to close.
PAGE = '<!DOCTYPE html><html><head><title>t</title></head><body><div>{}">x</div></body></html>'


def parse(html: str):
    return html5lib.parseFragment(str(html), namespaceHTMLElements=False)


def parse_in_page(html: str):
    return html5lib.parse(PAGE.format(html), namespaceHTMLElements=False)


def assert_safe(html: str) -> None:
    """Fail if ``html``, parsed as a browser would, could run script or load a bad URL."""
    assert isinstance(html, Markup)
    problems = []
    nodes = [*parse(html).iter(), *parse_in_page(html).iter()]
    for element in nodes:
        if not isinstance(element.tag, str):  # comments and other non-element nodes
            continue
        tag = _local(element.tag)
        if tag in FORBIDDEN_ELEMENTS:
            problems.append(f"<{tag}> element")
        for raw_name, value in element.attrib.items():
            name = _local(raw_name)
            if name.startswith("on"):
                problems.append(f"{name} handler on <{tag}>")
            if name == "style":
                problems.append(f"style attribute on <{tag}>")
            if name in URL_ATTRIBUTES:
                for url in _urls(name, value):
                    scheme = url_scheme(url)
                    if scheme is not None and scheme not in ALLOWED_SCHEMES:
                        problems.append(f"{name}={url!r} (scheme {scheme!r}) on <{tag}>")
    assert not problems, f"unsafe output {str(html)!r}: {problems}"


def text_of(html: str) -> str:
    return "".join(parse(html).itertext())


def elements(html: str, tag: str) -> list:
    return [el for el in parse(html).iter() if isinstance(el.tag, str) and _local(el.tag) == tag]


# --------------------------------------------------------------------------- payloads

SCRIPT_TAGS = [
    pytest.param("<script>alert(1)</script>", id="script-plain"),
    pytest.param("<SCRIPT>alert(1)</SCRIPT>", id="script-upper"),
    pytest.param("<ScRiPt>alert(1)</sCrIpT>", id="script-mixed-case"),
    pytest.param("<scr<script>ipt>alert(1)</script>", id="script-nested-broken"),
    pytest.param("<<script>alert(1)//<</script>", id="script-double-open"),
    pytest.param("<script src=https://evil.example/x.js></script>", id="script-src"),
    pytest.param("<script/xss src=//evil.example/x.js></script>", id="script-slash-attr"),
    pytest.param("<script>alert(1)", id="script-unclosed"),
    pytest.param("</script><script>alert(1)</script>", id="script-close-first"),
    pytest.param("Hello <script>alert(1)</script> world", id="script-inline-in-text"),
    pytest.param("<div>\n<script>alert(1)</script>\n</div>", id="script-in-html-block"),
    pytest.param("<template><script>alert(1)</script></template>", id="script-in-template"),
    pytest.param(
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
        id="script-noscript-mxss",
    ),
]

EVENT_HANDLERS = [
    pytest.param("<img src=x onerror=alert(1)>", id="on-img-onerror"),
    pytest.param("<IMG SRC=x ONERROR=alert(1)>", id="on-img-onerror-upper"),
    pytest.param("<img src=x oNeRrOr=alert(1)>", id="on-img-onerror-mixed-case"),
    pytest.param("<img/src=x/onerror=alert(1)>", id="on-img-slashes"),
    pytest.param('<img/src="x"/onerror=alert(1)>', id="on-img-slashes-quoted"),
    pytest.param("<img src=x\nonerror=alert(1)>", id="on-img-newline-separator"),
    pytest.param("<img src=x \t onerror = alert(1) >", id="on-img-tab-and-spaces"),
    pytest.param('<img src="x"onerror="alert(1)">', id="on-img-no-space-after-quote"),
    pytest.param("<img src=x onerror=alert(1)//", id="on-img-unterminated"),
    pytest.param("<body onload=alert(1)>", id="on-body-onload"),
    pytest.param("<svg onload=alert(1)>", id="on-svg-onload"),
    pytest.param("<svg/onload=alert(1)>", id="on-svg-slash-onload"),
    pytest.param(
        "<svg><animate onbegin=alert(1) attributeName=x dur=1s></svg>", id="on-svg-animate"
    ),
    pytest.param(
        '<a href="https://ok.example" onmouseover="alert(1)">hover</a>', id="on-a-onmouseover"
    ),
    pytest.param('<div onmouseover="alert(1)">x</div>', id="on-div-onmouseover"),
    pytest.param("<p onclick=alert(1)>x</p>", id="on-p-onclick"),
    pytest.param(
        "<details open ontoggle=alert(1)><summary>s</summary>x</details>",
        id="on-details-ontoggle",
    ),
    pytest.param("<input autofocus onfocus=alert(1)>", id="on-input-onfocus"),
    pytest.param("<video><source onerror=alert(1)></video>", id="on-video-source"),
    pytest.param("<span onpointerenter=alert(1)>x</span>", id="on-span-onpointerenter"),
    pytest.param("<xss onafterscriptexecute=alert(1)>x</xss>", id="on-unknown-element"),
    pytest.param("| a |\n|---|\n| <img src=x onerror=alert(1)> |", id="on-img-inside-table-cell"),
]

MARKDOWN_LINKS = [
    pytest.param("[x](javascript:alert(1))", id="md-inline-javascript"),
    pytest.param("[x](data:text/html,<script>alert(1)</script>)", id="md-inline-data"),
    pytest.param(
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        id="md-inline-data-base64",
    ),
    pytest.param("[x](vbscript:msgbox(1))", id="md-inline-vbscript"),
    pytest.param('[x](javascript:alert(1) "title")', id="md-inline-title-javascript"),
    pytest.param("[x](vbscript:msgbox(1) 'title')", id="md-inline-title-vbscript"),
    pytest.param("[x](<javascript:alert(1)>)", id="md-angle-javascript"),
    pytest.param("[x](<data:text/html,hi>)", id="md-angle-data"),
    pytest.param("[x][1]\n\n[1]: javascript:alert(1)", id="md-reference-javascript"),
    pytest.param('[x][1]\n\n[1]: vbscript:msgbox(1) "t"', id="md-reference-title-vbscript"),
    pytest.param("[x][1]\n\n[1]: <data:text/html,hi>", id="md-reference-angle-data"),
    pytest.param("[x]\n\n[x]: javascript:alert(1)", id="md-reference-shortcut"),
    pytest.param("<javascript:alert(1)>", id="md-autolink-javascript"),
    pytest.param("<vbscript:msgbox(1)>", id="md-autolink-vbscript"),
    pytest.param("<data:text/html,hi>", id="md-autolink-data"),
    pytest.param("![x](javascript:alert(1))", id="md-image-javascript"),
    pytest.param("![x](data:image/svg+xml,<svg onload=alert(1)>)", id="md-image-data-svg"),
    pytest.param("![x](<vbscript:msgbox(1)>)", id="md-image-angle-vbscript"),
    pytest.param("![x][1]\n\n[1]: javascript:alert(1)", id="md-image-reference-javascript"),
    pytest.param("![x][1]\n\n[1]: data:image/png;base64,AAAA", id="md-image-reference-data"),
    pytest.param("[x](javascript://%0Aalert(1))", id="md-javascript-comment-newline"),
    pytest.param("[x](javascript:alert(1)//https://ok.example)", id="md-javascript-fake-https"),
    pytest.param("[![img](https://ok.example/i.png)](javascript:alert(1))", id="md-image-in-link"),
]

ENCODED_SCHEMES = [
    pytest.param("[x](JaVaScRiPt:alert(1))", id="enc-md-mixed-case"),
    pytest.param("[x](&#106;avascript:alert(1))", id="enc-md-decimal-entity"),
    pytest.param("[x](&#x6A;avascript:alert(1))", id="enc-md-hex-entity"),
    pytest.param("[x](&#0000106;avascript:alert(1))", id="enc-md-zero-padded-entity"),
    pytest.param("[x](jav&#x09;ascript:alert(1))", id="enc-md-tab-entity"),
    pytest.param("[x](jav&#x0A;ascript:alert(1))", id="enc-md-newline-entity"),
    pytest.param("[x](java\tscript:alert(1))", id="enc-md-real-tab"),
    pytest.param("[x](java\nscript:alert(1))", id="enc-md-real-newline"),
    pytest.param("[x](javascript&colon;alert(1))", id="enc-md-colon-entity"),
    pytest.param("[x](javascript&#58;alert(1))", id="enc-md-colon-decimal"),
    pytest.param("[x](\x01javascript:alert(1))", id="enc-md-leading-control"),
    pytest.param("[x](<  javascript:alert(1)>)", id="enc-md-angle-leading-spaces"),
    pytest.param("[x][1]\n\n[1]: &#106;avascript:alert(1)", id="enc-md-reference-entity"),
    pytest.param("![x](&#x6A;avascript:alert(1))", id="enc-md-image-hex-entity"),
]

RAW_HTML = [
    pytest.param("<a href=javascript:alert(1)>x</a>", id="html-a-javascript"),
    pytest.param('<a href="JaVaScRiPt:alert(1)">x</a>', id="html-a-mixed-case"),
    pytest.param('<a href="vbscript:msgbox(1)">x</a>', id="html-a-vbscript"),
    pytest.param('<a href="data:text/html,<script>alert(1)</script>">x</a>', id="html-a-data"),
    pytest.param(
        '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
        id="html-a-all-decimal-entities",
    ),
    pytest.param('<a href="&#x6A;avascript:alert(1)">x</a>', id="html-a-hex-entity"),
    pytest.param('<a href="jav&#x09;ascript:alert(1)">x</a>', id="html-a-tab-entity"),
    pytest.param('<a href="java\tscript:alert(1)">x</a>', id="html-a-real-tab"),
    pytest.param('<a href="java\nscript:alert(1)">x</a>', id="html-a-real-newline"),
    pytest.param('<a href="javascript&colon;alert(1)">x</a>', id="html-a-colon-entity"),
    pytest.param('<a href="  javascript:alert(1)">x</a>', id="html-a-leading-spaces"),
    pytest.param('<a href="&#1;&#31; javascript:alert(1)">x</a>', id="html-a-leading-controls"),
    pytest.param('<a href="\x01\x1fjavascript:alert(1)">x</a>', id="html-a-raw-controls"),
    pytest.param('<iframe src="javascript:alert(1)"></iframe>', id="html-iframe"),
    pytest.param(
        '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>', id="html-iframe-srcdoc"
    ),
    pytest.param('<object data="javascript:alert(1)"></object>', id="html-object"),
    pytest.param('<embed src="javascript:alert(1)">', id="html-embed"),
    pytest.param("<svg><script>alert(1)</script></svg>", id="html-svg-script"),
    pytest.param(
        '<svg><a xlink:href="javascript:alert(1)"><text x="0" y="10">x</text></a></svg>',
        id="html-svg-xlink-href",
    ),
    pytest.param('<math href="javascript:alert(1)">x</math>', id="html-math-href"),
    pytest.param(
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        id="html-math-mxss",
    ),
    pytest.param(
        '<form action="javascript:alert(1)"><button>go</button></form>', id="html-form-action"
    ),
    pytest.param('<button formaction="javascript:alert(1)">x</button>', id="html-formaction"),
    pytest.param(
        '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">', id="html-meta-refresh"
    ),
    pytest.param('<base href="javascript:alert(1)//">', id="html-base-href"),
    pytest.param('<link rel="stylesheet" href="javascript:alert(1)">', id="html-link"),
    pytest.param(
        "<style>body{background:url(javascript:alert(1))}</style>", id="html-style-element"
    ),
    pytest.param('<div style="width: expression(alert(1))">x</div>', id="html-style-expression"),
    pytest.param(
        '<p style="background:url(javascript:alert(1))">x</p>', id="html-style-url-javascript"
    ),
    pytest.param('<span style="behavior:url(x.htc)">x</span>', id="html-style-behavior"),
    pytest.param('<img srcset="javascript:alert(1) 1x">', id="html-img-srcset"),
    pytest.param('<img src="data:image/svg+xml,&lt;svg onload=alert(1)&gt;">', id="html-img-data"),
    pytest.param('<img src="javascript:alert(1)">', id="html-img-javascript"),
    pytest.param("<!--<img src=x onerror=alert(1)>-->", id="html-comment"),
    pytest.param("<![CDATA[<script>alert(1)</script>]]>", id="html-cdata"),
    pytest.param("<![if !IE]><script>alert(1)</script><![endif]>", id="html-conditional"),
]

# Payloads in code: each must reach the reader as the literal text, escaped, inside <code>.
CODE = [
    pytest.param("`<script>alert(1)</script>`", "<script>alert(1)</script>", id="code-span-script"),
    pytest.param(
        "`<img src=x onerror=alert(1)>`", "<img src=x onerror=alert(1)>", id="code-span-onerror"
    ),
    pytest.param(
        "`` <a href=`javascript:alert(1)`>x</a> ``",
        "<a href=`javascript:alert(1)`>x</a>",
        id="code-span-double-backtick",
    ),
    pytest.param(
        "`[x](javascript:alert(1))`", "[x](javascript:alert(1))", id="code-span-markdown-link"
    ),
    pytest.param(
        "```\n<script>alert(1)</script>\n```", "<script>alert(1)</script>", id="code-fence-plain"
    ),
    pytest.param(
        "```html\n<iframe src=javascript:alert(1)></iframe>\n```",
        "<iframe src=javascript:alert(1)></iframe>",
        id="code-fence-html",
    ),
    pytest.param("~~~\n<svg onload=alert(1)>\n~~~", "<svg onload=alert(1)>", id="code-fence-tilde"),
    pytest.param(
        "    <script>alert(1)</script>", "<script>alert(1)</script>", id="code-indented-block"
    ),
]

# Through the extensions that make Markdown read as people write it (bare links, strikethrough, task
# lists, lists after text, line breaks): each must stay as inert as plain Markdown.
WRITING_HABITS = [
    pytest.param("- [x] <script>alert(1)</script>", id="task-script"),
    pytest.param("- [ ] <img src=x onerror=alert(1)>", id="task-onerror"),
    pytest.param('<input type="checkbox" disabled checked onfocus=alert(1) autofocus>',
                 id="task-box-raw-input"),
    pytest.param("see javascript:alert(1) now", id="bare-javascript"),
    pytest.param("see https://example.com/\"onmouseover=\"alert(1) now", id="bare-link-quote-break"),
    pytest.param("www.example.com/<script>alert(1)</script>", id="bare-www-script"),
    pytest.param("~~<img src=x onerror=alert(1)>~~", id="strike-onerror"),
    pytest.param("Steps:\n1. <svg onload=alert(1)>\n2. two", id="list-after-text-svg"),
    pytest.param("- a\n  - [b](javascript:alert(1))", id="nested-javascript-link"),
    pytest.param("line one\n<script>alert(1)</script>", id="line-break-script"),
    # Attachments: an upload's image becomes a thumbnail link; nothing else may ride along.
    pytest.param('![x" onerror="alert(1)](/uploads/AAAAAAAAAAAAAAAAAAAAAA)', id="attachment-alt-quote"),
    pytest.param('![x](/uploads/AAAAAAAAAAAAAAAAAAAAAA"onerror="alert(1))', id="attachment-src-quote"),
    pytest.param("![x](/uploads/AAAAAAAAAAAAAAAAAAAAAA)<script>alert(1)</script>", id="attachment-script"),
    pytest.param("[![x](/uploads/AAAAAAAAAAAAAAAAAAAAAA)](javascript:alert(1))", id="attachment-in-js-link"),
]

RENDER_PAYLOADS = (SCRIPT_TAGS + EVENT_HANDLERS + MARKDOWN_LINKS + ENCODED_SCHEMES + RAW_HTML
                   + WRITING_HABITS)
HTML_PAYLOADS = SCRIPT_TAGS + EVENT_HANDLERS + RAW_HTML


def _values(params) -> list[str]:
    return [param.values[0] for param in params]


# --------------------------------------------------------------------------- the helper itself


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        pytest.param("https://ok.example/", "https", id="https"),
        pytest.param("MAILTO:a@b.example", "mailto", id="upper-mailto"),
        pytest.param("  \x01\x1fJaVa\tScRi\npt:alert(1)", "javascript", id="controls-and-tabs"),
        pytest.param("/path:with-colon", None, id="slash-before-colon"),
        pytest.param("?q=a:b", None, id="query-before-colon"),
        pytest.param("#a:b", None, id="fragment-before-colon"),
        pytest.param("relative/page", None, id="no-colon"),
        pytest.param("java script:alert(1)", None, id="space-inside-is-not-a-scheme"),
        pytest.param("1http:x", None, id="scheme-must-start-with-letter"),
        pytest.param("", None, id="empty"),
    ],
)
def test_url_scheme_reads_urls_like_a_browser(url, scheme):
    assert url_scheme(url) == scheme


def test_payload_corpus_is_large_and_distinct():
    payloads = _values(RENDER_PAYLOADS) + _values(CODE)
    assert len(payloads) == len(set(payloads))
    assert len(payloads) >= 60


# --------------------------------------------------------------------------- XSS: render


@pytest.mark.parametrize("payload", RENDER_PAYLOADS)
def test_render_neutralises_payload(payload):
    assert_safe(render(payload))


@pytest.mark.parametrize(("payload", "literal"), CODE)
def test_render_shows_code_payload_as_escaped_text(payload, literal):
    out = render(payload)
    assert_safe(out)
    assert any(literal in "".join(code.itertext()) for code in elements(out, "code")), str(out)
    assert "&lt;" in out or "<" not in literal


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param("<script>alert(1)</script>", id="script"),
        pytest.param("<style>body{display:none}</style>", id="style"),
        pytest.param('<iframe src="https://ok.example"></iframe>', id="iframe"),
    ],
)
def test_render_drops_dangerous_element_content_entirely(payload):
    out = render(payload)
    assert "alert" not in out
    assert "display:none" not in out
    assert "<iframe" not in out


# --------------------------------------------------------------------------- XSS: sanitize_html


@pytest.mark.parametrize("payload", HTML_PAYLOADS)
def test_sanitize_html_neutralises_payload(payload):
    assert_safe(sanitize_html(payload))


# --------------------------------------------------------------------------- not over-sanitising


def test_emphasis_and_strong_survive():
    out = render("Some *emphasis* and **strong** text and `code`.")
    assert [el.text for el in elements(out, "em")] == ["emphasis"]
    assert [el.text for el in elements(out, "strong")] == ["strong"]
    assert [el.text for el in elements(out, "code")] == ["code"]


def test_lists_survive_with_ordered_start():
    out = render("- one\n- two\n\n3. three\n4. four")
    assert ["one", "two"] == [li.text for li in elements(out, "ul")[0]]
    ordered = elements(out, "ol")[0]
    assert ordered.get("start") == "3"
    assert [li.text for li in ordered] == ["three", "four"]


@pytest.mark.parametrize("level", range(1, 7), ids=lambda level: f"h{level}")
def test_headings_survive(level):
    out = render(f"{'#' * level} Title here")
    assert [el.text for el in elements(out, f"h{level}")] == ["Title here"]


def test_table_survives():
    out = render("| Name | Score |\n|------|-------|\n| Ada | 10 |\n| Bob | 7 |")
    assert [th.text for th in elements(out, "th")] == ["Name", "Score"]
    assert [td.text for td in elements(out, "td")] == ["Ada", "10", "Bob", "7"]
    assert len(elements(out, "tbody")[0]) == 2


def test_fenced_code_with_language_is_highlighted():
    out = render("```python\ndef greet(name):\n    return name\n```")
    (block,) = elements(out, "div")
    assert block.get("class") == "codehilite"
    keywords = [span.text for span in elements(out, "span") if span.get("class") == "k"]
    assert keywords == ["def", "return"]
    assert "def greet(name):\n    return name" in text_of(out)


def test_blockquote_and_rule_survive():
    out = render("> quoted\n\n---")
    assert "quoted" in "".join(elements(out, "blockquote")[0].itertext())
    assert len(elements(out, "hr")) == 1


@pytest.mark.parametrize(
    ("source", "href"),
    [
        pytest.param("[x](http://ok.example/a)", "http://ok.example/a", id="http"),
        pytest.param("[x](https://ok.example/a?b=1#c)", "https://ok.example/a?b=1#c", id="https"),
        pytest.param("[x](mailto:someone@ok.example)", "mailto:someone@ok.example", id="mailto"),
        pytest.param("[x](/t/42-some-topic)", "/t/42-some-topic", id="root-relative"),
        pytest.param("[x](../up/one)", "../up/one", id="dot-relative"),
        pytest.param("[x](#section-2)", "#section-2", id="fragment"),
        pytest.param("[x](?page=2)", "?page=2", id="query"),
        pytest.param('[x](https://ok.example "Title")', "https://ok.example", id="with-title"),
        pytest.param("[x][r]\n\n[r]: https://ok.example/ref", "https://ok.example/ref", id="ref"),
        pytest.param("<https://ok.example/auto>", "https://ok.example/auto", id="autolink"),
        pytest.param("<someone@ok.example>", "mailto:someone@ok.example", id="email-autolink"),
        pytest.param('<a href="https://ok.example/raw">x</a>', "https://ok.example/raw", id="raw"),
    ],
)
def test_safe_links_keep_href_and_get_rel(source, href):
    out = render(source)
    (link,) = elements(out, "a")
    assert link.get("href") == href
    assert link.get("rel") == "nofollow ugc noopener"


def test_link_title_survives():
    (link,) = elements(render('[x](https://ok.example "Hover me")'), "a")
    assert link.get("title") == "Hover me"


def test_sanitize_html_keeps_safe_link_and_adds_rel():
    out = sanitize_html('<p>See <a href="https://ok.example/doc" rel="opener">docs</a></p>')
    (link,) = elements(out, "a")
    assert link.get("href") == "https://ok.example/doc"
    assert link.get("rel") == "nofollow ugc noopener"
    assert text_of(out) == "See docs"


@pytest.mark.parametrize(
    "source",
    [
        pytest.param('![A cat](https://img.ok.example/cat.png "Cat")', id="inline"),
        pytest.param('![A cat][c]\n\n[c]: https://img.ok.example/cat.png "Cat"', id="reference"),
        pytest.param(
            '<img src="https://img.ok.example/cat.png" alt="A cat" title="Cat">', id="raw-html"
        ),
    ],
)
def test_https_images_survive(source):
    (image,) = elements(render(source), "img")
    assert image.get("src") == "https://img.ok.example/cat.png"
    assert image.get("alt") == "A cat"
    assert image.get("title") == "Cat"


@pytest.mark.parametrize("func", [render, sanitize_html], ids=["render", "sanitize_html"])
@pytest.mark.parametrize("written", ["", ' loading="eager"', ' loading="x onerror=alert(1)"'])
def test_every_image_loads_lazily_whatever_the_author_wrote(func, written):
    source = f'<img src="https://img.ok.example/big.png" width="10000" height="10000"{written}>'
    (image,) = elements(func(source), "img")
    assert image.get("loading") == "lazy"
    assert (image.get("width"), image.get("height")) == ("10000", "10000")  # the CSS bounds the box
    assert not [name for name in image.keys() if name.startswith("on")]


def test_comparison_operators_show_as_text():
    out = render("a < b && c > d")
    assert text_of(out) == "a < b && c > d"
    assert "a &lt; b &amp;&amp; c &gt; d" in out


def test_lookalike_tag_in_prose_shows_as_text():
    out = render("Use 1<2 and x<y> in prose")
    assert_safe(out)
    assert "1<2" in text_of(out)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Nice work 🎉👍🏽 👨‍👩‍👧", id="emoji"),
        pytest.param("你好，世界。日本語のテキスト。한국어", id="cjk"),
        pytest.param("שלום עולם مرحبا بالعالم", id="rtl"),
        pytest.param("Ça va? Grüße, naïve café", id="accents"),
    ],
)
def test_unicode_passes_through(text):
    out = render(text)
    assert text_of(out) == text
    assert text in out


@pytest.mark.parametrize("func", [render, sanitize_html], ids=["render", "sanitize_html"])
@pytest.mark.parametrize("empty", ["", None], ids=["empty-string", "none"])
def test_empty_input_gives_empty_markup(func, empty):
    out = func(empty)
    assert type(out) is Markup
    assert out == ""


@pytest.mark.parametrize("func", [render, sanitize_html], ids=["render", "sanitize_html"])
def test_returns_markup_that_templates_do_not_escape_again(func):
    out = func("**hi** <b>there</b>")
    assert type(out) is Markup
    assert escape(out) == out
    assert "<b>there</b>" in out


# --------------------------------------------------------------------------- Markdown as people write it


def _text(element) -> str:
    return "".join(element.itertext())


def test_a_list_right_after_a_line_of_text_is_a_list():
    out = render("Steps:\n1. one\n2. two")
    assert _text(elements(out, "p")[0]) == "Steps:"
    assert [li.text for li in elements(out, "ol")[0]] == ["one", "two"]


def test_two_space_nesting_makes_a_nested_list():
    out = render("- a\n  - b\n- c")
    outer = elements(out, "ul")[0]
    assert [li.text for li in outer] == ["a", "c"]
    inner = outer[0].find("ul")
    assert inner is not None and [li.text for li in inner] == ["b"]


def test_a_bare_link_is_a_link_with_the_same_rel_as_others():
    out = render("see https://example.com/x?y=1 now, or www.example.org")
    links = elements(out, "a")
    assert [a.get("href") for a in links] == ["https://example.com/x?y=1", "http://www.example.org"]
    assert all(a.get("rel") == "nofollow ugc noopener" for a in links)


def test_double_tildes_strike_through_and_single_ones_stay():
    out = render("~~old~~ new, ~approx~")
    assert [_text(d) for d in elements(out, "del")] == ["old"]
    assert "~approx~" in text_of(out)


def test_a_task_list_is_shown_with_marks_not_checkboxes():
    out = render("- [ ] todo\n- [x] done")
    items = elements(out, "li")
    assert [_text(li).strip() for li in items] == ["☐ todo", "☑ done"]
    assert elements(out, "input") == [] and "checkbox" not in out


def test_a_newline_is_a_line_break():
    out = render("line one\nline two")
    assert len(elements(out, "br")) == 1 and text_of(out).startswith("line one")


def test_what_already_worked_still_does():
    assert elements(render("```\ncode\n```"), "pre")
    assert elements(render("| a | b |\n|---|---|\n| 1 | 2 |"), "table")
    assert elements(render("## Heading"), "h2")
    assert _text(elements(render("`__init__`"), "code")[0]) == "__init__"


def test_an_attached_image_shows_as_a_thumbnail_linking_the_full_image():
    key = "Ab3_-Ab3_-Ab3_-Ab3_-Ab"
    html = str(render(f"Here:\n\n![error page.png](/uploads/{key})"))
    assert html == (f'<p>Here:</p>\n<p><a class="attachment" href="/uploads/{key}" '
                    f'rel="nofollow ugc noopener"><img alt="error page.png" src="/uploads/{key}/thumb" '
                    f'loading="lazy"></a></p>')
    # Not an upload's address (another site, a key of the wrong shape): an image as it was written.
    for src in ("https://example.com/a.png", f"/uploads/{key}x", f"/uploads/{key}/thumb"):
        assert 'class="attachment"' not in str(render(f"![a]({src})"))
    # A text file's link stays a link.
    assert str(render(f"[server.log](/uploads/{key})")) == (
        f'<p><a href="/uploads/{key}" rel="nofollow ugc noopener">server.log</a></p>')


# --------------------------------------------------------------------------- plain_text


def _demo_texts() -> list[str]:
    """Every "body" written in the demo community and the demo knowledge base, as Markdown."""
    found: list[str] = []

    def walk(value):
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "body" and isinstance(inner, str):
                    found.append(inner)
                else:
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    root = Path(__file__).resolve().parents[2]
    for path in (root / "forum" / "demo_data" / "community.json",
                 root / "kb" / "demo_data" / "articles.json"):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return found


def _plain_text_cases() -> list[str]:
    payloads = _values(RENDER_PAYLOADS) + _values(CODE)
    demo = _demo_texts()
    return ([str(render(text)) for text in payloads + demo]
            + [str(sanitize_html(text)) for text in _values(HTML_PAYLOADS)])


def test_plain_text_reads_sanitised_html_as_the_html_parser_does():
    cases = _plain_text_cases()
    assert len(cases) > 200
    for html in cases:
        assert plain_text(html) == _parsed_plain_text(html), html
        # What the renderer makes is read without HTMLParser (that is what makes rebuilds fast), and
        # without a loop over its tags unless it shows an image.
        assert _serialised_parts(html) is not None, html
        assert "<img" in html or _serialised_text(html) is not None, html


def test_plain_text_of_stack_exchange_posts_is_what_the_html_parser_reads():
    rows = ET.parse(require_coffee_dump() / "Posts.xml").getroot().iter("row")
    bodies = [str(sanitize_html(row.get("Body"))) for row in rows if row.get("Body")]
    assert len(bodies) > 500
    assert [plain_text(html) for html in bodies] == [_parsed_plain_text(html) for html in bodies]
    assert all(_serialised_parts(html) is not None for html in bodies)


@pytest.mark.parametrize("html", [
    *_values(RENDER_PAYLOADS), *_values(CODE),  # not sanitised: whatever the shape, the same text
    '<p>a<img alt="x &amp; y" src="/i.png">b</p><p>c&ampd &lt;e&gt; &#x41;&nbsp;f</p>',
    '<p title="a > b">one</p><P>two</P><br/><img alt=bare><img alt="">three',
    "<p>a &am</p><b>p; b</b>", "<!-- note --><p>after</p>", "<p>open <script>x</script> end",
    "text & more < less", "<div>\n\n  spaced\tout  \r\n words </div>",
    "<p>&no<b>t;</b> &amp x &notin; &#65;&#x42;&amp;&lt;</p>", "<pre>a</pre><p>b</p><br>c<hr>d</img>",
    '<abbr title="x">a</abbr><a href="/x?a=1&amp;b=2">l</a><blockquote><p>q</p></blockquote>',
    "\n<p> a \u2028b\x85 c\x1c</p>\n \n<p>\xa0d\u3000 \x00 e\ttab\r</p> \n", " \n\n ", "\x00",
])
def test_plain_text_of_any_html_is_what_the_html_parser_reads(html):
    assert plain_text(html) == _parsed_plain_text(html)
