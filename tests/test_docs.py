"""The project documents itself: the README and docs/ link only inside the repository (a clone
from a public host has nothing else), and the README lists every demo login and ``PORT``."""

import re
from pathlib import Path

import pytest

from clinic.demo import STAFF
from providers.demo import LOGINS

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)]+)\)|<(https?://[^>]+)>")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_documents_link_only_to_files_inside_the_repository(document):
    for match in LINK.finditer(document.read_text()):
        target = (match.group(1) or match.group(2)).split("#")[0]
        assert "://" not in target, f"{document.name} links outside: {target}"
        if target:
            resolved = (document.parent / target).resolve()
            assert resolved.is_relative_to(ROOT), f"{document.name}: {target} leaves the repo"
            assert resolved.exists(), f"{document.name}: {target} does not exist"


def test_the_project_has_its_own_rules_and_api_documents():
    assert (ROOT / "docs" / "RULES.md").is_file()
    assert (ROOT / "docs" / "API.md").is_file()


def test_the_readme_lists_every_demo_login_and_the_port():
    readme = (ROOT / "README.md").read_text()
    logins = [(username, password) for _, username, _, _, password in STAFF]
    logins += [(username, password) for username, password in LOGINS.values() if password]
    for username, password in logins:
        assert f"`{username}`" in readme
        assert f"`{password}`" in readme
    assert "`PORT`" in readme
