"""Measure torch against the arbitrary-precision reference on the standard grid and write
docs/accuracy.md (the report) and core/accuracy/generated_accuracy.py (the regions results and
explain cite).

    python tools/accuracy_report.py            # about a few minutes on a 2-core machine
    python tools/accuracy_report.py --check    # exit 1 if the committed files differ

Every function accuracy can sweep, every dtype, the value and derivatives up to order 2, over
x = -40:40:2001 (functions along a dim: the slice [0, x], glu [1, x]; losses: pred = x against
a fixed target, reduction none).
"""

from __future__ import annotations

import argparse
import math
import pprint
import sys
import time
from pathlib import Path

import mpmath
from actgrad.cli.accuracy import quantity_name, span
from actgrad.cli.accuracy import short as g
from actgrad.core import machine
from actgrad.core.accuracy import sweeps
from actgrad.core.functions import registry
from actgrad.core.words import counted

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "accuracy.md"
DATA = ROOT / "core" / "accuracy" / "generated_accuracy.py"
GRID = sweeps.STANDARD
ORDER = 2
LIMIT = None  # each dtype's --check default: 64 ulps in float64 and float32, 4 in half precision


def measure(spec: registry.FunctionSpec) -> list[sweeps.Row]:
    return list(sweeps.sweep(spec, GRID, list(sweeps.DTYPES), ORDER, limit=LIMIT))


def cell(row: sweeps.Row | None) -> str:
    if row is None:
        return "—"
    if row.worst is None:
        return "no finite comparison"
    return f"{g(row.max_ulp)} (x = {g(row.worst['x'], 6)})"


def table_lines(spec: registry.FunctionSpec, rows: list[sweeps.Row]) -> list[str]:
    """The report's lines for one function: a row per quantity, a column per dtype."""
    by = {(r.quantity, r.dtype): r for r in rows}
    quantities = list(dict.fromkeys(r.quantity for r in rows))
    out = []
    for q in quantities:
        cells = [cell(by.get((q, d))) for d in sweeps.DTYPES]
        lost = []
        for d in sweeps.DTYPES:
            r = by.get((q, d))
            if r is not None and r.lost:
                lost.append(
                    f"{d}: "
                    + ", ".join(span(x) for x in r.lost[:3])
                    + (" …" if len(r.lost) > 3 else "")
                )
        out.append(
            f"| {spec.command} | {quantity_name(q)} | "
            + " | ".join(cells)
            + f" | {'; '.join(lost) or '—'} |"
        )
    return out


def known(rows: list[sweeps.Row]) -> tuple[dict, dict]:
    """({function: {dtype: {quantity: [(from, to, every digit lost, in words), …]}}}, the
    parameters measured): the regions over the threshold (a run reaching the grid's end
    extends to infinity), for the notes of results whose inputs fall in them."""
    out: dict = {}
    params: dict = {}
    for r in rows:
        if r.quantity == "jacobian" or "reduction" in r.params:
            continue
        params[r.function] = r.params
        if not r.regions:
            continue
        runs = [
            (
                -math.inf if x["low_end"] else x["from"],
                math.inf if x["high_end"] else x["to"],
                lost,
                span(x),
            )
            for lost, found in ((True, r.lost), (False, r.regions))
            for x in found
        ]
        out.setdefault(r.function, {}).setdefault(r.dtype, {})[r.quantity] = runs
    return out, params


FLOAT32 = ROOT / "docs" / "float32"  # tools/float32_sweeps.py: every float32 input, order 1


def float32_lines() -> list[str]:
    """The section of every float32 input, from the sweeps kept in docs/float32 (each names
    the machine that measured it)."""
    import json

    found = sorted(FLOAT32.glob("*.json"))
    if not found:
        return []
    out = [
        "",
        "## Every float32 input, order 1",
        "",
        "Every one of the 4,278,190,080 finite float32 inputs, by `actgrad accuracy NAME "
        "--exhaustive --dtypes float32 --order 1` in shards on every core "
        "(`python tools/float32_sweeps.py NAME`; the true value from the fast tier, and the "
        "arbitrary-precision tier where the fast tier's float64 bounds do not settle torch's "
        "error). Max and median error in ulps of float32 (the median to 1/1024 of an ulp below "
        "4 ulps, 0.14% above), the worst x, the inputs more than 64 ulps off and between which "
        "x, where every digit is lost, wrong results (zero, NaN, inf, the wrong sign, not 0), "
        "and how many inputs the arbitrary-precision tier decided.",
        "",
        "| function | quantity | max ulp (worst x) | median | > 64 ulps | all digits lost | "
        "wrong | exact tier | measured with | wall time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in found:
        data = json.loads(path.read_text())
        where = machine.words(data["machine"])
        jobs = counted(data["jobs"], "process", "processes")
        took = f"{data['wall_seconds'] / 60:.1f} min, {jobs}"
        for r in data["rows"]:
            worst = (
                "—" if r["worst"] is None else f"{g(r['max_ulp'])} (x = {g(r['worst']['x'], 6)})"
            )
            over = sum(x["points"] for x in r["regions"])
            within = ""
            if r["regions"]:
                within = f" in [{g(r['regions'][0]['from'], 4)}, {g(r['regions'][-1]['to'], 4)}]"
            lost = ", ".join(span(x) for x in r["all_digits_lost"][:3]) or "—"
            if len(r["all_digits_lost"]) > 3:
                lost += f" (+{len(r['all_digits_lost']) - 3} more)"
            c = r["counts"]
            wrong = (
                ", ".join(
                    f"{c[k]:,} {label}"
                    for k, label in (
                        ("zero", "zero"),
                        ("nan", "NaN"),
                        ("inf", "inf"),
                        ("sign", "sign"),
                        ("not_zero", "not 0"),
                    )
                    if c.get(k)
                )
                or "—"
            )
            exact = r["points"] - c.get("fast_tier", 0)
            out.append(
                f"| {r['function']} | {quantity_name(r['quantity'])} | {worst} | "
                f"{g(r['median_ulp'])} | {over:,}{within} | {lost} | {wrong} | {exact:,} | "
                f"{where} | {took} |"
            )
    return out


DEVICES = ROOT / "docs" / "cuda"  # tools/cuda_accuracy.py, run on a GPU


def _device_cell(r: dict | None) -> str:
    if r is None:
        return "—"
    if r["worst"] is None:
        return "no finite comparison"
    return f"{g(r['max_ulp'])} (x = {g(r['worst']['x'], 6)})"


def device_lines(data: dict) -> list[str]:
    """A GPU's section, from tools/cuda_accuracy.py's JSON: per grid, a row per function and
    quantity with a cell per dtype, where every digit is lost, and per dtype how many inputs
    torch on the GPU gives other bits than torch on the CPU (whichever is nearer the truth)."""
    where = machine.words(data["machine"])
    cpu = machine.words(data["cpu"])
    out = [
        "",
        f"## On {data['machine'].get('gpu', data['device'])}",
        "",
        f"Measured with {where} by `python tools/cuda_accuracy.py` ({data['seconds'] / 60:.1f} "
        f"min; phases: {'; '.join(f'{k}: {v}' for k, v in data['phases'].items())}), as "
        "`actgrad accuracy NAME --device cuda` measures. Each cell: the largest error of "
        "torch's result on the GPU in ulps of that dtype, at the true value, and where; "
        f"*differs from the CPU*: the inputs where the GPU's bits are not those of {cpu} "
        "(per dtype; NaN equals NaN).",
    ]
    grids = list(dict.fromkeys(r["grid"] for r in data["rows"]))
    for grid in grids:
        rows = [r for r in data["rows"] if r["grid"] == grid]
        dtypes = [d for d in sweeps.DTYPES if any(r["dtype"] == d for r in rows)]
        out += [
            "",
            f"### {sweeps.grid_words(data['grid']) if grid == 'standard' else grid}",
            "",
            "| function | quantity | " + " | ".join(dtypes) + " | all digits lost | "
            "differs from the CPU |",
            "|---|---|" + "---|" * len(dtypes) + "---|---|",
        ]
        by = {(r["function"], r["quantity"], r["dtype"]): r for r in rows}
        keys = list(dict.fromkeys((r["function"], r["quantity"]) for r in rows))
        for function, quantity in keys:
            cells = [_device_cell(by.get((function, quantity, d))) for d in dtypes]
            lost, differs = [], []
            for d in dtypes:
                r = by.get((function, quantity, d))
                if r is None:
                    continue
                if r["all_digits_lost"]:
                    lost.append(f"{d}: " + ", ".join(span(x) for x in r["all_digits_lost"][:2]))
                if r["differs_from_cpu"]:
                    differs.append(f"{d}: {r['differs_from_cpu']:,} of {r['points']:,}")
            out.append(
                f"| {registry.get(function).command} | {quantity_name(quantity)} | "
                + " | ".join(cells)
                + f" | {'; '.join(lost) or '—'} | {'; '.join(differs) or '—'} |"
            )
    return out


def devices_lines() -> list[str]:
    """Every GPU section kept in docs/cuda, or a line saying none is measured yet."""
    import json

    found = sorted(DEVICES.glob("*.json"))
    if not found:
        return [
            "",
            "## On a GPU",
            "",
            "Not measured yet: everything above is the CPU's, and a GPU's kernels round "
            "differently. `python tools/cuda_accuracy.py` on a machine with CUDA (at most 10 "
            "minutes on one GPU) writes docs/cuda/accuracy.json, and this script then renders "
            "its section; `actgrad accuracy NAME --device cuda` measures one function there.",
        ]
    out: list[str] = []
    for path in found:
        out += device_lines(json.loads(path.read_text()))
    return out


def render(
    measured_on: dict[str, str], lines: list[str], regions: tuple[dict, dict]
) -> tuple[str, str]:
    header = [
        "# Accuracy of torch's numbers against the true value",
        "",
        "Generated by `python tools/accuracy_report.py` (do not edit by hand); "
        "`tests/core/exact/test_truth.py` checks that it is current.",
        "",
        f"- measured with {machine.words(measured_on)}; mpmath {mpmath.__version__}. torch's "
        "numbers depend on the CPU capability its kernels are dispatched for (AVX2 and AVX-512 "
        "kernels can differ): on another machine, `actgrad accuracy NAME` measures them there",
        f"- grid: {sweeps.grid_words(GRID)}; functions along a dim: the slice [0, x] "
        "(glu: [1, x], whose output is x's gate); losses: pred = x against a fixed target "
        "(mse, l1, huber, smooth-l1: 0; bce-with-logits, soft-margin: 1; poisson-nll: 2; "
        "gaussian-nll: 0 with var 1; hinge-embedding: −1), reduction none; parameters at "
        "torch's defaults (threshold: threshold 1, value −1)",
        "- a result with an input in a region where torch is more ulps off than `--check` "
        "allows (64 in float64 and float32, 4 in float16 and bfloat16) says so in a note; "
        "`actgrad explain NAME` lists the regions",
        "- each cell: the largest error of torch's result in ulps of that dtype, at the true "
        "value (computed at the input's exact value in that dtype, correct to the last bit of "
        "float64), and the x where it is; the last column: where every digit is lost "
        "(relative error ≥ 1: zero, NaN, inf or the wrong sign where the truth is not)",
        "- reproduce a row: `actgrad accuracy NAME` (the standard grid is its default; "
        "`--x` for another range)",
        "",
        "| function | quantity | float64 | float32 | float16 | bfloat16 | all digits lost |",
        "|---|---|---|---|---|---|---|",
    ]
    report = "\n".join(header + lines + float32_lines() + devices_lines()) + "\n"
    data = (
        '"""Regions where torch is measured to be inaccurate ('
        "more ulps than --check allows: 64 in float64\nand float32, 4 in float16 and bfloat16), "
        f"per function, dtype and quantity, on\n{sweeps.grid_words(GRID)}:\n"
        f"generated by tools/accuracy_report.py with {machine.words(measured_on)};\n"
        'see docs/accuracy.md."""\n\n'
        f'TORCH = "{measured_on["torch"].split()[0]}"\n'
        "# where it was measured: notes and the tests compare it with the machine they run on\n"
        f"MACHINE = {measured_on!r}\n"
        'inf = float("inf")\n'
        "# {function: {dtype: {quantity: [(from, to, every digit lost, in words), …]}}}\n"
        f"REGIONS: dict = {pprint.pformat(regions[0], width=96, sort_dicts=True)}\n"
        "# the parameters each function was measured with (notes apply to these only)\n"
        f"PARAMS: dict = {pprint.pformat(regions[1], width=96, sort_dicts=True)}\n"
    )
    return report, data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    started = time.perf_counter()
    lines, rows = [], []
    specs = sweeps.functions([], True)
    for i, spec in enumerate(specs):
        found = measure(spec)
        rows += found
        lines += table_lines(spec, found)
        sys.stderr.write(
            f"[{i + 1}/{len(specs)}] {spec.command}: {time.perf_counter() - started:.0f} s\n"
        )
    report, data = render(machine.identity(), lines, known(rows))
    if args.check:
        stale = [p for p, text in ((REPORT, report), (DATA, data)) if p.read_text() != text]
        for path in stale:
            sys.stderr.write(f"{path.relative_to(ROOT)} is not current\n")
        return 1 if stale else 0
    REPORT.write_text(report)
    DATA.write_text(data)
    sys.stderr.write(
        f"wrote {REPORT.relative_to(ROOT)} and {DATA.relative_to(ROOT)} in "
        f"{time.perf_counter() - started:.0f} s\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
