"""Run every example command of README.md and record what it prints, so a refactoring can be
shown to change no output, byte for byte.

python tools/readme_examples.py --save before.json      # record (stdout, stderr, exit code)
python tools/readme_examples.py --diff before.json      # run again; exit 1 on any difference

Every command line in a ```sh block (the install and test blocks excepted; a ```sh long block,
minutes to hours or a cluster, is shown, not run) runs in a scratch
directory with a fixed terminal width and no colour, as written (so piped: plain lines); a line
that starts with `actgrad ` also runs with `--format table` and with `--json`, so the table and
JSON writers are compared too. What the clock decides (batch's elapsed time, accuracy's time
estimate and its JSON's "seconds") is the one thing normalized.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = ("Install and run", "Run the tests", "Instant answers")  # install; test; servers
REQUESTS = (
    '{"fn": "sigmoid", "x": 0.5, "grad": true}\n'
    '{"fn": "mse", "w": 3, "grad": true}\n'
    '{"expr": "x*sigmoid(x)", "vars": {"x": [0, 1]}, "grad": true}\n'
)
ELAPSED = re.compile(rb"\d+\.\d+ s\b")
SECONDS = re.compile(rb'"seconds":\s*[0-9.e+-]+')  # accuracy's JSON: how long it took
ESTIMATE = re.compile(rb"actgrad: accuracy: [0-9,]+ reference evaluations, about [^\n]*\n")


def timeless(data: bytes) -> bytes:
    """``data`` without what the clock decides: elapsed times, accuracy's time estimate (said
    only when the sweep looks long) and its JSON's "seconds"."""
    return ELAPSED.sub(b"T s", SECONDS.sub(b'"seconds":T', ESTIMATE.sub(b"", data)))


def commands(readme: str) -> list[str]:
    """The README's example commands, comments removed, continued lines joined."""
    out: list[str] = []
    sections = re.split(r"^## ", readme, flags=re.M)
    for section in sections:
        if section.startswith(SKIP):
            continue
        for block in re.findall(r"^```sh\n(.*?)^```", section, re.M | re.S):
            pending = ""
            for raw in block.splitlines():
                line = re.sub(r"\s+#\s.*$", "", raw).rstrip()  # a comment: " # " to the end
                if not line.strip():
                    continue
                pending += line.strip() + " "
                if line.endswith(("|", "\\")):
                    continue
                out.append(pending.strip().rstrip("\\").strip())
                pending = ""
    return out


def variants(command: str) -> list[str]:
    if not command.startswith("actgrad ") or "--output" in command or "|" in command:
        return [command]
    return [command, command + " --format table", command + " --json"]


def run(command: str, cwd: str) -> dict[str, object]:
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    for key in [k for k in env if k.startswith("ACTGRAD_") or k == "FORCE_COLOR"]:
        del env[key]
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    files = {
        p.name: hashlib.sha256(timeless(p.read_bytes())).hexdigest()[:16]
        for p in sorted(Path(cwd).iterdir())
        if p.name != "requests.jsonl"
    }
    for name in files:
        (Path(cwd) / name).unlink()
    return {
        "command": command,
        "rc": done.returncode,
        "stdout": timeless(done.stdout).decode(errors="replace"),
        "stderr": timeless(done.stderr).decode(errors="replace"),
        "files": files,
    }


def run_all() -> list[dict[str, object]]:
    every = [
        v for c in commands((ROOT / "README.md").read_text(encoding="utf-8")) for v in variants(c)
    ]

    def one(command: str) -> dict[str, object]:
        with tempfile.TemporaryDirectory() as cwd:
            (Path(cwd) / "requests.jsonl").write_text(REQUESTS)
            return run(command, cwd)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return list(pool.map(one, every))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", metavar="FILE")
    group.add_argument("--diff", metavar="FILE")
    args = parser.parse_args()
    results = run_all()
    if args.save:
        Path(args.save).write_text(json.dumps(results, indent=1, ensure_ascii=False))
        print(f"{len(results)} runs recorded in {args.save}")
        return
    before = {r["command"]: r for r in json.loads(Path(args.diff).read_text())}
    differ = 0
    for now in results:
        old = before.get(now["command"])
        if old is None:
            print(f"new: {now['command']}")
            continue
        for key in ("rc", "stdout", "stderr", "files"):
            if old[key] != now[key]:
                differ += 1
                print(f"DIFFERS ({key}): {now['command']}")
                if key in ("stdout", "stderr"):
                    import difflib

                    sys.stdout.writelines(
                        difflib.unified_diff(
                            str(old[key]).splitlines(True),
                            str(now[key]).splitlines(True),
                            "before",
                            "after",
                            n=1,
                        )
                    )
    print(f"{len(results)} runs, {differ} differences")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
