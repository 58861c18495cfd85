"""The docs and the parsers agree: every `aib` synopsis in docs/cli.md and README.md names only real flags, and
docs/cli.md documents every flag. The README stays a short front door and the docs' links resolve."""

import argparse
import re

import pytest

from aib_deploy.cli import build_parser
from tests.cli.test_cli import COMMANDS
from tests.helpers.readme import CLI_REFERENCE, FLAG, README, command_of, synopses

PARSER = build_parser()
LEAVES = [
    path
    for path in COMMANDS
    if path
    and not any(isinstance(a, argparse._SubParsersAction) for a in command_of(PARSER, "aib " + " ".join(path))[1]._actions)
]
README_MAX_LINES = 250
DOCUMENTS = [README, *sorted(CLI_REFERENCE.parent.glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def documented() -> dict[tuple[str, ...], set[str]]:
    """The flags docs/cli.md shows for each command path."""
    found: dict[tuple[str, ...], set[str]] = {}
    for synopsis in synopses(CLI_REFERENCE):
        path, _ = command_of(PARSER, synopsis)
        found.setdefault(path, set()).update(FLAG.findall(synopsis))
    return found


def options(path: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Each option of the command as the tuple of its spellings (-o, --output)."""
    _, command = command_of(PARSER, "aib " + " ".join(path))
    return [
        tuple(action.option_strings)
        for action in command._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    ]


@pytest.mark.parametrize("synopsis", synopses(), ids=lambda text: " ".join(text.split()[:3]))
def test_every_documented_flag_exists(synopsis):
    path, _ = command_of(PARSER, synopsis)
    known = {spelling for option in options(path) for spelling in option}
    assert set(FLAG.findall(synopsis)) - known == set(), f"`aib {' '.join(path)}` has no such option"


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_flag_is_documented(path):
    shown = documented().get(tuple(path), set())
    missing = [option[-1] for option in options(tuple(path)) if not set(option) & shown]
    assert missing == [], f"docs/cli.md's synopsis of `aib {' '.join(path)}` lacks {missing}"


def test_the_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines, at most {README_MAX_LINES}: move detail to docs/"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_relative_link_resolves(document):
    targets = [
        target for target in LINK.findall(document.read_text()) if not target.startswith(("http://", "https://", "mailto:", "#"))
    ]
    broken = [target for target in targets if not (document.parent / target.split("#")[0]).exists()]
    assert broken == [], f"{document.name} links to missing files: {broken}"
