"""Real speech from Debian's `flight-of-the-amazon-queen` (freeware, "give this game away";
its copyright file is credited in the model card): 6,745 spoken lines by many actors, MP3
16 kb/s at 11,025 Hz, inside the ScummVM resource file `queen.1c`. Fetched with
`apt-get download` at training time, never committed.

The file starts with a table (ScummVM's compress_queen layout): b"QTBL", a 6-byte version,
flags, the compression, a big-endian entry count, then 21-byte entries (a 12-byte name, a
bundle byte, big-endian offset and size). Speech lines are the `.SB` entries; a name is
`RRLLLLSn.SB`: room RR, line LLLL, speaker letter S (J is the player, Joe King), part n.
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "flight-of-the-amazon-queen"
RESOURCE = f"usr/share/scummvm/{PACKAGE}/queen.1c"
_HEADER_BYTES = 15
_ENTRY = struct.Struct(">12sBII")


@dataclass(frozen=True)
class GameLine:
    name: str  # e.g. 0303B9J1 (no .SB)
    offset: int
    size: int

    @property
    def room(self) -> str:
        return self.name[:2]

    @property
    def speaker(self) -> str:
        """J (Joe, the player), P (the person Joe talks to) or a cutaway's actor digit."""
        return self.name[6]


def fetch_resource(directory: Path) -> Path:
    """`queen.1c` extracted from the Debian package into `directory` (once)."""
    target = directory / "queen.1c"
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, check=True)
        deb = next(Path(tmp).glob("*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp + "/x"], check=True)
        (Path(tmp) / "x" / RESOURCE).replace(target)
    return target


def speech_lines(resource: Path) -> list[GameLine]:
    """Every spoken line in the resource table, in table order."""
    with resource.open("rb") as file:
        header = file.read(_HEADER_BYTES)
        if header[:4] != b"QTBL":
            raise ValueError(f"{resource} is not a ScummVM QTBL resource file")
        (count,) = struct.unpack(">H", header[13:15])
        table = file.read(count * _ENTRY.size)
    lines = []
    for name_bytes, _bundle, offset, size in _ENTRY.iter_unpack(table):
        name = name_bytes.rstrip(b"\0").decode("ascii")
        if name.endswith(".SB"):
            lines.append(GameLine(name.removesuffix(".SB"), offset, size))
    return lines


def line_bytes(resource: Path, line: GameLine) -> bytes:
    """The line's MP3 stream."""
    with resource.open("rb") as file:
        file.seek(line.offset)
        return file.read(line.size)


def is_select(line: GameLine) -> bool:
    """The selection split: whole rooms (scenes), a fixed sixth of them, never trained on."""
    return int(line.room, 36) % 6 == 5
