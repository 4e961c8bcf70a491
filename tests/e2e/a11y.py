"""WCAG 2.2 AA checks run inside Chromium on a rendered page.

First axe-core (the copy locked with ``axe-playwright-python``), limited to the WCAG 2.0-2.2 A
and AA rules; then checks axe leaves out or cannot judge on a static page: one level-one
heading, a visible focus indicator on the first control Tab reaches, and 24 by 24 pixel
targets (2.5.8), with text contrast measured against the background actually painted.
"""

from pathlib import Path

from axe_playwright_python.sync_playwright import Axe

_AXE = Axe()
WCAG_AA = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"],
    },
    "resultTypes": ["violations"],
}


def axe_violations(page) -> list[str]:
    """axe-core's WCAG A/AA violations on the page as it is now, one line each."""
    violations = _AXE.run(page, options=WCAG_AA).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in violations
    ]


CHECKS = Path(__file__).with_name("a11y_checks.js").read_text()

FOCUS_VISIBLE = r"""() => {
  const el = document.activeElement; if (!el || el === document.body) return false;
  const s = getComputedStyle(el);
  return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
}"""


def assert_accessible(page) -> None:
    """The page passes the checks above, and the first control Tab reaches (if the page has
    one) shows its focus."""
    violations = axe_violations(page)
    assert not violations, violations
    problems = page.evaluate(CHECKS)
    assert not problems, problems
    if page.locator("a[href], button, input:not([type=hidden]), textarea, select").count():
        page.keyboard.press("Tab")
        assert page.evaluate(FOCUS_VISIBLE), "the focused control shows no focus indicator"
