"""The documentation site, checked as a user would see it.

``make test`` builds the site (``make docs``, quick gallery) before running pytest, so these
tests read ``docs/_build/html``; run ``make docs`` first when calling pytest by hand. Three pages
open in headless Chromium (titles, every image decoded); every internal link of every page is
checked by reading the HTML files; and every public name has its place in the API reference.
"""

import importlib
import pkgutil
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from browser import NO_BROWSER, find_browser, render

import channeldecomp

ROOT = Path(__file__).parents[1]
SITE = ROOT / "docs" / "_build" / "html"
API_INDEX = ROOT / "docs" / "api" / "index.rst"
CLASSIFIER_PAGE = "api/generated/channeldecomp.ChannelDecompositionClassifier.html"
GALLERY_PAGE = "auto_examples/plot_tabular_decomposition.html"

#: Public modules left out of the API reference, with the reason.
NOT_IN_API = {"cli": "the command line: its commands are described in docs/dqm.md"}


def _public_modules():
    """``channeldecomp`` and each of its public modules and subpackages."""
    names = [
        info.name
        for info in pkgutil.iter_modules(channeldecomp.__path__)
        if not info.name.startswith("_") and info.name not in NOT_IN_API
    ]
    return ["channeldecomp"] + [f"channeldecomp.{name}" for name in sorted(names)]


#: Records the page's images once each has loaded or failed (``complete``), without waiting for
#: the window's load event, which a page's external scripts (MathJax from a CDN) can hold up on a
#: machine without network; a broken image is complete with naturalWidth 0.
IMAGE_CHECK = """<script>
document.addEventListener("DOMContentLoaded", function check() {
  var images = Array.prototype.slice.call(document.images);
  if (!images.every(function (img) { return img.complete; })) {
    setTimeout(check, 50);
    return;
  }
  var decoded = images.filter(function (img) { return img.naturalWidth > 0; });
  var out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = "images=" + images.length + " decoded=" + decoded.length;
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def site():
    if not (SITE / "index.html").exists():
        pytest.skip(f"the documentation is not built: run `make docs` ({SITE} is missing)")
    return SITE


class _Links(HTMLParser):
    """The href/src of every element, and the ids and names a fragment can point to."""

    def __init__(self):
        super().__init__()
        self.links, self.anchors = [], set()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name in ("href", "src"):
            if attributes.get(name):
                self.links.append(attributes[name])
        for name in ("id", "name"):
            if attributes.get(name):
                self.anchors.add(attributes[name])


def broken_links(root):
    """``(page, link)`` for each internal link whose file or fragment is missing."""
    parsed = {}

    def parse(path):
        if path not in parsed:
            parser = _Links()
            parser.feed(path.read_text(encoding="utf-8", errors="replace"))
            parsed[path] = parser
        return parsed[path]

    broken = []
    # _static holds the theme's files, among them its HTML templates: not pages of the site.
    pages = [path for path in root.rglob("*.html") if "_static" not in path.relative_to(root).parts]
    for page in sorted(pages):
        for link in parse(page).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("#") and not parts.fragment:
                continue  # another site, data:, mailto:, javascript:, or a bare "#"
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append((str(page.relative_to(root)), link))
            elif parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in parse(target).anchors:
                    broken.append((str(page.relative_to(root)), link))
    return broken


def test_no_internal_link_is_broken(site):
    pages = list(site.rglob("*.html"))
    assert len(pages) > 50, f"only {len(pages)} pages: is the API reference missing?"
    assert broken_links(site) == []


def test_broken_links_are_found(tmp_path):
    # The crawl itself can fail: a missing page, a missing fragment and a missing image.
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other.html").write_text('<h1 id="here">x</h1>')
    (tmp_path / "index.html").write_text(
        '<a href="sub/other.html#here">ok</a> <a href="https://example.org/x">external</a>'
        '<a href="missing.html">1</a> <a href="sub/other.html#nowhere">2</a>'
        '<img src="_images/none.png"> <a href="#top">3</a> <span id="self"></span>'
    )
    assert broken_links(tmp_path) == [
        ("index.html", "missing.html"),
        ("index.html", "sub/other.html#nowhere"),
        ("index.html", "_images/none.png"),
        ("index.html", "#top"),
    ]


@pytest.mark.parametrize(
    ("page", "title", "content", "min_images"),
    [
        ("index.html", "channeldecomp", "User guide", 0),
        (CLASSIFIER_PAGE, "ChannelDecompositionClassifier", "Parameters", 1),
        (GALLERY_PAGE, "Quick start: channel decomposition of a table", "global ROC AUC", 1),
    ],
)
def test_page_renders_in_a_headless_browser(site, tmp_path, page, title, content, min_images):
    browser = find_browser()
    if browser is None:
        pytest.skip(NO_BROWSER)
    # A copy of the site, so the page's relative links and images resolve; the page itself gets
    # a tiny script that records the decoded images.
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    checked = copy / page
    document = checked.read_text(encoding="utf-8")
    checked.write_text(document.replace("</body>", IMAGE_CHECK + "</body>"), encoding="utf-8")
    dom = render(browser, checked, tmp_path / "profile")
    assert re.search(rf"<title>[^<]*{re.escape(title)}[^<]*</title>", dom), dom[:500]
    assert content in dom
    found = re.search(r'<pre id="image-check"[^>]*>images=(\d+) decoded=(\d+)</pre>', dom)
    assert found, "the page did not finish loading"
    images, decoded = map(int, found.groups())
    assert images >= min_images
    assert decoded == images, f"{images - decoded} of {images} images did not decode on {page}"


def _documented_names():
    """``module.name`` of every autosummary entry of the API reference."""
    documented, module = set(), None
    for line in API_INDEX.read_text(encoding="utf-8").splitlines():
        if line.startswith((".. module::", ".. currentmodule::")):
            module = line.split("::")[1].strip()
        elif re.fullmatch(r" {3}[A-Za-z_][A-Za-z0-9_]*", line) and module:
            documented.add(f"{module}.{line.strip()}")
    return documented


def test_every_public_name_is_in_the_api_reference():
    documented = _documented_names()
    objects = {}
    for name in documented:
        module, _, attribute = name.rpartition(".")
        objects[name] = getattr(importlib.import_module(module), attribute)
    documented_ids = {id(value) for value in objects.values()}
    missing = []
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name == "__version__":
                continue
            value = getattr(module, name)
            # A name re-exported elsewhere is documented once, where the reference lists it.
            if f"{module_name}.{name}" not in documented and id(value) not in documented_ids:
                missing.append(f"{module_name}.{name}")
    assert missing == [], f"add these to {API_INDEX.relative_to(ROOT)}: {missing}"
