"""A folder per exported model, built once, checked on every load, never trusted blindly.

A model's export is keyed by everything that changes its numbers: the model's identity (the
hub commit, or a digest of a local directory's files), its language adapter, the runtime and
its version, the precision and wav2text's export format. Each folder holds a manifest with the
key and the SHA-256 of every file; a folder whose manifest or files do not match is rebuilt.
Builds happen in a temporary folder renamed into place, so a crash leaves no half export.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

EXPORT_FORMAT = 1  # bump when what an export holds changes
_MANIFEST = "manifest.json"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json")


class ExportCacheWarning(UserWarning):
    """A cached export was unusable (corrupt, half-written) and was rebuilt."""


def cache_root() -> Path:
    """$WAV2TEXT_CACHE, else $XDG_CACHE_HOME/wav2text, else ~/.cache/wav2text."""
    if os.environ.get("WAV2TEXT_CACHE"):
        return Path(os.environ["WAV2TEXT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wav2text"


def model_identity(location: str, commit: str | None) -> str:
    """What the weights are: the hub commit they came from, or a digest of a local folder."""
    folder = Path(location)
    if not folder.is_dir():
        return f"{location}@{commit or 'unknown'}"
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in _WEIGHT_SUFFIXES:
            digest.update(path.name.encode() + b"\0" + _sha256(path).encode())
    return f"{folder.resolve()}#{digest.hexdigest()}"


def cached_export(key: Mapping[str, str], build: Callable[[Path], None]) -> Path:
    """The folder holding the export for `key`; `build(folder)` fills a new one if needed."""
    key = {**key, "format": str(EXPORT_FORMAT)}
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    final = cache_root() / "exports" / name
    problem = _problem(final, key)
    if problem is None:
        return final
    if final.exists():
        warnings.warn(
            f"the cached export {final} {problem}; rebuilding it", ExportCacheWarning, stacklevel=3
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=final.parent))
    try:
        build(staging)
        files = {p.name: _sha256(p) for p in sorted(staging.iterdir()) if p.is_file()}
        (staging / _MANIFEST).write_text(json.dumps({"key": key, "files": files}, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        try:
            staging.rename(final)
        except OSError:  # another process put a complete one there first: use that one
            if _problem(final, key) is not None:
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _problem(folder: Path, key: Mapping[str, str]) -> str | None:
    """Why the folder cannot be used as the export for key; None when it can."""
    try:
        manifest = json.loads((folder / _MANIFEST).read_text())
    except FileNotFoundError:
        return "has no manifest (half-written)" if folder.exists() else "does not exist"
    except (OSError, ValueError) as err:
        return f"has an unreadable manifest ({err})"
    if not isinstance(manifest, dict) or manifest.get("key") != dict(key):
        return "was made for another model or runtime"
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return "lists no files"
    for name, digest in files.items():
        path = folder / str(name)
        if not path.is_file() or _sha256(path) != digest:
            return f"has a damaged or missing {name}"
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
