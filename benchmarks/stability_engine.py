"""The ensemble engine against the engine it replaced, the per-model loop and this machine's
roofline, for every Table 1 experiment of Książek et al., in one run.

Usage: ``HU_DATA_DIR=../shared/data python benchmarks/stability_engine.py [--device cpu]
[--steps 40] [--repeats 3] [--baseline REVISION_OR_FILE] [--out benchmarks/results/engine_cpu.md]``
(one torch thread on the CPU, as each chapter kernel of the book build runs).

The previous engine is ``companion/nets/ensemble.py`` at git revision ``--baseline`` (default
:data:`PREVIOUS_ENGINE`, the last commit of the autograd engine), loaded from ``git show`` into a
temporary module, or from a file of that source where there is no git history (the device script
carries one): it lives only here, not in the package.
For each experiment (its architecture, loss, batch size, dropout and scene) the run times, A B A
B ... in one process (``--repeats`` pairs, the median kept, so that other load on the machine hits
both alike):

* ``new``: the engine at the chunk the study now uses (:func:`companion.experiments.stability._chunk`);
* ``old, same chunk``: the previous engine at that chunk;
* ``old, its chunk``: the previous engine at the chunk the study used with it (its
  ``models_per_chunk``: a 2 GiB memory budget on the CPU, several thousand models);
* ``loop``: the per-model PyTorch loop (:func:`~companion.nets.unmixing_ae.train_single`).

Each engine trains ``chunk`` models for ``--steps`` optimisation steps (one epoch over the first
``steps x batch`` pixels; the previous engine at its large chunk for proportionally fewer steps, at
least 5). Rates are model-steps per second of CPU time of this process (``time.process_time``,
robust to other processes sharing the cores) on the CPU, of wall time with synchronisation on CUDA.

Roofline: ``bandwidth`` is the best of a STREAM-like copy (``c = a``, 2 x 256 MiB per pass),
``peak`` the best of a 2048^3 float32 matrix product, both measured here at the start. A model-step
moves at least ``36 x parameters + 8 x batch x L`` bytes (forward reads each weight, backward
writes its gradient, Adam reads parameter, gradient and two moments and writes three; the batch is
gathered and read) and does ``6 x batch x weights`` flops (forward, and the backward's two products
per layer); ``bound = 1 / max(bytes / bandwidth, flops / peak)`` model-steps per second.
``new/bound`` is the fraction reached (a chunk that lives in the caches can exceed a DRAM bound).
``study (h)`` projects the experiment at the paper's scale (4 schemes x 50 initialisations x 50
runs, 50 epochs of ``pixels // batch`` steps) at the new engine's rate, one process.

``--sweep 16 32 64 ...`` instead times the new engine alone at each of these chunk sizes (best of
``--repeats``), with the per-step working set of each (:func:`ensemble.step_bytes`): the
measurement behind :data:`ensemble.CPU_STEP_BYTES`.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from companion.experiments import stability as exp
from companion.nets import ensemble
from companion.nets import unmixing_ae as net
from companion.runtime import device_name

PAPER_MODELS = 4 * 50 * 50     # schemes x initialisations x runs
PAPER_EPOCHS = 50
REPO = Path(__file__).resolve().parents[1]
PREVIOUS_ENGINE = "9bfefce"   # the last commit whose engine used autograd (before the hand-written backward)


def load_baseline(revision: str):
    """``companion/nets/ensemble.py`` at git ``revision`` (or the file of that name) as a module
    (imports resolve in this checkout's package)."""
    if Path(revision).is_file():
        source = Path(revision).read_text()
    else:
        source = subprocess.run(["git", "-C", str(REPO), "show", f"{revision}:companion/nets/ensemble.py"],
                                check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_ensemble.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_ensemble", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(device: torch.device) -> float:
    """CPU time of this process on the CPU, wall time on an accelerator."""
    return time.process_time() if device.type == "cpu" else time.perf_counter()


def timed(fn, device: torch.device) -> float:
    sync(device)
    start = clock(device)
    fn()
    sync(device)
    return clock(device) - start


def roofline(device: torch.device, megabytes: int = 256, repeats: int = 5) -> tuple[float, float]:
    """``(bytes/s of a streaming copy, flop/s of a large float32 matrix product)`` on ``device``."""
    n = megabytes * 1024**2 // 4
    source, target = torch.rand(n, device=device), torch.empty(n, device=device)
    target.copy_(source)
    copy = min(timed(lambda: target.copy_(source), device) for _ in range(repeats))
    source = target = None                                           # free 512 MiB
    m = 2048
    x, y = torch.rand(m, m, device=device), torch.rand(m, m, device=device)
    x @ y
    product = min(timed(lambda: x @ y, device) for _ in range(3))
    return 2 * n * 4 / copy, 2 * m**3 / product


def cost_per_model_step(config: net.AEConfig, batch: int) -> tuple[int, int, int]:
    """``(parameters, bytes, flops)`` of one model-step (module docstring)."""
    layers = config.linear_layers()
    weights = sum(fi * fo for fi, fo, _ in layers)
    params = weights + sum(fo for _, fo, b in layers if b) + 3 * config.endmembers
    return params, 36 * params + 8 * batch * config.bands, 6 * batch * weights


def benchmark(experiment: int, scene: exp.Scene, steps: int, repeats: int, loop_models: int, baseline,
              peak: tuple[float, float]) -> dict:
    """One row of the table for ``experiment`` on ``scene``."""
    e = exp.EXPERIMENTS[experiment]
    device = scene.X.device
    config = exp.ae_config(experiment, scene)
    batch = e["batch_size"]
    chunk = exp._chunk(config, scene, experiment, PAPER_MODELS, None)
    old_chunk = min(PAPER_MODELS, baseline.models_per_chunk(config, scene.X.shape[0], batch, device,
                                                             scene.X.dtype))
    old_steps = max(5, steps * chunk // old_chunk)
    weights = net.stack_initial_weights(config, "glorot_uniform", range(max(chunk, old_chunk)))
    seeds = torch.arange(max(chunk, old_chunk))
    common = dict(loss=e["loss"], batch_size=batch, lr=e["lr"], epochs=1)

    def run(module, models, n_steps, **options):
        part = {k: v[:models] for k, v in weights.items()}
        return timed(lambda: module.train_ensemble(scene.X[: n_steps * batch], config, part, seeds[:models],
                                                   **common, **options), device)

    for module in (ensemble, baseline):      # first-call costs
        run(module, 2, 2)
    rates = {"new": [], "old, same chunk": [], "old, its chunk": []}
    if device.type == "cuda":
        rates["new, no CUDA graph"] = []
    for _ in range(repeats):                  # A B A B ...
        rates["new"].append(chunk * steps / run(ensemble, chunk, steps))
        rates["old, same chunk"].append(chunk * steps / run(baseline, chunk, steps))
        rates["old, its chunk"].append(old_chunk * old_steps / run(baseline, old_chunk, old_steps))
        if device.type == "cuda":
            rates["new, no CUDA graph"].append(chunk * steps / run(ensemble, chunk, steps, cuda_graph=False))
    med = {k: statistics.median(v) for k, v in rates.items()}
    ratio_same = statistics.median(n / o for n, o in zip(rates["new"], rates["old, same chunk"], strict=True))
    ratio_study = statistics.median(n / o for n, o in zip(rates["new"], rates["old, its chunk"], strict=True))

    def loop():
        for m in range(loop_models):
            model = net.UnmixingAE(config, {k: v[m] for k, v in weights.items()}).to(device)
            net.train_single(model, scene.X[: steps * batch], run_seed=m, **common)

    loop_rate = loop_models * steps / timed(loop, device) if loop_models else math.nan
    params, nbytes, flops = cost_per_model_step(config, batch)
    bandwidth, peak_flops = peak
    bound = 1 / max(nbytes / bandwidth, flops / peak_flops)
    study_steps = PAPER_MODELS * PAPER_EPOCHS * (scene.X.shape[0] // batch)
    return {"exp": experiment, "arch": e["arch"], "loss": e["loss"], "batch": batch, "params": params,
            "chunk": chunk, "old chunk": old_chunk, "new": med["new"],
            "old, same chunk": med["old, same chunk"],
            "old, its chunk": med["old, its chunk"], "new/old same chunk": ratio_same,
            "new/old study": ratio_study, "loop": loop_rate, "new/loop": med["new"] / loop_rate,
            "bound": bound, "bound by": "memory" if nbytes / bandwidth > flops / peak_flops else "flops",
            "new/bound": med["new"] / bound, "study (h)": study_steps / med["new"] / 3600} | \
        ({"new, no CUDA graph": med["new, no CUDA graph"]} if device.type == "cuda" else {})


def sweep(experiment: int, scene: exp.Scene, chunks: list[int], steps: int, repeats: int) -> dict:
    """Rates of the new engine for ``experiment`` at each chunk size (model-steps/s, best of
    ``repeats``), and the chunk the study uses."""
    e = exp.EXPERIMENTS[experiment]
    device = scene.X.device
    config = exp.ae_config(experiment, scene)
    batch = e["batch_size"]
    weights = net.stack_initial_weights(config, "glorot_uniform", range(max(chunks)))
    row = {"exp": experiment, "arch": e["arch"], "batch": batch,
           "step bytes per model": ensemble.step_bytes(config, batch),
           "study chunk": exp._chunk(config, scene, experiment, PAPER_MODELS, None)}

    def run(chunk: int, n_steps: int) -> float:
        part = {k: v[:chunk] for k, v in weights.items()}
        return timed(lambda: ensemble.train_ensemble(scene.X[: n_steps * batch], config, part,
                                                     torch.arange(chunk), loss=e["loss"], batch_size=batch,
                                                     lr=e["lr"], epochs=1), device)

    for chunk in chunks:
        n_steps = max(5, steps * 256 // chunk)
        row[str(chunk)] = chunk * n_steps / min(run(chunk, n_steps) for _ in range(repeats))
    return row


def machine(device: torch.device) -> str:
    """The hardware in words: processor, CPUs, caches (Linux sysfs) and memory, or the GPU."""
    if device.type == "cuda":
        memory = torch.cuda.get_device_properties(device).total_memory / 2**30
        return f"{device_name(device)}, {memory:.0f} GiB"
    caches = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level, kind = (index / "level").read_text().strip(), (index / "type").read_text().strip()
            caches.append(f"L{level}{'d' if kind == 'Data' else 'i' if kind == 'Instruction' else ''} "
                          f"{(index / 'size').read_text().strip()}")
        except OSError:
            continue
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{device_name(device)}, {os.cpu_count()} CPUs, caches per CPU {', '.join(caches) or 'unknown'}, "
            f"{memory:.0f} GiB memory")


def markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table (rates in model-steps/s)."""
    def cell(value):
        if isinstance(value, float):
            return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(r[k]) for k in head) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="optimisation steps timed per engine run")
    parser.add_argument("--repeats", type=int, default=3, help="A/B pairs per experiment (median kept)")
    parser.add_argument("--loop-models", type=int, default=2,
                        help="models trained by the per-model loop (0: skip it)")
    parser.add_argument("--baseline", default=PREVIOUS_ENGINE,
                        help="git revision (or source file) of the previous engine")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--experiments", type=int, nargs="+", default=list(exp.EXPERIMENTS))
    parser.add_argument("--out", type=Path, help="also write the report (Markdown) here")
    parser.add_argument("--sweep", type=int, nargs="+", help="chunk sizes: time the new engine at each")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    started, load_before = time.perf_counter(), os.getloadavg()
    names = {exp.EXPERIMENTS[e]["dataset"] for e in args.experiments}
    scenes = {name: exp.load_scene(name, device) for name in names}
    if args.sweep:
        rows = [sweep(e, scenes[exp.EXPERIMENTS[e]["dataset"]], args.sweep, args.steps, args.repeats)
                for e in args.experiments]
        text = (f"# Ensemble engine: model-steps/s by chunk size\n\ntorch {torch.__version__}, "
                f"{torch.get_num_threads()} thread(s) on {machine(device)}; best of {args.repeats}; "
                f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after.\n\n"
                f"{markdown(rows)}\n")
        print(text)
        if args.out:
            args.out.write_text(text)
        return
    baseline = load_baseline(args.baseline)
    peak = roofline(device)
    head = (f"torch {torch.__version__}, {torch.get_num_threads()} thread(s) on {machine(device)}; "
            f"streaming copy {peak[0] / 1e9:.1f} GB/s, float32 matrix product "
            f"{peak[1] / 1e9:.1f} GFLOP/s; {args.steps} steps per run, {args.repeats} A/B repeats; "
            f"baseline engine: {args.baseline}")
    print(head, flush=True)
    rows = []
    for e in args.experiments:
        name = exp.EXPERIMENTS[e]["dataset"]
        rows.append(benchmark(e, scenes[name], args.steps, args.repeats, args.loop_models, baseline, peak))
        print(f"experiment {e}: new/old {rows[-1]['new/old same chunk']:.2f} (same chunk), "
              f"{rows[-1]['new/old study']:.2f} (study chunks) ({time.perf_counter() - started:.0f} s)",
              flush=True)
    table = markdown(rows)
    pixels = {r["exp"]: scenes[exp.EXPERIMENTS[r["exp"]]["dataset"]].X.shape[0] for r in rows}
    steps = sum(PAPER_MODELS * PAPER_EPOCHS * (pixels[r["exp"]] // r["batch"]) for r in rows)
    footer = (f"Table 1 experiments {args.experiments}: {steps:,} model-steps at the paper's scale, "
              "projected "
              f"{sum(r['study (h)'] for r in rows):.1f} h at the new engine's rates (one process). Smallest "
              f"ratio new/old: {min(r['new/old same chunk'] for r in rows):.2f} at the same chunk, "
              f"{min(r['new/old study'] for r in rows):.2f} at the study's chunks. Load average "
              f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after; wall time "
              f"{time.perf_counter() - started:.0f} s.")
    print(table + "\n\n" + footer)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"# Ensemble engine benchmark\n\n{head}\n\n{table}\n\n{footer}\n")


if __name__ == "__main__":
    main()
