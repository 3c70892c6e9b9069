"""Every check of the audit and how its problems are phrased for a business owner (≤ 90 chars).

Order within a category is the tie-break order when two findings are equally bad.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from audits.domain.grading import Category, Status


@dataclass(frozen=True, slots=True)
class CheckSpec:
    id: str
    category: Category
    label: str
    fail: str
    warn: str
    ok: str


_S, _P, _X, _M, _A = (
    Category.SEO,
    Category.PERFORMANCE,
    Category.SECURITY,
    Category.MOBILE,
    Category.ACCESSIBILITY,
)

CHECKS: Final[tuple[CheckSpec, ...]] = (
    CheckSpec(
        "seo.status",
        _S,
        "Homepage answers 200",
        "Your homepage returns an error, so Google can't show it",
        "Your homepage answers with an unusual status code",
        "Your homepage loads without errors",
    ),
    CheckSpec(
        "seo.title",
        _S,
        "Title 10-70 characters",
        "Your homepage has no title, so Google makes one up",
        "Your page title is too short or too long to show well on Google",
        "Your page title fits Google's results",
    ),
    CheckSpec(
        "seo.meta_description",
        _S,
        "Meta description 70-160 characters",
        "Your homepage has no description, so Google picks random text for it",
        "Your Google listing text is too short or too long",
        "Your Google listing text is well sized",
    ),
    CheckSpec(
        "seo.h1",
        _S,
        "Exactly one h1",
        "Your homepage has no main heading, so Google can't tell its topic",
        "Several main headings on your homepage blur what it is about",
        "Your homepage has one clear main heading",
    ),
    CheckSpec(
        "seo.canonical",
        _S,
        "Canonical link",
        "Google may list duplicate copies of your homepage and split its ranking",
        "Google may list duplicate copies of your homepage and split its ranking",
        "Google knows which copy of your homepage to list",
    ),
    CheckSpec(
        "seo.indexable",
        _S,
        "Not noindex",
        "Your homepage tells Google not to list it in search results",
        "Your homepage tells Google not to list it in search results",
        "Search engines may list your homepage",
    ),
    CheckSpec(
        "seo.robots_txt",
        _S,
        "robots.txt",
        "Your robots.txt blocks search engines from your whole site",
        "No robots.txt file to guide search engines through your site",
        "Your robots.txt guides search engines",
    ),
    CheckSpec(
        "seo.sitemap",
        _S,
        "sitemap.xml",
        "No sitemap, so search engines may miss some of your pages",
        "No sitemap, so search engines may miss some of your pages",
        "Your sitemap helps search engines find every page",
    ),
    CheckSpec(
        "seo.img_alt",
        _S,
        "Image alt text",
        "Most images have no description, so search engines can't read them",
        "Some images have no description, so search engines can't read them",
        "Your images are described for search engines",
    ),
    CheckSpec(
        "seo.lang",
        _S,
        "Language declared",
        "Your page doesn't declare its language, which confuses search engines",
        "Your page doesn't declare its language, which confuses search engines",
        "Your page declares its language",
    ),
    CheckSpec(
        "perf.ttfb",
        _P,
        "Server response < 600 ms",
        "Your server takes over 1.8 seconds to respond, so visitors leave",
        "Your server is slow to respond: visitors wait before anything appears",
        "Your server responds quickly",
    ),
    CheckSpec(
        "perf.load_time",
        _P,
        "Page load < 3 s",
        "Your homepage takes over 6 seconds to load, so many visitors leave",
        "Your homepage takes over 3 seconds to load",
        "Your homepage loads quickly",
    ),
    CheckSpec(
        "perf.html_size",
        _P,
        "HTML ≤ 100 KB",
        "Your homepage code is very heavy and slow to load on phones",
        "Your homepage code is heavy, which slows loading on phones",
        "Your homepage code is lean",
    ),
    CheckSpec(
        "perf.compression",
        _P,
        "Compressed transfer",
        "Your server sends pages uncompressed, making them slower to load",
        "Your server sends pages uncompressed, making them slower to load",
        "Your pages are sent compressed",
    ),
    CheckSpec(
        "perf.render_blocking",
        _P,
        "No render-blocking scripts",
        "Many scripts block your page from showing while they load",
        "Scripts block your page from showing while they load",
        "No scripts hold up your page",
    ),
    CheckSpec(
        "perf.cache",
        _P,
        "Cache headers",
        "Browsers can't cache your page, so repeat visits load slower",
        "Browsers can't cache your page, so repeat visits load slower",
        "Browsers can cache your page",
    ),
    CheckSpec(
        "sec.https",
        _X,
        "HTTPS",
        "Visitors see a 'Not secure' warning: your site has no HTTPS",
        "Visitors see a 'Not secure' warning: your site has no HTTPS",
        "Your site is served securely over HTTPS",
    ),
    CheckSpec(
        "sec.http_redirect",
        _X,
        "http redirects to https",
        "Visitors typing your address land on the insecure version",
        "Your site doesn't answer on plain http:// addresses",
        "Visitors are always sent to the secure version",
    ),
    CheckSpec(
        "sec.cert",
        _X,
        "Certificate valid ≥ 30 days",
        "Your security certificate is invalid, so browsers show a warning",
        "Your security certificate expires in under 30 days",
        "Your security certificate is valid",
    ),
    CheckSpec(
        "sec.hsts",
        _X,
        "HSTS",
        "Browsers aren't told to always use the secure version of your site",
        "Browsers aren't told to always use the secure version of your site",
        "Browsers always use your secure site",
    ),
    CheckSpec(
        "sec.csp",
        _X,
        "Content-Security-Policy",
        "No content security policy to protect visitors from injected scripts",
        "No content security policy to protect visitors from injected scripts",
        "A content security policy protects visitors",
    ),
    CheckSpec(
        "sec.nosniff",
        _X,
        "X-Content-Type-Options",
        "Missing a basic header that stops browsers misreading your files",
        "Missing a basic header that stops browsers misreading your files",
        "Browsers read your files as intended",
    ),
    CheckSpec(
        "sec.frame",
        _X,
        "Frame protection",
        "Other sites can embed your pages to trick your visitors",
        "Other sites can embed your pages to trick your visitors",
        "Other sites can't embed your pages",
    ),
    CheckSpec(
        "sec.mixed_content",
        _X,
        "No mixed content",
        "Your secure page loads insecure content, so browsers flag it",
        "Your secure page loads insecure content, so browsers flag it",
        "Everything on your page loads securely",
    ),
    CheckSpec(
        "mobile.viewport",
        _M,
        "Viewport width=device-width",
        "Your site isn't set up for phones: visitors must pinch and zoom",
        "Your site's phone setup is incomplete, so phones may show it badly",
        "Your site is set up for phones",
    ),
    CheckSpec(
        "mobile.zoom",
        _M,
        "Zoom not disabled",
        "Your site stops phone visitors from zooming in to read",
        "Your site limits how far phone visitors can zoom in",
        "Phone visitors can zoom in to read",
    ),
    CheckSpec(
        "a11y.lang",
        _A,
        "html lang",
        "Screen readers can't tell which language your page is in",
        "Screen readers can't tell which language your page is in",
        "Screen readers know your page's language",
    ),
    CheckSpec(
        "a11y.img_alt",
        _A,
        "Image alt coverage",
        "Most images have no text for visitors using screen readers",
        "Some images have no text for visitors using screen readers",
        "Your images have text for screen readers",
    ),
    CheckSpec(
        "a11y.labels",
        _A,
        "Labelled form fields",
        "Your form fields have no labels, so not everyone can fill them in",
        "Some form fields have no label, so not everyone can fill them in",
        "Your form fields are labelled",
    ),
    CheckSpec(
        "a11y.named_controls",
        _A,
        "Named links and buttons",
        "Most links or buttons have no name screen readers can announce",
        "Some links or buttons have no name screen readers can announce",
        "Your links and buttons are named",
    ),
    CheckSpec(
        "a11y.title",
        _A,
        "Page title",
        "Your page has no title, so browser tabs and screen readers show nothing",
        "Your page has no title, so browser tabs and screen readers show nothing",
        "Your page has a title",
    ),
)

BY_ID: Final[dict[str, CheckSpec]] = {spec.id: spec for spec in CHECKS}
ORDER: Final[dict[str, int]] = {spec.id: index for index, spec in enumerate(CHECKS)}

NO_ISSUES: Final = "No major issues found: your site is fast, secure and mobile-friendly"
NOTHING_ELSE: Final = "Everything else we checked looks healthy"


def phrase(check_id: str, status: Status) -> str:
    """The business phrase of a check in a given state."""
    spec = BY_ID[check_id]
    return {Status.FAIL: spec.fail, Status.WARN: spec.warn, Status.PASS: spec.ok}[status]


VARIANTS: Final[dict[str, str]] = {
    "seo.meta_description:too_short": "Your Google listing text is too short to win the click",
    "seo.meta_description:too_long": "Your Google listing text is too long and gets cut off",
    "seo.title:too_short": "Your page title is too short to stand out on Google",
    "seo.title:too_long": "Your page title is too long and gets cut off on Google",
    "sec.cert:missing": "Your site has no security certificate",
    "sec.cert:expired": "Your security certificate has expired, so browsers show a warning",
}
