"""The documented command synopses: the `aib ...` lines of the code blocks in docs/cli.md (the full reference)
and README.md (short examples), with their continuation lines."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CLI_REFERENCE = ROOT / "docs" / "cli.md"
FLAG = re.compile(r"(?<![\w$])(--[a-z0-9][a-z0-9-]*|-o)\b")


def synopses(*documents: Path) -> list[str]:
    """Each `aib` command line of a fenced code block, continuation lines joined; by default of the CLI
    reference and the README."""
    found = []
    for document in documents or (CLI_REFERENCE, README):
        lines, in_code, index = document.read_text().splitlines(), False, 0
        while index < len(lines):
            line = lines[index]
            if line.startswith("```"):
                in_code = not in_code
            elif in_code and re.match(r"^(\.venv/bin/)?aib ", line.strip()):
                text = line.strip()
                while text.endswith("\\") and index + 1 < len(lines):
                    index += 1
                    text = text[:-1] + " " + lines[index].strip()
                found.append(text.split("#")[0])
            index += 1
    return found


def command_of(parser: argparse.ArgumentParser, synopsis: str) -> tuple[tuple[str, ...], argparse.ArgumentParser]:
    """The command path a synopsis names and its parser (`aib export int8 ...` -> ('export', 'int8'))."""
    path, command = [], parser
    for token in synopsis.split()[1:]:
        subcommands = next((a for a in command._actions if isinstance(a, argparse._SubParsersAction)), None)
        if subcommands is None or token not in subcommands.choices:
            break
        path.append(token)
        command = subcommands.choices[token]
    return tuple(path), command


def flags(command: argparse.ArgumentParser) -> set[str]:
    return {
        option
        for option in command._option_string_actions
        if option not in ("-h", "--help", "--version") and (option.startswith("--") or option == "-o")
    }
