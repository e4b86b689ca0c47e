"""The documentation says what the code does: synopses match --help, links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wav2text.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def synopsis(command: str) -> set[str]:
    """The options the docs' synopsis of `wav2text COMMAND` names."""
    text = (ROOT / "docs" / "cli.md").read_text()
    block = re.search(rf"^    wav2text {command} (.*?)(?=^    wav2text |\n\n)", text, re.M | re.S)
    assert block, f"no synopsis for {command}"
    return set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", block.group(1)))


def parser_actions(command: str) -> list[set[str]]:
    """Each option of the command, as the set of its spellings (-m, --model)."""
    sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    return [set(a.option_strings) for a in sub._actions if a.option_strings and a.dest != "help"]


def parser_options(command: str) -> set[str]:
    return set().union(*parser_actions(command))


@pytest.mark.parametrize("command", ["transcribe", "align", "eval", "inspect", "serve"])
def test_synopsis_matches_help(command: str) -> None:
    named = synopsis(command)
    assert named <= parser_options(command), named - parser_options(command)
    missing = [spellings for spellings in parser_actions(command) if not spellings & named]
    assert not missing


def test_negative_control_an_option_the_parser_lacks_is_caught() -> None:
    assert "--raw" not in parser_options("serve")  # what the old serve synopsis claimed


def test_every_local_link_resolves() -> None:
    for page in DOCS:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name}: {target}"


def test_the_readme_is_read_in_a_minute() -> None:
    readme = (ROOT / "README.md").read_text().splitlines()
    assert len(readme) < 200
