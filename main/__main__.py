"""``python -m actgrad``: the same as the ``actgrad`` command (this folder is installed as the
``actgrad`` package itself: its version and the Python API; the code is in actgrad.core and
actgrad.cli)."""

import sys

if not sys.flags.safe_path:  # -m put the working directory first: import nothing from it
    sys.path[0] = "/dev/null"  # a placeholder no import can come from (client.import_path)

from .cli.entry import main

main()
