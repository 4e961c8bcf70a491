"""WCAG 2.2 AA checks run inside Chromium on a rendered page.

axe-core is not among the project's locked dependencies (and nothing may be downloaded while
the tests run), so this checks in the page itself the rules a plain server-rendered form page
can break: the document's language and title, one level-one heading, a name for every form
control and link, text contrast against the background actually painted behind it (4.5:1, or
3:1 for large text), a visible focus indicator, and 24 by 24 pixel targets (2.5.8).
"""

from pathlib import Path

CHECKS = Path(__file__).with_name("a11y_checks.js").read_text()

FOCUS_VISIBLE = r"""() => {
  const el = document.activeElement; if (!el || el === document.body) return false;
  const s = getComputedStyle(el);
  return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
}"""


def assert_accessible(page) -> None:
    """The page passes the checks above, and the first control Tab reaches (if the page has
    one) shows its focus."""
    problems = page.evaluate(CHECKS)
    assert not problems, problems
    if page.locator("a[href], button, input:not([type=hidden]), textarea, select").count():
        page.keyboard.press("Tab")
        assert page.evaluate(FOCUS_VISIBLE), "the focused control shows no focus indicator"
