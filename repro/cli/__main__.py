"""`python -m repro.cli ...` (and `torchrun ... -m repro.cli train ...`) run the `repro` command."""

import sys

from repro.cli import main

sys.exit(main())
