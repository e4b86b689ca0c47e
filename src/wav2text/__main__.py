"""`python -m wav2text` is the wav2text command."""

import sys

from .cli import main

sys.exit(main())
