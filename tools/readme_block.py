"""Print a shell block of README.md by its heading, so CI runs the README's own commands.

python tools/readme_block.py "Install and run"        # the first ```sh block under it
python tools/readme_block.py "Run the tests" --index 1 # the second one
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def blocks(heading: str, text: str | None = None) -> list[str]:
    """The ```sh blocks between ``## heading`` and the next heading of level 2."""
    text = README.read_text(encoding="utf-8") if text is None else text
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    if match is None:
        raise LookupError(f"README.md has no section '## {heading}'")
    return [b.strip() for b in re.findall(r"^```sh\n(.*?)^```", match.group(1), re.M | re.S)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("heading")
    parser.add_argument("--index", type=int, default=0)
    args = parser.parse_args()
    try:
        found = blocks(args.heading)
        print(found[args.index])
    except (LookupError, IndexError):
        sys.exit(f"README.md: no sh block {args.index} under '## {args.heading}'")


if __name__ == "__main__":
    main()
