"""Build the demo model's word n-gram LM: `python -m training.lm OUT_FOLDER`.

A trigram model with improved Kneser-Ney smoothing over the training sentences (the
held-out ones, which every test split is spoken from, are left out), estimated by IRSTLM
(`apt-get install irstlm`), written as the `language_model/` folder Hugging Face repos
use: lm.arpa.gz, unigrams.txt and attrs.json (pyctcdecode's alpha and beta).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .text import fortune_sentences, is_held_out, normalise

IRSTLM = Path("/usr/lib/irstlm")
# Chosen on the held-out voice's 150 utterances, never on the seen-voice test split
# (training/README.md step 8): flashlight lm_weight 1.5 = alpha 1.5 / ln 10, word score 1.
ALPHA = 0.651
BETA = 1.0


def lm_sentences() -> list[str]:
    """The text the LM learns from: every training sentence, normalised, none held out."""
    return [normalise(s) for s in fortune_sentences() if not is_held_out(s)]


def build(out: Path, order: int = 3) -> None:
    if not (IRSTLM / "bin" / "build-lm.sh").exists():
        raise SystemExit("IRSTLM is not installed: apt-get install irstlm")
    sentences = lm_sentences()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "text").write_text("".join(f"<s> {s} </s>\n" for s in sentences))
        env = {
            **os.environ,
            "IRSTLM": str(IRSTLM),
            "PATH": f"{IRSTLM / 'bin'}:{os.environ['PATH']}",
        }
        run = dict(cwd=work, env=env, check=True, capture_output=True)
        subprocess.run(
            ["build-lm.sh", "-i", "text", "-n", str(order), "-o", "lm.ilm.gz", "-k", "1",
             "-s", "improved-kneser-ney", "-t", str(work / "stats")],
            **run,
        )  # fmt: skip
        subprocess.run(["compile-lm", "lm.ilm.gz", "--text=yes", "lm.arpa"], **run)
        _gzip(work / "lm.arpa", out / "lm.arpa.gz")
    words = sorted({w for s in sentences for w in s.split()})
    (out / "unigrams.txt").write_text("\n".join(words) + "\n")
    attrs = {"alpha": ALPHA, "beta": BETA, "unk_score_offset": -10.0, "score_boundary": True}
    (out / "attrs.json").write_text(json.dumps(attrs, indent=2) + "\n")
    print(f"{len(sentences)} sentences, {len(words)} words -> {out}")


def _gzip(source: Path, target: Path) -> None:
    """Compressed with mtime 0: the same text gives the same bytes."""
    with (
        source.open("rb") as plain,
        target.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as packed,
    ):
        shutil.copyfileobj(plain, packed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path, help="e.g. src/wav2text/bundled/demo-en/language_model")
    parser.add_argument("--order", type=int, default=3)
    args = parser.parse_args()
    build(args.out, args.order)


if __name__ == "__main__":
    main()
