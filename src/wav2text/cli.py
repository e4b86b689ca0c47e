"""Command line: arguments -> options -> library. No logic of its own."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .arguments import SERVER_LIMITS, build_parser
from .batch import (
    Interrupted,
    batch_workers,
    check_output_dir,
    emit,
    expand_inputs,
    planned_outputs,
    run_batch,
)
from .errors import OptionsError, Wav2TextError, about, reason
from .options import (
    ModelOptions,
    RawFormat,
    ServerLimits,
    TranscribeOptions,
)
from .resolve import BundledModelWarning, resolve_model
from .writers import ALL_FORMATS, CueLayout

if TYPE_CHECKING:
    from .pipeline import Transcriber


def _model_options(args: argparse.Namespace) -> ModelOptions:
    given = vars(args)  # align decodes no text: it has no language model arguments
    return ModelOptions(
        args.model,
        args.revision,
        args.device,
        args.dtype,
        args.quantize,
        args.threads,
        args.language,
        runtime=args.runtime,
        lm=given.get("lm"),
        beam_size=given.get("beam_size", 100),
        lm_alpha=given.get("lm_alpha"),
        lm_beta=given.get("lm_beta"),
    )


def _options(args: argparse.Namespace, **more: object) -> TranscribeOptions:
    return TranscribeOptions(
        sample_rate=args.sample_rate,
        raw=RawFormat(args.raw, args.channels) if args.raw else None,
        stream_index=args.stream,
        channel=args.channel,
        allow_truncated=args.allow_truncated,
        open_timeout_s=args.open_timeout,
        rate_confidence=args.rate_confidence,
        **_hotwords(args),
        **more,  # type: ignore[arg-type]
    )


def _hotwords(args: argparse.Namespace) -> dict[str, Any]:
    """--hotword (repeated) and --hotwords-file, one per line, as TranscribeOptions takes
    them (commands without an LM have none)."""
    given = vars(args)
    hotwords = list(given.get("hotword") or [])
    if given.get("hotwords_file"):
        path: Path = given["hotwords_file"]
        try:
            lines = path.read_text("utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise OptionsError(f"--hotwords-file {path}: cannot be read ({err})") from err
        hotwords += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not hotwords:
        return {}
    return {"hotwords": tuple(hotwords), "hotword_weight": given["hotword_weight"]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "eval":
        return _eval(args)
    if args.raw is None and args.channels is not None:
        parser.error("--channels describes raw input: use it with --raw")
    if args.command == "inspect":
        return _inspect(args)
    formats: list[str] = args.format
    if len(formats) > 1 and args.output_dir is None:
        given = "all" if formats == list(ALL_FORMATS) else ",".join(formats)
        parser.error(f"-f {given} writes several files: give an output directory with -o DIR")
    if args.command == "align":
        return _align(args, formats)
    if args.ray is not None and args.output_dir is None:
        parser.error("--ray writes each file's outputs as they come: give a directory with -o DIR")
    if args.strict_rate and args.check_rate is False:
        parser.error("--strict-rate checks the declared rate: leave out --no-check-rate")
    if args.skip_existing and args.output_dir is None:
        parser.error("--skip-existing looks for earlier outputs: give their directory with -o DIR")
    try:
        inputs, stems = expand_inputs(
            [*args.inputs, *(f"@{f}" for f in args.list or [])], args.glob
        )
        if not inputs:
            parser.error("give the inputs: files, directories, @LIST files, or - for stdin")
        layout = CueLayout(args.max_line_width, args.max_line_count)
        if args.output_dir is not None:
            planned_outputs(inputs, args.output_dir, formats, stems)  # fail before loading
            check_output_dir(args.output_dir)
        options = _options(
            args,
            segmentation=args.segmentation,
            max_segment_s=args.max_segment,
            batch_size=args.batch_size,
            chunk_length_s=args.chunk_length,
            stride_length_s=args.stride_length,
            char_timestamps=args.char_timestamps,
            check_rate="strict" if args.strict_rate else args.check_rate,
            channels="split" if args.split_channels else "mix",
            progress=_seconds_bar() if len(inputs) == 1 and sys.stderr.isatty() else None,
        )
        model = _model_options(args)
        if args.ray is not None:
            return _on_ray(args, model, options, formats, (inputs, stems))
        transcriber = _transcriber(model)
        transcriber.decode(options)  # hotwords the model cannot take: said before any input
    except Wav2TextError as err:
        print(f"wav2text: error: {reason(err, 'cli')}", file=sys.stderr)
        return 2
    try:
        failures = run_batch(
            transcriber,
            inputs,
            options,
            formats,
            args.output_dir,
            skip_existing=args.skip_existing,
            stems=stems,
            layout=layout,
            workers=args.workers or batch_workers(inputs, transcriber.model),
        )
    except Interrupted as stopped:
        print(f"wav2text: {stopped}", file=sys.stderr)
        return INTERRUPTED
    return 1 if failures else 0


INTERRUPTED = 130  # the shell's status for a command stopped by Ctrl-C


def _seconds_bar() -> Callable[[float, float | None], None]:
    """A progress bar over audio seconds, for one long file (several get a bar of files)."""
    from tqdm import tqdm

    bar = tqdm(
        unit="s", file=sys.stderr, leave=False, bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} s"
    )

    def progress(done: float, total: float | None) -> None:
        if total and bar.total != round(total):
            bar.total = round(total)
        bar.update(done - bar.n)

    return progress


def _show_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    """A warning raised while the command runs, as one line that says what it is."""
    print(f"wav2text: warning: {message}", file=sys.stderr)


def run() -> None:
    """The console entry point: main(), and on Ctrl-C an exit that skips the interpreter's
    teardown (native extensions report leaks there: noise after the one line said)."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM as Ctrl-C
    warnings.showwarning = _show_warning
    try:
        code = main()
    except KeyboardInterrupt:  # before or after a batch: loading, arguments
        print("wav2text: interrupted", file=sys.stderr)
        code = INTERRUPTED
    if code == INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _align(args: argparse.Namespace, formats: list[str]) -> int:
    if args.audio == "-" and args.text == "-":
        print("wav2text: error: AUDIO and TEXT cannot both be stdin", file=sys.stderr)
        return 2
    try:
        text = sys.stdin.read() if args.text == "-" else Path(args.text).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        print(f"wav2text: error: cannot read the text {args.text}: {err}", file=sys.stderr)
        return 2
    try:
        layout = CueLayout(args.max_line_width, args.max_line_count)
        transcriber = _transcriber(_model_options(args))
        options = _options(args)
    except Wav2TextError as err:  # a model that will not load, bad options: as transcribe
        print(f"wav2text: error: {reason(err, 'cli')}", file=sys.stderr)
        return 2
    try:
        source = sys.stdin.buffer if args.audio == "-" else args.audio
        transcript = transcriber.align(source, text, options)
    except Wav2TextError as err:  # this audio or this text
        print(f"wav2text: error: {reason(err, 'cli')}", file=sys.stderr)
        return 1
    for warning in transcript.warnings:
        print(f"wav2text: warning: {warning}", file=sys.stderr)
    emit(transcript, args.audio, formats, args.output_dir, sys.stdout, layout=layout)
    return 0


def _eval(args: argparse.Namespace) -> int:
    try:
        import jiwer  # noqa: F401

        from .evaluate import FileScore, Normalisation, evaluate, markdown, read_manifest
    except ImportError as err:
        print(f"wav2text: error: eval needs jiwer ({err.name} is missing): "
              "pip install 'wav2text[eval]'", file=sys.stderr)  # fmt: skip
        return 2
    from tqdm import tqdm

    try:
        items = read_manifest(args.manifest)
        normalise = Normalisation(args.keep_case, args.keep_punctuation)
        options = TranscribeOptions(segmentation=args.segmentation, **_hotwords(args))
        results = []
        for name in args.model or [None]:
            one = argparse.Namespace(**{**vars(args), "model": name})
            transcriber = _transcriber(_model_options(one))
            with tqdm(total=len(items), unit="file", file=sys.stderr, leave=False) as bar:

                def step(score: FileScore) -> None:
                    bar.update()
                    if score.error:
                        said = about(score.audio, score.error, "cli")
                        bar.write(f"wav2text: {said}", file=sys.stderr)

                results.append(evaluate(transcriber, items, options, normalise, step))
    except Wav2TextError as err:
        print(f"wav2text: error: {reason(err, 'cli')}", file=sys.stderr)
        return 2
    report = markdown(results)
    print(report, end="")
    if args.markdown:
        args.markdown.write_text(report, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in results], indent=2) + "\n")
    return 0


def _on_ray(
    args: argparse.Namespace,
    model: ModelOptions,
    options: TranscribeOptions,
    formats: list[str],
    expanded: tuple[list[str], dict[str, str]],
) -> int:
    try:
        from .cluster import RayOptions, run_on_ray
    except ImportError as err:
        print(
            f"wav2text: error: --ray needs the ray extra ({err.name} is missing): "
            "pip install 'wav2text[ray]'",
            file=sys.stderr,
        )
        return 2
    choice = resolve_model(model.model, model.revision)  # the notice before the run
    if choice.notice:
        print(f"wav2text: note: {choice.notice}", file=sys.stderr)
    inputs, stems = expanded
    failures = run_on_ray(
        replace(model, model=choice.name),
        inputs,
        options,
        formats,
        args.output_dir,
        RayOptions(args.ray or None, args.workers),
        skip_existing=args.skip_existing,
        stems=stems,
        layout=CueLayout(args.max_line_width, args.max_line_count),
    )
    return 1 if failures else 0


def _serve(args: argparse.Namespace) -> int:
    if args.ray is not None:
        return _serve_on_ray(args)
    try:
        from .cores import (
            suggested_workers,
            threads_per_worker,
            torch_threads,
            usable_cores,
        )
        from .serving.jobstore import JobStore
        from .serving.processes import can_fork
        from .serving.server import serve
    except ImportError as err:
        return _missing_extra("serve", "server", err)
    try:
        limits = _server_limits(args)
        options = TranscribeOptions(segmentation=args.segmentation, **_hotwords(args))
        transcriber = _transcriber(_model_options(args))
        transcriber.decode(options)  # the server's own hotwords: refused before it starts
        jobs = None if args.no_jobs else JobStore(args.jobs_dir, limits.job_ttl_s)
        workers = args.workers or suggested_workers(transcriber.model)
        replicas = [_transcriber(_model_options(args), say=False) for _ in range(workers - 1)]
    except Wav2TextError as err:
        print(f"wav2text: error: {reason(err, 'cli')}", file=sys.stderr)
        return 2
    threads = args.threads or threads_per_worker(workers)
    torch_threads(threads)
    fork = can_fork([transcriber, *replicas], threads)
    why = (
        "as --workers asks"
        if args.workers
        else f"chosen for {usable_cores()} cores and the model's size"
    )
    print(
        f"wav2text: serving {transcriber.model.name} with {workers} worker(s)"
        f"{' (processes)' if fork else ''}, {threads} thread(s) each ({why}; --workers N to "
        "change)",
        file=sys.stderr,
    )
    keys = _api_keys(args.api_key)
    if not keys and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"wav2text: warning: serving on {args.host} without an API key: anyone who can "
            "reach it can use it; add --api-key KEY (or $WAV2TEXT_API_KEY)",
            file=sys.stderr,
        )
    serve(transcriber, options, args.host, args.port, limits, keys, replicas, jobs, fork)
    return 0


def _serve_on_ray(args: argparse.Namespace) -> int:
    """serve --ray: replicas on Ray Serve, each loading the model itself."""
    try:
        from .serving.replicas import serve_on_ray
    except ImportError as err:
        return _missing_extra("serve --ray", "ray-serve", err)
    try:
        limits = _server_limits(args)
        options = TranscribeOptions(segmentation=args.segmentation, **_hotwords(args))
        print(f"wav2text: serving {args.replicas} replica(s) on Ray Serve", file=sys.stderr)
        serve_on_ray(args.ray or None, args.host, args.port, model=_model_options(args),
                     options=options, limits=limits, api_keys=_api_keys(args.api_key),
                     replicas=args.replicas)  # fmt: skip
    except Wav2TextError as err:
        print(f"wav2text: error: {reason(err, 'cli')}", file=sys.stderr)
        return 2
    return 0


def _missing_extra(command: str, extra: str, err: ImportError) -> int:
    print(
        f"wav2text: error: {command} needs the {extra} extra ({err.name} is missing): "
        f"pip install 'wav2text[{extra}]'",
        file=sys.stderr,
    )
    return 2


def _server_limits(args: argparse.Namespace) -> ServerLimits:
    given = {field: getattr(args, flag[2:].replace("-", "_")) for flag, field, *_ in SERVER_LIMITS}
    return ServerLimits(args.max_upload_mb or None, args.max_waiting, **given)


def _api_keys(given: list[str] | None) -> tuple[str, ...]:
    from_env = os.environ.get("WAV2TEXT_API_KEY", "").split(",")
    return tuple(k.strip() for k in [*(given or []), *from_env] if k.strip())


def _transcriber(options: ModelOptions, say: bool = True) -> Transcriber:
    """The model loaded, its notes and warnings printed (unless `say` is off: a replica's
    are the first copy's)."""
    from transformers.utils import logging as hf_logging

    from .pipeline import Transcriber  # heavy imports after argument checks

    hf_logging.disable_progress_bar()  # one line per file is ours to print, not theirs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BundledModelWarning)
        transcriber = Transcriber(options)
    for warning in caught if say else ():
        kind = "note" if issubclass(warning.category, BundledModelWarning) else "warning"
        print(f"wav2text: {kind}: {warning.message}", file=sys.stderr)
    return transcriber


def _inspect(args: argparse.Namespace) -> int:
    from .analysis import analyse, describe

    failures = 0
    model = None
    if args.check_rate:
        try:
            model = _transcriber(ModelOptions(args.model, lm=None)).model  # no decoding
        except Wav2TextError as err:
            print(f"wav2text: error: {reason(err, 'cli')}", file=sys.stderr)
            return 2
    for name in args.inputs:
        try:
            source = sys.stdin.buffer if name == "-" else name
            result = analyse(source, _options(args), args.model_rate, model)
        except Wav2TextError as err:
            print(f"wav2text: {about(name, err, 'cli')}", file=sys.stderr)
            failures += 1
            continue
        if args.json:
            print(json.dumps({"file": name, **result.to_dict()}))
        else:
            print(f"{name}\n{describe(result)}")
    return 1 if failures else 0


if __name__ == "__main__":
    run()
