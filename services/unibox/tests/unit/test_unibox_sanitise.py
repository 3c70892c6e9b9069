"""The reply/display sanitiser against a corpus of XSS vectors, and header-safe subjects."""

from __future__ import annotations

import re

import pytest

from unibox.domain.sanitise import sanitise_html, sanitise_subject

XSS_CORPUS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.test/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<img src=x onerror="alert(1)">',
    "<img src=x onerror=alert(1)//",
    '<body onload="alert(1)">hi</body>',
    '<div onmouseover="alert(1)">hover</div>',
    '<p ONCLICK=alert(1)>x</p>',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href=" javascript:alert(1)">click</a>',
    '<a href="jav&#x09;ascript:alert(1)">click</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<svg onload=alert(1)><circle r=1 /></svg>',
    '<svg><script>alert(1)</script></svg>',
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    '<svg><animate attributeName=href to=javascript:alert(1) /></svg>',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>',
    '<math href="javascript:alert(1)">x</math>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<div style="width: expression(alert(1))">x</div>',
    '<style>@import "//evil.test/x.css"; body{background:url(javascript:alert(1))}</style>',
    '<link rel=stylesheet href="//evil.test/x.css">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<form action="javascript:alert(1)"><input type=submit></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    '<input autofocus onfocus=alert(1)>',
    '<details open ontoggle=alert(1)>',
    '<video><source onerror="alert(1)"></video>',
    '<audio src=x onerror=alert(1)>',
    '<marquee onstart=alert(1)>x</marquee>',
    '<template><script>alert(1)</script></template>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    '<![CDATA[<script>alert(1)</script>]]>',
    '<p>unclosed <b>bold <i>italic <a href="https://ok.test">link',
    '<<script>script>alert(1)<</script>/script>',
    '<img """><script>alert(1)</script>">',
    '<a href="https://ok.test" target="_blank" onclick="steal()">ok</a>',
    '<xmp><script>alert(1)</script></xmp>',
    '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
    '<img src="https://ok.test/p.png" srcset="javascript:alert(1) 1x">',
]

# Anything that could execute or load active content in a browser.
ACTIVE = [
    re.compile(r"<\s*(script|style|iframe|object|embed|svg|math|link|meta|base|form|input|button|textarea|"
               r"select|video|audio|source|template|noscript|xmp|marquee|details|frame|frameset|applet)\b", re.I),
    re.compile(r"\son[a-z]+\s*=", re.I),
    re.compile(r"\sstyle\s*=", re.I),
    re.compile(r"\ssrcdoc\s*=|\ssrcset\s*=|\sformaction\s*=|\saction\s*=|\sbackground\s*=", re.I),
    re.compile(r"(href|src)\s*=\s*\"(?!https?:|mailto:)[^\"]*\"", re.I),
    re.compile(r"javascript:|vbscript:|data:", re.I),
]


@pytest.mark.parametrize("vector", XSS_CORPUS)
def test_no_active_content_survives_the_sanitiser(vector: str) -> None:
    clean = sanitise_html(vector)
    for pattern in ACTIVE:
        assert not pattern.search(clean), f"{pattern.pattern!r} survived in {clean!r}"


@pytest.mark.parametrize("vector", XSS_CORPUS)
def test_sanitising_is_idempotent(vector: str) -> None:
    once = sanitise_html(vector)
    assert sanitise_html(once) == once


def test_safe_formatting_and_links_are_kept() -> None:
    html = '<p>Hi <b>Ana</b>,</p><ul><li>one</li></ul><a href="https://example.test/x">report</a>'
    clean = sanitise_html(html)
    assert "<p>Hi <b>Ana</b>,</p>" in clean
    assert "<li>one</li>" in clean
    assert 'href="https://example.test/x"' in clean
    assert 'rel="noopener noreferrer nofollow"' in clean


def test_script_text_is_dropped_not_shown() -> None:
    assert sanitise_html("<p>ok</p><script>alert('x')</script>") == "<p>ok</p>"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: hello\r\nBcc: victim@example.test", "Re: hello Bcc: victim@example.test"),
        ("Re: a\nb", "Re: a b"),
        ("Re: a\rb", "Re: a b"),
        ("  Re:\t\u2028spaced\u0085 out \x00 ", "Re: spaced out"),
        ("Plain subject", "Plain subject"),
    ],
)
def test_subjects_cannot_carry_header_breaks(subject: str, expected: str) -> None:
    clean = sanitise_subject(subject)
    assert clean == expected
    assert "\r" not in clean and "\n" not in clean
