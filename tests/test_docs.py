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


def options_table(heading: str) -> dict[str, str]:
    """docs/python.md's table under the line naming `heading`: field -> default as written."""
    text = (ROOT / "docs" / "python.md").read_text()
    part = text.split(f"`{heading}`:", 1)[1].split("\n\n", 2)[1]
    rows = [line.split("|")[1:3] for line in part.splitlines()[2:]]
    return {field.strip().strip("`"): default.strip().strip("`") for field, default in rows}


@pytest.mark.parametrize("name", ["ModelOptions", "TranscribeOptions"])
def test_every_option_is_documented_with_its_default(name: str) -> None:
    import dataclasses

    import wav2text
    from wav2text import options

    cls = getattr(wav2text, name)
    documented = options_table(name)
    fields = {f.name: f.default for f in dataclasses.fields(cls)}
    assert list(documented) == list(fields)
    for field, default in fields.items():
        named = {v: k for k, v in vars(options).items() if k.isupper() and _hashable(v)}
        expected = (
            named.get(default) if isinstance(default, tuple | float) and default in named else None
        )
        written = documented[field]
        assert written == (expected or repr(default).replace("'", '"')), field


def test_negative_control_a_changed_default_is_caught() -> None:
    assert options_table("TranscribeOptions")["batch_size"] == "1"
    assert options_table("TranscribeOptions")["batch_size"] != repr(2)


def _hashable(value: object) -> bool:
    return isinstance(value, tuple | float | int | str)
