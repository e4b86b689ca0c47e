"""Command line: arguments -> options -> library. No logic of its own."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .batch import run_batch
from .errors import Wav2TextError
from .options import (
    DEFAULT_CHUNK_LENGTH_S,
    DEFAULT_STRIDE_LENGTH_S,
    DTYPES,
    OUTPUT_FORMATS,
    RAW_FORMATS,
    ModelOptions,
    OutputFormat,
    RawFormat,
    TranscribeOptions,
)
from .resolve import BUNDLED_MODEL, DEFAULT_MODEL, ENV_VAR, BundledModelWarning

EXAMPLES = """\
examples:
  wav2text transcribe talk.mp3                      text to stdout
  wav2text transcribe *.flac -f all -o out/         txt json srt vtt tsv per file
  wav2text transcribe call.raw --raw s16le --sample-rate 8000 --channels 1
  ffmpeg -i video.mkv -f wav - | wav2text transcribe -
  wav2text transcribe lecture.m4a -m facebook/wav2vec2-large-960h-lv60-self --device cuda
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wav2text",
        description="Transcribe speech in any audio or video file with a CTC model.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"wav2text {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "transcribe",
        help="transcribe files",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("inputs", nargs="+", metavar="FILE", help="audio/video files; - for stdin")
    run.add_argument(
        "-m",
        "--model",
        help=f"hub id or local directory of a CTC model, or {BUNDLED_MODEL} (the bundled demo); "
        f"default: ${ENV_VAR}, else {DEFAULT_MODEL} if cached or reachable, else the demo",
    )
    run.add_argument("--revision", help="model revision (branch, tag or commit)")
    run.add_argument("-f", "--format", default="txt", choices=[*OUTPUT_FORMATS, "all"])
    run.add_argument("-o", "--output-dir", type=Path, help="write FILE.<format> here")
    run.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    run.add_argument("--dtype", default="float32", choices=DTYPES)
    run.add_argument("--chunk-length", type=float, default=DEFAULT_CHUNK_LENGTH_S, metavar="S")
    run.add_argument("--stride-length", type=float, default=DEFAULT_STRIDE_LENGTH_S, metavar="S")
    run.add_argument(
        "--raw",
        choices=RAW_FORMATS,
        metavar="FMT",
        help=f"headerless PCM in this format: {', '.join(RAW_FORMATS)}",
    )
    run.add_argument(
        "--sample-rate",
        type=int,
        metavar="N",
        help="rate of raw input; for files, overrides the header",
    )
    run.add_argument("--channels", type=int, default=1, help="channel count of raw input")
    run.add_argument("--channel", type=int, help="keep only this channel (default: average)")
    run.add_argument("--stream", type=int, default=0, help="audio stream index in the container")
    run.add_argument("--char-timestamps", action="store_true", help="per-character times (json)")
    run.add_argument(
        "--allow-truncated",
        action="store_true",
        help="transcribe what decodes of a cut-short file instead of failing",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    formats: list[OutputFormat] = list(OUTPUT_FORMATS) if args.format == "all" else [args.format]
    if len(formats) > 1 and args.output_dir is None:
        parser.error("-f all writes several files: give an output directory with -o DIR")
    if args.raw is None and args.channels != 1:
        parser.error("--channels describes raw input: use it with --raw")
    try:
        options = TranscribeOptions(
            sample_rate=args.sample_rate,
            raw=RawFormat(args.raw, args.channels) if args.raw else None,
            stream_index=args.stream,
            channel=args.channel,
            chunk_length_s=args.chunk_length,
            stride_length_s=args.stride_length,
            char_timestamps=args.char_timestamps,
            allow_truncated=args.allow_truncated,
        )
        from transformers.utils import logging as hf_logging

        from .pipeline import Transcriber  # heavy imports after argument checks

        hf_logging.disable_progress_bar()  # one line per file is ours to print, not theirs

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BundledModelWarning)
            transcriber = Transcriber(
                ModelOptions(args.model, args.revision, args.device, args.dtype)
            )
        for warning in caught:
            print(f"wav2text: note: {warning.message}", file=sys.stderr)
    except Wav2TextError as err:
        print(f"wav2text: error: {err}", file=sys.stderr)
        return 2
    failures = run_batch(transcriber, args.inputs, options, formats, args.output_dir)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
