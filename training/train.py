"""Train the demo model from scratch, resumably: `python -m training.train RUN --corpus DIR`.

A run directory holds checkpoint.pt (model, optimiser, progress; replaced atomically
every few minutes) and log.jsonl. Run the same command again to resume. The learning
rate follows hours of audio seen, so a resumed run continues the same schedule.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
import torch

from .augment import augment
from .features import Fbank, check_against_extractor, waveform_input
from .grow import deepen
from .model_config import config, encode, greedy_text

RATE = 16000
# checkpoints are picked on these (never on the real recordings, which only test)
TESTS = ("test-seen-voices", "test-held-out-voice", "test-room", "test-kokoro", "game-select")


class Corpus:
    def __init__(self, directory: Path, split: str) -> None:
        self.audio = np.memmap(directory / f"{split}.pcm", dtype=np.int16, mode="r")
        rows = [line.split("\t") for line in (directory / f"{split}.tsv").read_text().splitlines()]
        self.offsets = np.array([int(r[0]) for r in rows])
        self.lengths = np.array([int(r[1]) for r in rows])
        self.texts = [r[3] for r in rows]

    def samples(self, i: int) -> np.ndarray:
        start = self.offsets[i]
        return self.audio[start : start + self.lengths[i]].astype(np.float32) / 32768


class Mixture:
    """Several corpora read as one, each listed `repeat` times per epoch (a small corpus of
    another kind of voice is heard more often than its size alone would make it)."""

    def __init__(self, parts: list[tuple[Corpus, int]]) -> None:
        self.parts = [
            (corpus, i)
            for corpus, repeat in parts
            for _ in range(repeat)
            for i in range(len(corpus.texts))
        ]
        self.lengths = np.array([corpus.lengths[i] for corpus, i in self.parts])
        self.texts = [corpus.texts[i] for corpus, i in self.parts]

    def samples(self, i: int) -> np.ndarray:
        corpus, index = self.parts[i]
        return corpus.samples(index)


def batches(
    corpus: Corpus, rng: np.random.Generator, batch_seconds: float, shortest_first: bool = False
) -> list[list[int]]:
    """One epoch: shuffled, grouped by length so padding stays small.

    shortest_first orders the batches by length instead ("SortaGrad"): CTC finds its first
    alignments sooner on short utterances, which shortens the all-blank plateau.
    """
    order = rng.permutation(len(corpus.texts))
    out = []
    for pool in np.array_split(order, max(1, len(order) // 2000)):
        pool = pool[np.argsort(corpus.lengths[pool])]
        batch: list[int] = []
        for i in pool:
            if batch and (len(batch) + 1) * corpus.lengths[i] > batch_seconds * RATE:
                out.append(batch)
                batch = []
            batch.append(int(i))
        out.append(batch)
    rng.shuffle(out)  # type: ignore[arg-type]
    if shortest_first:
        out.sort(key=lambda batch: int(corpus.lengths[batch].max()))
    return out


class Inputs:
    def __init__(self, arch: str) -> None:
        self.arch = arch
        self.fbank = Fbank()

    def __call__(
        self, waves: list[np.ndarray], warps: list[float] | None = None
    ) -> dict[str, torch.Tensor]:
        warps = warps or [1.0] * len(waves)
        feats = [
            self.fbank(torch.from_numpy(w), warp)
            if self.arch == "w2v-bert"
            else waveform_input(torch.from_numpy(w))
            for w, warp in zip(waves, warps, strict=True)
        ]
        longest = max(len(f) for f in feats)
        values = torch.zeros((len(feats), longest, *feats[0].shape[1:]))
        mask = torch.zeros((len(feats), longest), dtype=torch.long)
        for row, f in enumerate(feats):
            values[row, : len(f)] = f
            mask[row, : len(f)] = 1
        key = "input_features" if self.arch == "w2v-bert" else "input_values"
        return {key: values, "attention_mask": mask}


def labels(texts: list[str]) -> torch.Tensor:
    ids = [encode(t) for t in texts]
    out = torch.full((len(ids), max(len(i) for i in ids)), -100)
    for row, i in enumerate(ids):
        out[row, : len(i)] = torch.tensor(i)
    return out


def learning_rate(hours: float, total_hours: float, peak: float, warmup_hours: float) -> float:
    if hours < warmup_hours:
        return peak * hours / warmup_hours
    progress = min(1.0, (hours - warmup_hours) / max(1e-9, total_hours - warmup_hours))
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


def greedy_texts(model: Any, inputs: Inputs, waves: list[np.ndarray]) -> list[str]:
    batch = inputs(waves)
    logits = model(**batch).logits
    frames = batch["attention_mask"].sum(-1)
    if inputs.arch == "w2v2":
        frames = model._get_feat_extract_output_lengths(frames)
    return [
        greedy_text(row[: int(n)].argmax(-1).tolist())
        for row, n in zip(logits, frames, strict=True)
    ]


def evaluate(model: Any, inputs: Inputs, corpus: Corpus, limit: int, bf16: bool) -> dict:
    model.eval()
    count = min(limit, len(corpus.texts))
    hyps: list[str] = []
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        for start in range(0, count, 16):
            idx = range(start, min(start + 16, count))
            hyps += greedy_texts(model, inputs, [corpus.samples(i) for i in idx])
    model.train()
    refs = corpus.texts[:count]
    return {"cer": jiwer.cer(refs, hyps), "wer": jiwer.wer(refs, hyps), "example": hyps[0]}


def initial_weights(path: Path) -> dict:
    """Weights to start a new run from: a run's checkpoint file, or an exported model
    directory (the shipped `src/wav2text/bundled/demo-en`, so a fresh machine can go on
    from the shipped weights without the run that made them)."""
    if not path.is_dir():
        return torch.load(path, weights_only=False)
    from transformers import AutoModelForCTC

    model = AutoModelForCTC.from_pretrained(path)
    return {"config": model.config, "model": model.state_dict()}


class Run:
    """One training run: model, optimiser and progress, saved to and resumed from RUN/."""

    def __init__(self, args: argparse.Namespace) -> None:
        from transformers import AutoModelForCTC

        self.args = args
        self.path = args.run / "checkpoint.pt"
        state = torch.load(self.path, weights_only=False) if self.path.exists() else None
        start = state or (initial_weights(args.init) if args.init else None)
        if start and not state and args.grow_layers:
            grown = deepen(start["config"], start["model"], args.grow_layers)
            start["config"], start["model"] = grown
        self.config = start["config"] if start else config(args.arch, args.width, args.layers)
        self.config.mask_time_prob = args.mask_time_prob
        self.model = AutoModelForCTC.from_config(self.config)
        self.optimiser = torch.optim.AdamW(
            self.model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98)
        )
        self.progress = {"hours": 0.0, "step": 0, "epoch": 0, "batch": 0, "seed": args.seed}
        if start:
            self.model.load_state_dict(start["model"])
        if state:
            self.optimiser.load_state_dict(state["optimiser"])
            self.progress = state["progress"]
        bert = self.config.model_type == "wav2vec2-bert"
        if args.vtlp and not bert:
            raise SystemExit("--vtlp warps log-mel features: it needs --arch w2v-bert")
        self.inputs = Inputs("w2v-bert" if bert else "w2v2")
        self.model.train()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        torch.save(
            {
                "model": self.model.state_dict(),
                "optimiser": self.optimiser.state_dict(),
                "progress": self.progress,
                "config": self.config,
                "args": vars(self.args),
            },
            tmp,
        )
        os.replace(tmp, self.path)

    def step(self, corpus: Corpus, batch: list[int], index: int) -> float:
        args, progress = self.args, self.progress
        rng = np.random.default_rng([progress["seed"], progress["epoch"], index])
        share = min(1.0, progress["hours"] / args.clean_hours) if args.clean_hours else 1.0
        share = 0.0 if args.no_augment else share
        waves = [
            augment(corpus.samples(i), rng) if rng.random() < share else corpus.samples(i)
            for i in batch
        ]
        warps = None  # (no draws without --vtlp: older runs resume on the same random stream)
        if args.vtlp and not args.no_augment:
            low, high = args.vtlp
            warps = [
                rng.uniform(low, high) if rng.random() < args.vtlp_share else 1.0 for _ in batch
            ]
        lr = learning_rate(progress["hours"], args.hours, args.lr, args.warmup_hours)
        for group in self.optimiser.param_groups:
            group["lr"] = lr
        with torch.autocast("cpu", torch.bfloat16, enabled=args.bf16):
            loss = self.model(
                **self.inputs(waves, warps), labels=labels([corpus.texts[i] for i in batch])
            ).loss
        self.optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.optimiser.step()
        progress["hours"] += sum(len(w) for w in waves) / RATE / 3600
        progress["step"] += 1
        progress["batch"] = index + 1
        return float(loss.item())


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    check_against_extractor()
    args.run.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(args.corpus, "train")
    if args.subset:  # a debugging aid: can the model learn a handful of utterances by heart?
        corpus.texts = corpus.texts[: args.subset]
    if args.mix:
        extra = [(Corpus(args.corpus, split), int(repeat)) for split, repeat in args.mix]
        corpus = Mixture([(corpus, 1), *extra])  # type: ignore[assignment]
    tests = {s: Corpus(args.corpus, s) for s in TESTS if (args.corpus / f"{s}.tsv").exists()}
    run = Run(args)
    progress = run.progress
    print(
        f"{sum(p.numel() for p in run.model.parameters()) / 1e6:.2f} M parameters, "
        f"at {progress['hours']:.2f} h of audio seen",
        flush=True,
    )
    log = (args.run / "log.jsonl").open("a")

    def write(record: dict) -> None:
        log.write(
            json.dumps({"step": progress["step"], "hours": round(progress["hours"], 3), **record})
            + "\n"
        )
        log.flush()

    def run_tests(limit: int, **extra: object) -> None:
        for name, test in tests.items():
            write(
                {"eval": name, **extra, **evaluate(run.model, run.inputs, test, limit, args.bf16)}
            )

    started = last_save = last_eval = time.time()
    stop = []  # SIGTERM/SIGINT: finish the step, save, then exit
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.append(True))

    def finished() -> bool:
        late = time.time() - started > args.minutes * 60
        return bool(stop) or late or progress["hours"] >= args.hours

    while not finished():
        rng = np.random.default_rng([progress["seed"], progress["epoch"]])
        epoch = batches(corpus, rng, args.batch_seconds, args.sortagrad and progress["epoch"] == 0)
        for index in range(progress["batch"], len(epoch)):
            loss = run.step(corpus, epoch[index], index)
            if progress["step"] % 20 == 0:
                write({"loss": round(loss, 4), "minutes": round((time.time() - started) / 60, 2)})
            if time.time() - last_eval > args.eval_minutes * 60:
                run_tests(args.eval_utterances)
                last_eval = time.time()
            if time.time() - last_save > args.save_minutes * 60:
                run.save()
                last_save = time.time()
            if finished():
                break
        else:
            progress["epoch"] += 1
            progress["batch"] = 0
    run.save()
    if not stop:
        run_tests(10**9, final=True)


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument(
        "--init",
        type=Path,
        help="a new run starts from these weights (fresh optimiser and schedule): "
        "a checkpoint file or an exported model directory",
    )
    parser.add_argument(
        "--grow-layers",
        type=int,
        help="a new run from --init first deepens the model to this many blocks (training/grow.py)",
    )
    parser.add_argument("--arch", choices=("w2v-bert", "w2v2"), default="w2v-bert")
    parser.add_argument("--width", type=int, default=144)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument(
        "--hours", type=float, default=60.0, help="audio hours in the whole schedule"
    )
    parser.add_argument("--minutes", type=float, default=1e9, help="stop this invocation after")
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--warmup-hours", type=float, default=1.5)
    parser.add_argument("--batch-seconds", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument(
        "--clean-hours",
        type=float,
        default=0.0,
        help="augment a growing share of utterances over the first H hours",
    )
    parser.add_argument(
        "--sortagrad", action="store_true", help="shortest batches first in epoch 0"
    )
    parser.add_argument("--subset", type=int, default=0)
    parser.add_argument(
        "--mix",
        nargs=2,
        action="append",
        metavar=("SPLIT", "REPEAT"),
        help="also train on the corpus's SPLIT, heard REPEAT times per epoch",
    )
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument(
        "--vtlp",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="vocal tract length perturbation: warp factors drawn from [LOW, HIGH]",
    )
    parser.add_argument("--vtlp-share", type=float, default=0.5, help="of utterances warped")
    parser.add_argument("--mask-time-prob", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-minutes", type=float, default=10.0)
    parser.add_argument("--eval-utterances", type=int, default=64)
    parser.add_argument("--save-minutes", type=float, default=3.0)
    return parser


def main() -> None:
    train(arguments().parse_args())


if __name__ == "__main__":
    main()
