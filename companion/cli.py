"""Command line: rerun one chapter notebook with papermill, run a chapter's study without Jupyter,
or list chapters and scales.

    python -m companion list
    python -m companion run CHAPTER [--scale S] [-p name=value ...] [--output DIR]
    python -m companion study CHAPTER [--scale S] [-p name=value ...] [--experiments E ...]
                              [--time-limit SECONDS] [--archive OUT.tar.gz] [--scheduler ADDRESS]
    python -m companion report CHAPTER [--scale S] [-p name=value ...]
    python -m companion verify CHAPTER [--scale S] [-p name=value ...]
    python -m companion byo MODULE:FUNCTION [--scale S] [-p name=value ...]

``run`` validates the parameters against the chapter's schema (types and ranges) and checks that
the output folder and the results folder are writable *before* any kernel starts (exit code 2
with a message naming the value or folder), converts ``notebooks/<chapter>.md`` with jupytext,
executes it with papermill (kernel ``python3``, progress bar on) and writes the executed
notebook to ``DIR/<chapter>-<scale>.ipynb`` (default ``_build/runs``). The chapter itself writes
its results under ``results/<chapter>/<scale>/``. When ``HU_DATA_DIR`` is unset and
``../shared/data`` exists next to the checkout, it is used (as ``make book`` does).

``study`` computes every study record of a chapter's plan (:func:`companion.pipeline.plan`)
into ``results/<chapter>/<scale>/``, the records its notebook reuses: it needs torch, numpy,
scipy, the package and the data, no Jupyter. ``--time-limit`` stops
before starting a record that would end after the limit (judged by the longest record so far,
stored ones included; :data:`ARCHIVE_RESERVE_S` are kept for the archive), so a sequence of
short commands (e.g. 10 minutes each on a lent GPU) completes a long study; a single record
must fit one command. ``--archive`` packs every record of the
study and this command's provenance (device, commit, versions, parameters, wall time, seconds
per record) into one ``.tar.gz`` whose paths are relative to the repository root.
``--scheduler`` runs the records on a Dask cluster (its ``client.get_executor()``).

``report`` computes nothing: it reads the stored records of the plan and writes the chapter's
summary (``results/<chapter>/<scale>/summary.json``) with the report code of this checkout.
``verify`` recomputes a sample of the stored records at this checkout (the three cheapest and the
most expensive) and re-stamps them all with the current code hash only when the results are
identical (:func:`companion.pipeline.verify`); it refuses a modified checkout. Both take the
parameters of the existing summary at that scale unless ``-p`` is given.

``byo`` (bring your own method) scores a user's ``FUNCTION(Y, p, start, seed) -> (E, A)`` from
``MODULE`` (importable from the current folder) on the benchmark's scenes and seeds under its
protocol and ranks it against the stored records of that scale (the committed ones at ``paper``)
with Friedman + Nemenyi, recomputing none of them
(:func:`companion.reports.benchmark.bring_your_own`); it takes the parameters of the existing
benchmark summary at that scale unless ``-p`` is given.

Exit codes: 0 done; 1 a cell (``run``) or a record (``study``) raised or the kernel died
(finished study records are kept, so rerunning the same command resumes), or ``verify`` found a
difference; 2 bad input; 3 (``study``) stopped at the time limit with records left: rerunning
resumes.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path

from companion import pipeline
from companion.chapters import SCALES, available, describe, get_chapter, resolve_parameters

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO_ROOT / "notebooks"
DEFAULT_OUTPUT = REPO_ROOT / "_build" / "runs"
STAGED_DATA = REPO_ROOT.parent / "shared" / "data"
ARCHIVE_RESERVE_S = 10.0
EXIT_TIME_LIMIT = 3
# Paths the package reads from the environment. The kernel of ``run`` works in notebooks/, so a
# relative value is made absolute once, here, against the folder the user ran the command from.
ENV_PATHS = ("HU_RESULTS_DIR", "HU_DATA_DIR", "HU_CACHE_DIR")
MAX_VALUE_CHARS = 100_000


def parse_assignment(text: str) -> tuple[str, object]:
    """``"name=value"`` -> ``(name, value)``; value is a python literal if it parses, else a string.

    ``seed=3`` gives ``3``, ``datasets=['samson']`` a list, ``device=cuda`` the string ``"cuda"``.
    """
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    if len(raw) > MAX_VALUE_CHARS:
        raise argparse.ArgumentTypeError(f"the value of {name.strip()!r} has {len(raw):,} characters "
                                         f"(at most {MAX_VALUE_CHARS:,}); pass fewer items")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
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
    # chapters with an experiments module (their plan is checked before work; no import here)
    with_study = [name for name in available()
                  if (REPO_ROOT / "companion" / "experiments" / f"{name}.py").is_file()]
    study = commands.add_parser("study", help="compute a chapter's study records without Jupyter")
    study.add_argument("chapter", choices=with_study, help="chapter whose study to run")
    study.add_argument("--scale", choices=SCALES, help="default: $HU_SCALE, else 'book'")
    study.add_argument("-p", "--param", dest="params", action="append", default=[], type=parse_assignment,
                       metavar="NAME=VALUE", help="override one parameter (repeatable)")
    study.add_argument("--experiments", type=int, nargs="+", metavar="E",
                       help="shorthand for -p experiments=[E, ...]")
    study.add_argument("--time-limit", type=float, metavar="SECONDS",
                       help="stop cleanly before this many seconds (rerun to resume)")
    study.add_argument("--archive", type=Path, metavar="OUT.tar.gz",
                       help="pack the study's records and their provenance into this file")
    study.add_argument("--scheduler", metavar="ADDRESS",
                       help="Dask scheduler address (tcp://host:8786): run the records on its workers")
    for name, text in (("report", "write a chapter's summary from its stored records (no computation)"),
                       ("verify", "recompute a sample of stored records; re-stamp them all if identical")):
        command = commands.add_parser(name, help=text)
        command.add_argument("chapter", choices=with_study, help="chapter")
        command.add_argument("--scale", choices=SCALES, help="default: $HU_SCALE, else 'book'")
        command.add_argument("-p", "--param", dest="params", action="append", default=[],
                             type=parse_assignment, metavar="NAME=VALUE",
                             help="override one parameter (default: the parameters of the existing summary)")
    byo = commands.add_parser("byo", help="score your own blind method on the benchmark and rank it against "
                                          "the stored records")
    byo.add_argument("function", metavar="MODULE:FUNCTION",
                     help="FUNCTION(Y, p, start, seed) -> (E, A) in MODULE "
                          "(importable from the current folder)")
    byo.add_argument("--scale", choices=SCALES, help="default: $HU_SCALE, else 'book'")
    byo.add_argument("-p", "--param", dest="params", action="append", default=[], type=parse_assignment,
                     metavar="NAME=VALUE",
                     help="override one benchmark parameter (default: the existing summary's)")
    byo.set_defaults(chapter="benchmark")
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


def archive_study(paths: list[Path], archive: Path, provenance: dict) -> int:
    """Write the records among ``paths`` that exist to the gzip tar ``archive`` (atomically), each
    under ``results/<chapter>/<scale>/<folder>/`` (its path from the results root) so that
    extracting it at the repository root puts them in place, with ``provenance`` as
    ``results/<chapter>/<scale>/study-provenance/<UTC start>.json`` (one file per command, so the
    commands of a resumed study keep theirs). Returns the number of records."""
    from companion.results import results_root

    root = results_root()
    records = [path for path in paths if path.is_file()]
    chapter_scale = Path(provenance["chapter"], provenance["scale"])
    stamp = provenance["started"].replace(":", "").replace("+0000", "Z")
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=archive.parent) as tmp:
        partial = Path(tmp) / archive.name
        with tarfile.open(partial, "w:gz") as tar:
            for path in records:
                tar.add(path, arcname=str(Path("results") / path.relative_to(root)))
            note = Path(tmp) / "provenance.json"
            note.write_text(json.dumps(provenance, indent=1, sort_keys=True), encoding="utf-8")
            tar.add(note, arcname=str(Path("results") / chapter_scale / "study-provenance" / f"{stamp}.json"))
        os.replace(partial, archive)
    return len(records)


def study_data(studies: dict) -> dict[str, str]:
    """Load the data of every study (so that every record lists their checksums); ``{file: sha256}``."""
    files = {}
    for definition in studies.values():
        files |= definition.load_data()
    return files


def missing_records(studies: dict) -> list[str]:
    """Keys of the studies' configurations without a stored record, in plan order."""
    return [key for d in studies.values() for key in d.configs
            if not (d.directory() / f"{key}.json").is_file()]


def dask_client(scheduler: str | None, workers: int):
    """The Dask client a study's records run on, and where that is in words: the scheduler at
    ``scheduler`` (``--scheduler``), else a LocalCluster of ``workers`` one-thread processes when a
    chapter's ``workers`` parameter asks for more than one, else ``(None, "")``: this process."""
    if scheduler:
        from distributed import Client

        return Client(scheduler), f"Dask workers of {scheduler}"
    if workers > 1:
        from distributed import Client

        # the client starts the LocalCluster and closes it with itself
        return (Client(n_workers=workers, threads_per_worker=1, dashboard_address=None),
                f"{workers} Dask worker processes, one thread each")
    return None, ""


def run_chapter_study(args, params: dict) -> int:
    """The ``study`` command after validation: load the data, run every study of the chapter's plan
    (serially or on the Dask scheduler's executor), archive; return the exit code."""
    from companion import data
    from companion.results import Provenance
    from companion.runtime import resolve_device
    from companion.study import TimeLimitReached

    started = time.monotonic()
    deadline = None if args.time_limit is None else started + args.time_limit - ARCHIVE_RESERVE_S
    studies = pipeline.plan(args.chapter, params)
    keys = {name: list(d.configs) for name, d in studies.items()}
    total = sum(map(len, keys.values()))
    try:
        files = study_data(studies)
    except (data.MissingImage, data.DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    provenance = Provenance.start(args.chapter, params, resolve_device(params["device"]), checksums=files)
    client, where = dask_client(args.scheduler, params.get("workers", 1))
    if client is not None:
        provenance.device += f"; {where}"
    folders = ", ".join(sorted({str(d.directory()) for d in studies.values()}))
    print(f"{args.chapter}: {total} records in {folders} on {provenance.device}", flush=True)
    code, left = 0, []
    try:
        pipeline.run(args.chapter, params, executor=client.get_executor() if client else None,
                     progress=True, deadline=deadline)
    except TimeLimitReached:
        code = EXIT_TIME_LIMIT
        left = missing_records(studies)
        print(f"stopped at the time limit with {total - len(left)} of {total} records done, "
              f"{len(left)} left; rerunning resumes: {', '.join(left)}", file=sys.stderr)
    except Exception as err:  # noqa: BLE001 (reported with its type; finished records are kept)
        code = 1
        traceback.print_exc()
        print(f"error: a record raised {type(err).__name__}: {err}", file=sys.stderr)
        print("Finished records are kept; rerunning the same command resumes.", file=sys.stderr)
    finally:
        if client is not None:
            client.close()
    if code == 1:
        left = missing_records(studies)
    provenance.finish()
    print(f"{total - len(left)} of {total} records done; this command: {provenance.wall_time_s:.1f} s",
          flush=True)
    pipeline.record_run(args.chapter, params["scale"], provenance.to_dict() | {
        "code": pipeline.code_hash(args.chapter), "records": total, "records_left": len(left),
        "exit_code": code})
    if args.archive:
        paths = [d.directory() / f"{key}.json" for d in studies.values() for key in d.configs]
        seconds = {f"{p.parent.name}/{p.stem}": json.loads(p.read_text(encoding="utf-8")).get("seconds")
                   for p in paths if p.is_file()}
        note = provenance.to_dict() | {"records_left": left, "seconds_per_record": seconds, "exit_code": code}
        try:
            count = archive_study(paths, args.archive, note)
        except OSError as err:
            print(f"error: could not write the archive {args.archive}: {err.strerror or err}. The records "
                  "are kept in the results folder; free space there and rerun the same command.",
                  file=sys.stderr)
            return code or 1
        print(f"archive: {args.archive} ({count} records)")
    return code


def summary_parameters(chapter: str, scale: str, overrides: dict) -> dict:
    """The parameters of ``report`` and ``verify``: those of the existing summary at ``scale`` when
    no ``-p`` is given (so a committed summary is regenerated as it was made), else the preset
    with the overrides."""
    from companion.results import read_result

    summary = read_result(chapter, scale, "summary")
    if summary is not None and not overrides:
        print(f"using the parameters of {chapter}/{scale}/summary.json", flush=True)
        return dict(summary["provenance"]["params"])
    return resolve_parameters(chapter, scale, **overrides)


def report_command(chapter: str, params: dict) -> int:
    """``report``: the chapter's summary from its stored records, no computation."""
    from companion.results import Provenance

    try:
        records = pipeline.load_records(chapter, params)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    files = study_data(pipeline.plan(chapter, params))
    provenance = Provenance.start(chapter, params, pipeline.REPORT_ONLY, checksums=files)
    result = pipeline.report(chapter, params, records)
    path = pipeline.write_summary(chapter, params, result, provenance.finish())
    status, detail = pipeline.staleness(chapter, json.loads(path.read_text(encoding="utf-8")))
    print(f"summary: {path} ({len(result.comparison)} comparison rows; records {status}: {detail})")
    return 0


def byo_command(args, params: dict) -> int:
    """``byo``: score and rank the user's method (:func:`companion.reports.benchmark.bring_your_own`)."""
    from companion.reports import benchmark as report_of

    module, colon, _ = args.function.partition(":")
    if not colon or not module:
        print(f"error: {args.function!r} is not MODULE:FUNCTION", file=sys.stderr)
        return 2
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())        # the user's module, beside them
    try:
        data = report_of.bring_your_own(args.function, params, progress=True)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ImportError, AttributeError) as err:
        print(f"error: cannot load {args.function}: {err}", file=sys.stderr)
        return 2
    print(f"your method: {len(data['seeds'])} seed(s) x {len(data['scenes'])} scenes, "
          f"{data['seconds']:.1f} s of method time; records and estimates in {data['directory']}")
    print(report_of.byo_summary(data))
    print(report_of.test_summary(data))
    print(report_of.rank_table(
        data, f"Average ranks with your method ({params['scale']} records)").to_markdown())
    return 0


def verify_command(chapter: str, params: dict) -> int:
    """``verify``: recompute a sample of the stored records; re-stamp them all when identical."""
    from companion.results import git_commit

    commit = git_commit()
    if commit.endswith("+dirty") or commit == "unknown":
        print(f"error: verify re-stamps records with the commit that checked them, and this checkout is "
              f"{'modified' if commit != 'unknown' else 'not a git checkout'} ({commit}).\nFix: commit "
              "your changes first, then rerun.", file=sys.stderr)
        return 2
    from companion.runtime import device_name, resolve_device

    note = {"commit": commit, "device": device_name(resolve_device(params.get("device", "cpu"))),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        outcome = pipeline.verify(chapter, params, commit=commit)
    except pipeline.VerificationError as err:
        pipeline.write_verification(chapter, params["scale"], note | {"outcome": str(err).split(";")[0]})
        print(f"error: {err}", file=sys.stderr)
        return 1
    pipeline.write_verification(chapter, params["scale"], note | {"outcome": "identical", **outcome})
    print(f"verified at {commit[:10]}: {len(outcome['sample'])} recomputed records identical "
          f"({', '.join(outcome['sample'])}); {outcome['restamped']} records re-stamped")
    return 0


class Refused(Exception):
    """Bad input found before any work starts: ``main`` prints the message and exits with 2."""




def absolute_environment() -> None:
    """Make every :data:`ENV_PATHS` variable that is set absolute (``~`` expanded), relative to the
    current folder, so the notebook kernel, the study and every worker read the folder meant."""
    for name in ENV_PATHS:
        value = os.environ.get(name)
        if value:
            os.environ[name] = os.path.abspath(os.path.expanduser(value))


def study_folders(chapter: str, params: dict) -> list[tuple[Path, str]]:
    """The folders the chapter's studies write (none for a chapter without a plan)."""
    if not pipeline.has_pipeline(chapter):
        return []
    return [(d.directory(), f"study records folder of {name!r}")
            for name, d in pipeline.plan(chapter, params).items()]


def preflight(args, params: dict) -> None:
    """Every check that needs no computation, before any kernel or study starts: the notebook, the
    device, the writable folders (output, results, every study's records, the archive) and the
    time limit. Raises :class:`Refused` with the fix."""
    from companion.results import results_root
    from companion.runtime import resolve_device

    if args.command == "run" and not (NOTEBOOKS / f"{args.chapter}.md").is_file():
        raise Refused(f"chapter {args.chapter!r} has no notebook in {NOTEBOOKS}")
    if args.command in ("run", "study", "verify") and "device" in params:
        try:
            resolve_device(params["device"])
        except (RuntimeError, ValueError) as err:
            raise Refused(str(err)) from None
    folders = [(results_root() / args.chapter / params["scale"],
                "results folder ($HU_RESULTS_DIR or results/)")]
    if args.command == "run":
        folders.insert(0, (args.output, "output folder (--output)"))
    if args.command in ("run", "study", "verify"):
        folders += study_folders(args.chapter, params)
    if getattr(args, "archive", None):
        folders.append((args.archive.parent, "archive folder (--archive)"))
    for folder, what in folders:
        problem = writable_folder_problem(folder, what)
        if problem:
            raise Refused(problem)
    if args.command == "study" and args.time_limit is not None and args.time_limit <= ARCHIVE_RESERVE_S:
        raise Refused(f"--time-limit must exceed {ARCHIVE_RESERVE_S:g} s (kept for the archive)")


def resolved(args) -> dict:
    """The validated parameters of ``args`` (:class:`Refused` with the fix otherwise)."""
    overrides = dict(args.params)
    if "scale" in overrides:
        raise Refused(f"the scale is not a parameter: use --scale {overrides['scale']} "
                      "instead of -p scale=...")
    if getattr(args, "experiments", None):
        overrides["experiments"] = args.experiments
    try:
        params = resolve_parameters(args.chapter, args.scale, **overrides)
        if args.command in ("report", "verify", "byo"):
            params = summary_parameters(args.chapter, params["scale"], overrides)
    except (ValueError, TypeError) as err:
        raise Refused(str(err)) from None
    return params


def resume_note(chapter: str, params: dict) -> str:
    """What a rerun keeps, for a chapter with studies; empty for one without."""
    folders = sorted({str(folder) for folder, _ in study_folders(chapter, params)})
    if not folders:
        return ""
    return (f"Finished study records are kept in {', '.join(folders)}; rerunning the same command "
            "resumes from them.")


def run_command(args, params: dict) -> int:
    """``run`` after the checks: execute the notebook; one or two lines for each way it can fail."""
    from nbclient.exceptions import DeadKernelError
    from papermill import PapermillExecutionError

    resume = resume_note(args.chapter, params)
    executed = args.output / f"{args.chapter}-{params['scale']}.ipynb"
    try:
        run_chapter(args.chapter, params, dict(args.params), args.output)
    except PapermillExecutionError as err:
        print(f"error: cell {err.exec_count} raised {err.ename}: {err.evalue}", file=sys.stderr)
        print(f"the executed notebook with the traceback is in {args.output}", file=sys.stderr)
    except DeadKernelError:
        print(f"error: the kernel running {args.chapter} died (killed from outside, most often by "
              "the out-of-memory killer: check `dmesg` or free memory, or use a smaller scale or "
              "fewer runs).", file=sys.stderr)
    except OSError as err:
        if executed.is_file() and executed.stat().st_size == 0:
            executed.unlink()
        print(f"error: could not write {err.filename or executed}: {err.strerror or err}. Fix: free space "
              "there or choose another --output.", file=sys.stderr)
    else:
        return 0
    if resume:
        print(resume, file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:   # before a command started (its own handler says what is kept)
        print("\ninterrupted before any work started; nothing to resume.", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    absolute_environment()
    args = build_parser().parse_args(argv)
    if args.command == "list":
        list_chapters()
        return 0
    try:
        params = resolved(args)
        if args.command in ("study", "report", "verify", "byo") and not pipeline.has_pipeline(args.chapter):
            raise Refused(f"chapter {args.chapter!r} has no study plan "
                          f"(companion.experiments.{args.chapter}.plan)")
        preflight(args, params)
    except Refused as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    use_staged_data()
    commands = {"run": run_command, "study": run_chapter_study,
                "report": lambda a, p: report_command(a.chapter, p),
                "verify": lambda a, p: verify_command(a.chapter, p), "byo": byo_command}
    try:
        return commands[args.command](args, params)
    except KeyboardInterrupt:
        print(f"\ninterrupted. {resume_note(args.chapter, params) or 'Nothing was kept.'}", file=sys.stderr)
        return 130
