"""The command line's arguments: every subcommand and option, parsed and checked here."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from . import __version__
from .errors import InvalidSampleRateError
from .lm import lm_argument
from .options import (
    DEFAULT_CHUNK_LENGTH_S,
    DEFAULT_STRIDE_LENGTH_S,
    DTYPES,
    HOTWORD_WEIGHT,
    HOTWORD_WEIGHT_WITHOUT_LM,
    RAW_FORMATS,
    RUNTIMES,
    SEGMENTATIONS,
    ServerLimits,
)
from .rate import RATE_CONFIDENCE, parse_rate
from .resolve import BUNDLED_MODEL, DEFAULT_MODEL, ENV_VAR
from .writers import ALL_FORMATS, WRITERS

EXAMPLES = """\
examples:
  wav2text transcribe talk.mp3                      text to stdout
  wav2text transcribe *.flac -f all -o out/         txt json srt vtt tsv per file
  wav2text transcribe *.flac -o out/ --skip-existing  resume: skip inputs already done
  wav2text transcribe call.raw --raw s16le --sample-rate 8000 --channels 1
  ffmpeg -i video.mkv -f wav - | wav2text transcribe -
  wav2text transcribe lecture.m4a -m facebook/wav2vec2-large-960h-lv60-self --device cuda
  wav2text inspect call.wav                         levels, bandwidth, what transcribe does
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
    _add_transcribe_parser(commands)
    _add_inspect_parser(commands)
    _add_align_parser(commands)
    _add_eval_parser(commands)
    _add_serve_parser(commands)
    return parser


def _add_transcribe_parser(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "transcribe",
        help="transcribe files",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "inputs",
        nargs="*",
        metavar="FILE",
        help="audio/video files, directories (searched below), @LIST files (one input a "
        "line); - for stdin",
    )
    run.add_argument(
        "--inputs",
        dest="list",
        action="append",
        metavar="LIST",
        help="a file listing inputs, one a line (as @LIST)",
    )
    run.add_argument(
        "--glob",
        metavar="PATTERN",
        help="in directories, take the files matching this (e.g. '*.flac'; default: audio "
        "and video by suffix)",
    )
    _add_model_arguments(run)
    _add_output_arguments(run)
    run.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run on a Ray cluster (default: $RAY_ADDRESS, else a local one); needs -o DIR",
    )
    run.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="processes running the model, this one included (forked with the model loaded "
        "where the OS can; with --ray: Ray workers); default: this one and one per core for "
        "2+ files (where workers must load their own model: 4+ files and 10+ MB), else one",
    )
    run.add_argument(
        "--skip-existing",
        action="store_true",
        help="with -o: leave out inputs whose outputs are all there (resume a stopped run)",
    )
    run.add_argument(
        "--segmentation",
        default="vad",
        choices=SEGMENTATIONS,
        help="vad (default): only speech reaches the model, cut at pauses; "
        "window: every strided window (--chunk-length/--stride-length)",
    )
    run.add_argument(
        "--max-segment",
        type=float,
        metavar="S",
        help="longest speech segment with vad (default: the model's window length)",
    )
    run.add_argument(
        "--batch-size",
        type=int,
        default=1,
        metavar="N",
        help="segments per forward pass, similar lengths grouped (results unchanged; "
        "helps most on GPU)",
    )
    run.add_argument(
        "--chunk-length",
        type=float,
        metavar="S",
        help=f"model window (default: the model's choice, else {DEFAULT_CHUNK_LENGTH_S:.0f})",
    )
    run.add_argument(
        "--stride-length",
        type=float,
        metavar="S",
        help=f"context each side (default: the model's, else {DEFAULT_STRIDE_LENGTH_S:.0f})",
    )
    run.add_argument("--char-timestamps", action="store_true", help="per-character times (json)")
    run.add_argument(
        "--check-rate",
        action=argparse.BooleanOptionalAction,
        help="warn when a declared rate does not fit the speech, tested against the standard "
        "rates (default: the --sample-rate given for --raw PCM; --check-rate: headers too; "
        "--no-check-rate: none)",
    )
    run.add_argument(
        "--strict-rate",
        action="store_true",
        help="refuse an input whose declared rate the speech clearly does not fit, instead of "
        "warning (checks headers too, as --check-rate)",
    )
    run.add_argument(
        "--split-channels",
        action="store_true",
        help="one transcript per channel (a speaker each: calls, interviews), merged in time "
        "order with each word's channel; identical channels transcribed once",
    )
    _add_input_arguments(run)


def _add_inspect_parser(commands: argparse._SubParsersAction) -> None:
    look = commands.add_parser(
        "inspect",
        help="what a file holds and what transcribe would do with it",
        description="Container, codec, rate, channels, levels, clipping, DC offset, silence, "
        "effective bandwidth, identical channels, and the steps to the model's input.",
    )
    look.add_argument("inputs", nargs="+", metavar="FILE", help="audio/video files; - for stdin")
    look.add_argument("--json", action="store_true", help="one JSON object per line")
    look.add_argument(
        "--model-rate", type=int, default=16000, metavar="N", help="the model's rate (16000)"
    )
    look.add_argument(
        "--check-rate",
        action="store_true",
        help="ask a model whether the header's rate fits the content (loads --model)",
    )
    look.add_argument("-m", "--model", help="model for --check-rate (default as transcribe)")
    _add_input_arguments(look)


def _add_eval_parser(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser(
        "eval",
        help="WER, CER and speed of models on your own recordings",
        description="Transcribe the files a manifest lists (TSV/CSV/JSONL with audio and "
        "reference columns, or a folder of NAME.wav + NAME.txt) with each model and score "
        "them: WER and CER (jiwer) after normalising case and punctuation, x real time, the "
        "worst files, the most frequent confusions. Needs pip install 'wav2text[eval]'.",
    )
    evaluate.add_argument("manifest", metavar="MANIFEST", type=Path, help="manifest file or folder")
    evaluate.add_argument(
        "-m",
        "--model",
        action="append",
        help="a model to score (repeat for several, side by side); default as transcribe",
    )
    _add_model_arguments(evaluate, with_model=False)
    evaluate.add_argument("--segmentation", default="vad", choices=SEGMENTATIONS)
    evaluate.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    evaluate.add_argument("--markdown", type=Path, metavar="FILE", help="also write it as Markdown")
    evaluate.add_argument("--keep-case", action="store_true", help="score case differences too")
    evaluate.add_argument("--keep-punctuation", action="store_true", help="score punctuation too")


def _add_align_parser(commands: argparse._SubParsersAction) -> None:
    align = commands.add_parser(
        "align",
        help="place a known transcript's words in time (forced alignment)",
        description="Each word of TEXT, the transcript of AUDIO, with its start, end and "
        "alignment score, by CTC forced alignment over the model's frames. Words the audio "
        "hardly holds, words the model cannot spell and speech the text leaves out are "
        "reported on stderr.",
    )
    align.add_argument("audio", metavar="AUDIO", help="audio/video file; - for stdin")
    align.add_argument(
        "text", metavar="TEXT", help="its transcript, a UTF-8 text file; - for stdin"
    )
    _add_model_arguments(align, with_lm=False)
    _add_output_arguments(align)
    _add_input_arguments(align)


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--format",
        type=_formats,
        default=["txt"],
        metavar="FMT[,FMT]",
        help=f"{', '.join(WRITERS)}, or several joined by commas, or all "
        f"({', '.join(ALL_FORMATS)}); default txt",
    )
    parser.add_argument("-o", "--output-dir", type=Path, help="write FILE.<format> here")
    parser.add_argument(
        "--max-line-width",
        type=int,
        metavar="N",
        help="srt/vtt: at most N characters a line, cues split at words (e.g. 42)",
    )
    parser.add_argument(
        "--max-line-count",
        type=int,
        metavar="N",
        help="srt/vtt: at most N lines a cue (e.g. 2)",
    )


def _add_model_arguments(
    parser: argparse.ArgumentParser, with_lm: bool = True, with_model: bool = True
) -> None:
    if with_model:
        parser.add_argument(
            "-m",
            "--model",
            help=f"hub id or local directory of a CTC model, or {BUNDLED_MODEL} (the bundled "
            f"demo); default: ${ENV_VAR}, else {DEFAULT_MODEL} if cached or reachable, else "
            "the demo",
        )
    parser.add_argument("--revision", help="model revision (branch, tag or commit)")
    parser.add_argument(
        "--language",
        metavar="CODE",
        help="language of a multilingual adapter model, e.g. fra or fr for facebook/mms-1b-all "
        "(serve: the default for requests that name none)",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--dtype", default="float32", choices=DTYPES)
    parser.add_argument(
        "--quantize", choices=["int8"], help="dynamic int8 linear layers (CPU, float32)"
    )
    parser.add_argument(
        "--threads", type=int, metavar="N", help="CPU threads for the model (default: all)"
    )
    parser.add_argument(
        "--runtime",
        default="torch",
        choices=RUNTIMES,
        help="run the model in eager PyTorch (default), or exported once (cached) to ONNX "
        "Runtime or OpenVINO on CPU",
    )
    if not with_lm:
        return
    parser.add_argument(
        "--lm",
        type=lm_argument,
        default="auto",
        metavar="PATH",
        help="word n-gram language model for beam search: a language_model/ folder or an ARPA "
        "file; auto (default): the model's own, if it ships one; none: greedy decoding",
    )
    parser.add_argument("--beam-size", type=int, default=100, metavar="N", help="default 100")
    parser.add_argument(
        "--lm-alpha", type=float, metavar="A", help="LM weight (default: the LM's attrs.json)"
    )
    parser.add_argument(
        "--lm-beta", type=float, metavar="B", help="score per word (default: the LM's attrs.json)"
    )
    parser.add_argument(
        "--hotword",
        action="append",
        metavar="WORD[:WEIGHT]",
        help="a word or phrase the audio holds (a name, a term): the beam search favours it, "
        "and spells it even if the LM does not know it (repeat for more; in quotes for a "
        "phrase; :WEIGHT its own weight)",
    )
    parser.add_argument(
        "--hotwords-file", type=Path, metavar="FILE", help="hotwords one per line, as --hotword"
    )
    parser.add_argument(
        "--hotword-weight",
        type=float,
        metavar="W",
        help=f"each hotword word's bonus where it ends, natural log (default {HOTWORD_WEIGHT:g} "
        f"with the model's LM, {HOTWORD_WEIGHT_WITHOUT_LM:g} without one): higher wins against "
        "more acoustic evidence, and inserts it more readily where it was not said",
    )


def _add_serve_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="an OpenAI-compatible HTTP API (POST /v1/audio/transcriptions)",
        description="Load the model once and answer OpenAI-style transcription requests. "
        "Needs the server extra: pip install 'wav2text[server]'.",
    )
    _add_model_arguments(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    serve.add_argument("--segmentation", default="vad", choices=SEGMENTATIONS)
    serve.add_argument(
        "--max-upload-mb",
        type=float,
        default=ServerLimits.max_upload_mb,
        help="refuse larger uploads with 413 (%(default)g; 0: no limit)",
    )
    serve.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="model replicas serving requests and live streams side by side (default: one "
        "per CPU core, as memory allows; one on a GPU), each with cores/N threads; on Linux "
        "with one thread each, file requests run in a forked process per replica",
    )
    serve.add_argument(
        "--max-waiting",
        type=int,
        default=ServerLimits.max_waiting,
        help="requests that may wait for the model; more get 503 (%(default)s)",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        metavar="KEY",
        help="require Authorization: Bearer KEY (repeat for several; also $WAV2TEXT_API_KEY, "
        "comma-separated); /health and the page stay open",
    )
    serve.add_argument(
        "--jobs-dir",
        type=Path,
        default=default_jobs_dir(),
        metavar="DIR",
        help="where /v1/jobs keeps its jobs, their uploads and results (SQLite; kept across "
        "restarts; default %(default)s)",
    )
    serve.add_argument("--no-jobs", action="store_true", help="serve without /v1/jobs")
    serve.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="serve replicas on a Ray cluster with Ray Serve (default: $RAY_ADDRESS, else a "
        "local one); the same API without jobs; needs the ray-serve extra",
    )
    serve.add_argument(
        "--replicas", type=_positive_int, default=2, metavar="N",
        help="with --ray: copies of the server, each with its own model (%(default)s)",
    )  # fmt: skip
    for flag, field, kind, metavar, said in SERVER_LIMITS:
        default = getattr(ServerLimits, field)
        serve.add_argument(flag, type=kind, default=default, metavar=metavar, help=said)


def default_jobs_dir() -> Path:
    """$XDG_STATE_HOME/wav2text/jobs, else ~/.local/state/wav2text/jobs."""
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "wav2text" / "jobs"


SERVER_LIMITS = [  # flag, ServerLimits field, type, metavar, help
    ("--max-audio-s", "max_audio_s", float, "S",
     "refuse a request's audio past this many seconds, by its header or as it decodes, "
     "with 413 (%(default)g)"),
    ("--max-request-s", "max_request_s", float, "S",
     "stop a transcription that takes longer, with 503 (%(default)g)"),
    ("--headers-timeout", "headers_timeout_s", float, "S",
     "close a connection whose request headers take longer (%(default)g s)"),
    ("--body-timeout", "body_timeout_s", float, "S",
     f"408 for a body that stalls this long or, after it, averages under "
     f"{ServerLimits.min_body_rate:g} bytes/s (%(default)g s)"),
    ("--max-connections", "max_connections", int, "N",
     "open connections at once; more are answered 503 (%(default)s)"),
    ("--max-streams", "max_streams", int, "N",
     "live WebSocket streams at once; one more is refused (%(default)s)"),
    ("--stream-idle", "stream_idle_s", float, "S",
     "close a live stream that sends no audio this long (%(default)g s)"),
    ("--stream-max", "stream_max_s", float, "S",
     "the most audio one live stream may send (%(default)g s)"),
    ("--drain-s", "drain_s", float, "S",
     "on SIGTERM, stop accepting and give requests in flight and live streams this long "
     "to finish (%(default)g s)"),
    ("--job-ttl-s", "job_ttl_s", float, "S",
     "forget a finished job and its results this long after it finished (%(default)g s)"),
]  # fmt: skip


def _add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--raw",
        choices=[*RAW_FORMATS, "auto"],
        metavar="FMT",
        help=f"headerless PCM in this format: {', '.join(RAW_FORMATS)}; auto: detect it",
    )
    parser.add_argument(
        "--sample-rate",
        type=_rate,
        metavar="N|auto",
        help="rate of raw input; for files, overrides the header; auto: estimate it",
    )
    parser.add_argument(
        "--rate-confidence",
        type=float,
        default=RATE_CONFIDENCE,
        metavar="P",
        help=f"how sure --sample-rate auto must be to answer (default {RATE_CONFIDENCE})",
    )
    parser.add_argument(
        "--channels",
        type=int,
        metavar="C",
        help="channel count of raw input (default: 1; with --raw auto, told from the bytes)",
    )
    parser.add_argument("--channel", type=int, help="keep only this channel (default: average)")
    parser.add_argument("--stream", type=int, default=0, help="audio stream index")
    parser.add_argument(
        "--allow-truncated",
        action="store_true",
        help="use what decodes of a cut-short file instead of failing",
    )
    parser.add_argument(
        "--open-timeout",
        type=float,
        metavar="S",
        help="give up on a FIFO (named pipe) that no program writes to within S seconds "
        "(default: wait as long as it takes)",
    )


def _formats(text: str) -> list[str]:
    """-f txt | -f srt,json | -f all: the formats, each once, in the order given."""
    names = list(ALL_FORMATS) if text == "all" else text.split(",")
    unknown = [name for name in names if name not in WRITERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown format {','.join(unknown) or text!r}; use {', '.join(WRITERS)}, "
            "several joined by commas (srt,json), or all"
        )
    return list(dict.fromkeys(names))


def _rate(text: str) -> int | str:
    """--sample-rate: the one reading of a rate from text (wav2text.rate.parse_rate)."""
    try:
        return parse_rate(text)
    except InvalidSampleRateError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _positive_int(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number of 1 or more, not {text!r}")
    return int(text)
