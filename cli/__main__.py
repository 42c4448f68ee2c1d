"""``python -m actgrad.cli``: the same as the ``actgrad`` command."""

import sys

if not sys.flags.safe_path:  # -m put the working directory first: import nothing from it
    sys.path[0] = "/dev/null"  # a placeholder no import can come from (client.import_path)

from .entry import main

main()
