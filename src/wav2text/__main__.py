"""`python -m wav2text` is the wav2text command."""

from .cli import run

run()
