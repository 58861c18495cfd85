"""The README's command synopses and the parsers agree: every documented flag exists, every flag is documented."""
import argparse

import pytest

from aib_deploy.cli import build_parser
from tests.cli.test_cli import COMMANDS
from tests.helpers.readme import FLAG, command_of, synopses

PARSER = build_parser()
LEAVES = [path for path in COMMANDS if path and not any(isinstance(a, argparse._SubParsersAction)
                                                         for a in command_of(PARSER, "aib " + " ".join(path))[1]._actions)]  # fmt: skip


def documented() -> dict[tuple[str, ...], set[str]]:
    found: dict[tuple[str, ...], set[str]] = {}
    for synopsis in synopses():
        path, _ = command_of(PARSER, synopsis)
        found.setdefault(path, set()).update(FLAG.findall(synopsis))
    return found


def options(path: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Each option of the command as the tuple of its spellings (-o, --output)."""
    _, command = command_of(PARSER, "aib " + " ".join(path))
    return [tuple(action.option_strings) for action in command._actions
            if action.option_strings and not isinstance(action, argparse._HelpAction)]  # fmt: skip


@pytest.mark.parametrize("synopsis", synopses(), ids=lambda text: " ".join(text.split()[:3]))
def test_every_documented_flag_exists(synopsis):
    path, _ = command_of(PARSER, synopsis)
    known = {spelling for option in options(path) for spelling in option}
    assert set(FLAG.findall(synopsis)) - known == set(), f"`aib {' '.join(path)}` has no such option"


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_flag_is_documented(path):
    shown = documented().get(tuple(path), set())
    missing = [option[-1] for option in options(tuple(path)) if not set(option) & shown]
    assert missing == [], f"README synopsis of `aib {' '.join(path)}` lacks {missing}"
