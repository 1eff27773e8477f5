"""WordPress's paragraphs for classic-editor posts (feedsvc/transfer/autop.py, issue 18).

The cases follow WordPress's own tests of wpautop (wordpress-develop,
tests/phpunit/tests/formatting/Autop.php; the ticket each comes from is named), with inputs of
our own. Where only the whitespace between block-level tags differs from wpautop's, the
comparison drops line breaks next to tags (``flat``); the elements and the text must match.
"""

from __future__ import annotations

import re
import time

import lxml.html
import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.transfer.autop import BLOCKS, autop, needs_paragraphs

EXACT = [
    # #11008: paragraphs, line breaks, a list between paragraphs
    ("\nWelcome to the site.  Read this first.\n\nFirst things first:\n<ul>\n"
     '<li><a href="https://a.example/" title="Subscribe">Subscribe</a></li>\n</ul>\n'
     "You will get mail when there is news.\nLog in to the dashboard.\nThat is all.\n\n"
     "Thank you.\n",
     "<p>Welcome to the site.  Read this first.</p>\n<p>First things first:</p>\n<ul>\n"
     '<li><a href="https://a.example/" title="Subscribe">Subscribe</a></li>\n</ul>\n'
     "<p>You will get mail when there is news.<br />\nLog in to the dashboard.<br />\n"
     "That is all.</p>\n<p>Thank you.</p>\n"),
    # #19855: <pre> untouched, the text around it paragraphs
    ("Look at this:\n\n<pre>one<br />two<br>three\n\nfour\n  five</pre>\n\nNice?",
     "<p>Look at this:</p>\n<pre>one<br />two<br>three\n\nfour\n  five</pre>\n<p>Nice?</p>\n"),
    ("<pre>if (a)\n\n  b();</pre>", "<pre>if (a)\n\n  b();</pre>\n"),
    # #16456 and #22230: form controls stay inline
    ('Name: <input type="text" name="n" /><br />Password: <input type="password" name="p" />',
     '<p>Name: <input type="text" name="n" /><br />Password: <input type="password" name="p" /></p>\n'),
    ('Town: <select name="t"><option value="1">Sylhet</option>\n<option value="2">Khulna</option></select>',
     '<p>Town: <select name="t"><option value="1">Sylhet</option><option value="2">Khulna</option></select></p>\n'),
    # #26864: no <br /> between <source>s and <track>s of a <video>
    ("One.\n\n<video controls>\n\t<source src=\"a.mp4\" />\n\t<!-- fallback -->\n"
     "\t<source src=\"a.webm\" />\n\t<track kind=\"subtitles\" src=\"a.srt\" />\n</video>\n\nTwo.",
     "<p>One.</p>\n<p><video controls><source src=\"a.mp4\" /><!-- fallback -->"
     "<source src=\"a.webm\" /><track kind=\"subtitles\" src=\"a.srt\" /></video></p>\n<p>Two.</p>\n"),
    # #26864: nor between an <object>'s <param>s and <embed>
    ('One.\n\n<object width="400">\n\t<param name="src" value="x.swf" />\n\n'
     '\t<embed src="x.swf" />\n</object>\n\nTwo.',
     '<p>One.</p>\n<p><object width="400"><param name="src" value="x.swf" /><embed src="x.swf" />'
     "</object></p>\n<p>Two.</p>\n"),
    # #27268: a blockquote's text is a paragraph inside it
    ("<blockquote>foo</blockquote>", "<blockquote><p>foo</p></blockquote>\n"),
    # #33106: line breaks inside a tag, a comment or CDATA stay line breaks
    ("Hello <a\nhref='world'>", "<p>Hello <a\nhref='world'></p>\n"),
    ("Hello <!-- a\nhref='world' -->", "<p>Hello <!-- a\nhref='world' --></p>\n"),
    ("Hello <!-- <object>\n<param>\n<embed>\n</embed>\n</object>\n -->",
     "<p>Hello <!-- <object>\n<param>\n<embed>\n</embed>\n</object>\n --></p>\n"),
    ("Hello <![CDATA[ a\nhttps://youtu.be/x\n ]]>", "<p>Hello <![CDATA[ a\nhttps://youtu.be/x\n ]]></p>\n"),
    ("Hello <![CDATA[ <!-- a\nb\n c ]]> -->", "<p>Hello <![CDATA[ <!-- a\nb\n c ]]> --></p>\n"),
    # #33377: no second break after a <br>, in any spelling; two of them end a paragraph
    ("\nline 1<br>\nline 2<br/>\nline 3<br />\nline 4\nline 5\n",
     "<p>line 1<br />\nline 2<br />\nline 3<br />\nline 4<br />\nline 5</p>\n"),
    ("\nline 1<br>\n<br/>\nline 2<br/>\n<br />\n", "<p>line 1</p>\n<p>line 2</p>\n"),
    # #4857 and #14674: text before a block, and around an <hr>, is a paragraph of its own
    ("a<div>b</div>", "<p>a</p>\n<div>b</div>\n"),
    ("paragraph1<hr>paragraph2", "<p>paragraph1</p>\n<hr>\n<p>paragraph2</p>\n"),
    # #9437: inline <svg> and <script> keep their line breaks
    ('<svg xmlns="http://www.w3.org/2000/svg">\n\t<circle r="30">\n\t</circle>\n</svg>',
     '<p><svg xmlns="http://www.w3.org/2000/svg">\n\t<circle r="30">\n\t</circle>\n</svg></p>\n'),
    ('<script>\n\tvar dummy = 1;\n</script>', '<p><script>\n\tvar dummy = 1;\n</script></p>\n'),
    # nothing to do
    ("", ""), (" \n\n\t ", ""),
    # a Bengali newsroom's classic post, Windows line ends and all
    ("বন্যায় ডুবেছে সিলেট।\r\n\r\nপানি বাড়ছে।\r\nসতর্কতা জারি।",
     "<p>বন্যায় ডুবেছে সিলেট।</p>\n<p>পানি বাড়ছে।<br />\nসতর্কতা জারি।</p>\n"),
]


@pytest.mark.parametrize(("text", "expected"), EXACT)
def test_wpautop_cases(text: str, expected: str) -> None:
    assert autop(text) == expected


def flat(html: str) -> str:
    """``html`` without the line breaks next to a tag that are only layout (a <br /> keeps its own)."""
    return re.sub(r"(?<=>)\n|\n(?=<)", "", html).strip()


@pytest.mark.parametrize("name", sorted(BLOCKS - {"hr", "col", "area", "pre", "style"}))
def test_block_elements_are_never_wrapped(name: str) -> None:
    """#27268: blocks, with blank lines between them or none, each on its own line."""
    blocks = [f"<{name}>foo</{name}>", f"<{name} attr='value'>foo</{name}>"]
    expected = "<p>foo</p>" if name == "blockquote" else "foo"
    for text in ("\n\n".join(blocks), "".join(blocks)):
        assert flat(autop(text)) == (f"<{name}>{expected}</{name}><{name} attr='value'>{expected}</{name}>")


@pytest.mark.parametrize("name", ["a", "em", "strong", "small", "s", "cite", "q", "dfn", "abbr", "data",
                                  "time", "code", "var", "samp", "kbd", "sub", "sup", "i", "b", "u",
                                  "mark", "span", "del", "ins", "noscript", "select"])
def test_inline_elements_are_paragraphs(name: str) -> None:
    """#27268: inline elements separated by a blank line are a paragraph each."""
    assert autop(f"<{name}>foo</{name}>\n\n<{name}>bar</{name}>") == (
        f"<p><{name}>foo</{name}></p>\n<p><{name}>bar</{name}></p>\n")


@pytest.mark.parametrize(("text", "expected"), [
    # #39307: no </p> of its own before a <figcaption>
    ('<figure><img src="a.jpg" /><figcaption>Caption</figcaption></figure>',
     '<figure><img src="a.jpg" /><figcaption>Caption</figcaption></figure>'),
    ('<figure>\n<img src="a.jpg" />\n<figcaption>Caption</figcaption>\n</figure>',
     '<figure><img src="a.jpg" /><figcaption>Caption</figcaption></figure>'),
    # #26864: a <div> around an <object>
    ('One.\n\n<div class="player">\n<object data="x.swf">\n  <param name="q" value="best" />\n\n'
     '  <param name="s" value="true" />\n</object></div>\n\nTwo.',
     '<p>One.</p><div class="player"><object data="x.swf"><param name="q" value="best" />'
     '<param name="s" value="true" /></object></div><p>Two.</p>'),
    # a list: no <p> and no <br /> around its items
    ("<ul>\n<li>one</li>\n<li>two\nlines</li>\n</ul>", "<ul><li>one</li><li>two<br />\nlines</li></ul>"),
    # where wpautop's substitutions break the nesting (<div>foo</p><p>bar</p></div>), the
    # paragraphs it meant
    ("<div>foo\n\nbar</div>", "<div><p>foo</p><p>bar</p></div>"),
    ("<p>one\n\ntwo</p>", "<p>one</p><p>two</p>"),
])
def test_wpautop_cases_but_for_layout(text: str, expected: str) -> None:
    assert flat(autop(text)) == flat(expected)


def test_block_editor_posts_are_left_alone() -> None:
    assert not needs_paragraphs("<!-- wp:paragraph -->\n<p>Block text</p>\n<!-- /wp:paragraph -->")
    assert needs_paragraphs("Classic text.\n\nMore.")
    assert needs_paragraphs("<!-- a comment -->\n\nClassic text.")


def words(html: str) -> list[str]:
    return lxml.html.fromstring(f"<div>{html}</div>").text_content().split()


def letters(html: str) -> str:
    """The text of ``html`` without its white space (a block may now part two words it joined)."""
    return "".join(words(html))


@given(st.text())
def test_any_text_keeps_its_words(text: str) -> None:
    """Whatever a post holds, autop returns, and plain text keeps every word in order."""
    html = autop(text)
    assert "\x00" not in html
    plain = text.replace("\x00", "")
    if "<" not in plain and "&" not in plain and html:
        assert words(html) == plain.split()
        assert html.count("<p>") == html.count("</p>") >= 1


@given(st.lists(st.sampled_from(["a", "b c", "\n", "\n\n", "<br>", "<em>", "</em>", "<div>", "</div>",
                                 "<pre>x\n\ny</pre>", "<ul>", "<li>", "</li>", "</ul>", "<!-- c\n -->",
                                 "<blockquote>", "</blockquote>", "<hr>", " ", "<p>", "</p>", "<"])))
def test_any_markup_keeps_its_words(parts: list[str]) -> None:
    text = "".join(parts)
    html = autop(text)
    if text.count("<") == text.count(">") and "<!--" not in text:
        assert letters(html) == letters(text) if text.strip() else html == ""


# Long bodies: the time grows with the length, not with its square.
def fastest(body: str, turns: int = 3) -> float:
    """The shortest of ``turns`` runs of autop on ``body``, in seconds (noise only adds)."""
    times = []
    for _ in range(turns):
        started = time.perf_counter()
        autop(body)
        times.append(time.perf_counter() - started)
    return min(times)


def test_unclosed_pres_cost_time_in_proportion() -> None:
    """20,000 <pre>s without </pre> and as many </p>s without <p> (220 KB): 85 s before, a
    search for </pre> from each of them; under a second now, so 10 s is a bound no loaded
    machine reaches, and a fraction of the old time."""
    body = "<pre>x</p>\n" * 20_000
    started = time.monotonic()
    html = autop(body)
    assert time.monotonic() - started < 10
    assert re.sub(r"<[^>]*>|\s", "", html) == "x" * 20_000  # too deep for lxml


def test_a_paragraph_of_many_lines_costs_time_in_proportion() -> None:
    """One paragraph of lines each ending in <br>: the paragraph was copied whole for each
    piece added (4 s for 100,000 lines). Four times the lines take about four times as long
    now; a square law would take sixteen. Compared with itself, not with a clock: a loaded
    machine slows both alike."""
    small, large = "a<br>\n" * 25_000, "a<br>\n" * 100_000
    html = autop(large)
    assert re.sub(r"<[^>]*>|\s", "", html) == "a" * 100_000
    assert html.count("<br />") == 100_000
    ratio = fastest(large) / fastest(small)
    assert ratio < 9, ratio


def test_an_unclosed_pre_is_an_ordinary_tag_and_a_closed_one_after_it_kept_whole() -> None:
    """An unclosed <pre> found once is not looked for again; a <pre> closed later stays whole."""
    assert "<script>c\n\nd</script>" in autop("<pre>a\n\nb\n\n<script>c\n\nd</script>\n\ne")
    assert autop("<pre>a</p><pre>b\n\nc</pre>") == "<pre>a</p><pre>b\n\nc</pre>\n"
