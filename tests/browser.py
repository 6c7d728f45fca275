"""Headless Chromium for the tests that check pages as a user sees them."""

import shutil
import subprocess

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: Appended to a copy of a page: once everything has loaded, records how many images the page
#: has and how many decoded (a broken image is complete with naturalWidth 0).
IMAGE_CHECK = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var decoded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; });
  var out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = "images=" + images.length + " decoded=" + decoded.length;
  document.body.appendChild(out);
});
</script>"""

NO_BROWSER = (
    "no chromium/chrome binary on PATH: install Debian's 'chromium' package to run the "
    "browser rendering test (CI does, see .ci/run)"
)


def find_browser():
    """Path of the first Chromium/Chrome binary on PATH, or None."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def render(browser, path, profile):
    """The DOM of a local page after it loaded, as headless Chromium serialises it."""
    completed = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout
