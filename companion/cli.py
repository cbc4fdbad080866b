"""Command line: rerun one chapter notebook with papermill, or list chapters and scales.

    python -m companion list
    python -m companion run CHAPTER [--scale S] [-p name=value ...] [--output DIR]

``run`` validates the parameters against the chapter's schema (types and ranges) and checks that
the output folder and the results folder are writable *before* any kernel starts (exit code 2
with a message naming the value or folder), converts ``notebooks/<chapter>.md`` with jupytext,
executes it with papermill (kernel ``python3``, progress bar on) and writes the executed
notebook to ``DIR/<chapter>-<scale>.ipynb`` (default ``_build/runs``). The chapter itself writes
its results under ``results/<chapter>/<scale>/``. When ``HU_DATA_DIR`` is unset and
``../shared/data`` exists next to the checkout, it is used (as ``make book`` does).

Exit codes: 0 done; 1 a cell raised or the kernel died (finished study records are kept, so
rerunning the same command resumes); 2 bad input.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import tempfile
import time
from pathlib import Path

from companion.chapters import SCALES, available, describe, get_chapter, resolve_parameters

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO_ROOT / "notebooks"
DEFAULT_OUTPUT = REPO_ROOT / "_build" / "runs"
STAGED_DATA = REPO_ROOT.parent / "shared" / "data"


def parse_assignment(text: str) -> tuple[str, object]:
    """``"name=value"`` -> ``(name, value)``; value is a python literal if it parses, else a string.

    ``seed=3`` gives ``3``, ``datasets=['samson']`` a list, ``device=cuda`` the string ``"cuda"``.
    """
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name.strip(), value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m companion", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list chapters, scales and parameters")
    run = commands.add_parser("run", help="execute one chapter notebook with papermill")
    run.add_argument("chapter", help="chapter name, see `python -m companion list`")
    run.add_argument("--scale", choices=SCALES, help="default: $HU_SCALE, else 'book'")
    run.add_argument(
        "-p",
        "--param",
        dest="params",
        action="append",
        default=[],
        type=parse_assignment,
        metavar="NAME=VALUE",
        help="override one parameter (repeatable)",
    )
    run.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"folder for the executed notebook (default {DEFAULT_OUTPUT})",
    )
    return parser


def list_chapters() -> None:
    """Print every chapter with its title, scales and parameters."""
    for name in available():
        module = get_chapter(name)
        print(f"{name:16s} {module.TITLE}")
        print(f"{'':16s} scales: {', '.join(module.PRESETS)}")
        print(f"{'':16s} parameters: {describe(module)}")


def study_notes(notebook) -> list[str]:
    """Lines of an executed notebook's text outputs that report damaged or recomputed study
    records (shown in the notebook; repeated on the terminal so a CLI user sees them too)."""
    lines = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                lines += [line.strip() for line in output.get("text", "").splitlines()
                          if "DamagedRecordWarning" in line or "stored record(s)" in line]
    return lines


def run_chapter(chapter: str, params: dict, overrides: dict, output: Path) -> Path:
    """Convert and execute one chapter with validated ``params``; return the executed notebook.

    Only ``scale`` and the explicit ``overrides`` are injected; the notebook resolves the rest
    from the same presets. Raises ``papermill.PapermillExecutionError`` when a cell fails.
    """
    source = NOTEBOOKS / f"{chapter}.md"
    import jupytext  # imported only after validation: a typo fails before this costs time
    import papermill

    from companion.results import results_root

    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    output.mkdir(parents=True, exist_ok=True)
    executed = output / f"{chapter}-{params['scale']}.ipynb"
    print(
        f"running {os.path.relpath(source, REPO_ROOT)} at scale={params['scale']} with {params}",
        flush=True,
    )
    started = time.perf_counter()
    executed_nb = papermill.execute_notebook(
        notebook,
        str(executed),
        parameters={"scale": params["scale"], **overrides},
        kernel_name="python3",
        progress_bar=True,
        cwd=str(NOTEBOOKS),
    )
    results = results_root() / chapter / params["scale"]
    for line in study_notes(executed_nb):
        print(f"note: {line}", file=sys.stderr)
    print(f"done in {time.perf_counter() - started:.1f} s")
    print(f"executed notebook: {executed}")
    print(f"results:           {results}")
    for path in sorted(results.glob("*.json")):
        print(f"  {path.name}")
    return executed


def writable_folder_problem(folder: Path, what: str) -> str | None:
    """Why ``folder`` (created if missing) cannot hold new files, with the fix; None when it can."""
    if folder.exists() and not folder.is_dir():
        return f"the {what} {folder} is a file, not a folder. Fix: pass another folder or remove it."
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return (f"the {what} {folder} is not writable ({err.strerror or err}). Fix: make it "
                "writable or choose another location.")
    return None


def use_staged_data() -> None:
    """Set ``HU_DATA_DIR`` to ``../shared/data`` when it is unset and that folder exists."""
    if not os.environ.get("HU_DATA_DIR") and STAGED_DATA.is_dir():
        os.environ["HU_DATA_DIR"] = str(STAGED_DATA)
        print(f"using staged data in {STAGED_DATA} (HU_DATA_DIR was unset)", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        list_chapters()
        return 0
    overrides = dict(args.params)
    try:
        params = resolve_parameters(args.chapter, args.scale, **overrides)
    except (ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not (NOTEBOOKS / f"{args.chapter}.md").is_file():
        print(f"error: chapter {args.chapter!r} has no notebook in {NOTEBOOKS}", file=sys.stderr)
        return 2
    from companion.results import results_root

    results = results_root() / args.chapter / params["scale"]
    for folder, what in [(args.output, "output folder (--output)"),
                         (results, "results folder ($HU_RESULTS_DIR or results/)")]:
        problem = writable_folder_problem(folder, what)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    use_staged_data()
    from nbclient.exceptions import DeadKernelError
    from papermill import PapermillExecutionError

    resume = (f"Finished study records are kept in {results}/runs; rerunning the same command "
              "resumes from them.")
    try:
        run_chapter(args.chapter, params, overrides, args.output)
    except PapermillExecutionError as err:
        print(f"error: cell {err.exec_count} raised {err.ename}: {err.evalue}", file=sys.stderr)
        print(f"the executed notebook with the traceback is in {args.output}", file=sys.stderr)
        print(resume, file=sys.stderr)
        return 1
    except DeadKernelError:
        print(f"error: the kernel running {args.chapter} died (killed from outside, most often by "
              "the out-of-memory killer: check `dmesg` or free memory, or use a smaller scale or "
              "fewer runs).", file=sys.stderr)
        print(resume, file=sys.stderr)
        return 1
    return 0
