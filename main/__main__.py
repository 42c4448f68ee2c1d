"""``python -m actgrad``: the same as the ``actgrad`` command (this folder is installed as the
``actgrad`` package itself, which holds nothing else: the code is in actgrad.core and
actgrad.cli)."""

from actgrad.cli.entry import main

main()
