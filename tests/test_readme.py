"""The README is the front door: short, the two commands near the top, and its settings table the
Settings class's own help, so the two never drift apart."""
import re

from backends.settings import settings_table
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_the_settings_table_is_the_settings_own_help():
    block = re.search(r"<!-- settings:start -->\n(.*?)\n<!-- settings:end -->", README, re.S)
    assert block, "the README has no settings markers"
    assert block.group(1).strip() == settings_table(), (
        "the README's settings table differs from Settings' help: put the output of "
        "`python -m backends settings` between the markers")


def test_a_newcomer_finds_the_commands_and_the_picture_at_the_top():
    lines = README.splitlines()
    assert len(lines) <= 250
    top = "\n".join(lines[:30])
    assert "make run" in top and "make test" in top
    picture = re.search(r"!\[[^\]]*\]\(([^)]+\.png)\)", top)
    assert picture and (ROOT / picture.group(1)).is_file()


def test_every_file_the_readme_links_exists():
    for target in re.findall(r"\]\(((?:docs|ui|backends|benchmarks|tests|adapters)/[^)#\s]*)\)", README):
        assert (ROOT / target).exists(), target
