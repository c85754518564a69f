"""Training throughput, one subcommand per mode; runs alternate so machine noise hits every side.

1. `in-process` (the default): in one process, the project's Lightning loop vs a plain PyTorch loop doing the same math (same
   init, cross-entropy + TF L2, SGD, exponential LR decay, EMA update every step, same batches):

    python benchmarks/train_throughput.py [in-process] [--steps 3000] [--repeats 3] [--data-root ../shared/datasets/mnist]

2. `vs-tf1`: whole processes, `python src/train.py` against the original TF1 program
   (../shared/reference/tf1_tutorial.py, run with --tf1-python, a venv with tensorflow-cpu):
   wall time, CPU seconds, peak RSS, steps/s of the training loop and test accuracy. Skipped with a
   message when that Python has no TensorFlow.

    python benchmarks/train_throughput.py vs-tf1 --steps 30000 --repeats 3 --data-root ../shared/datasets/mnist --tf1-python ~/tf1-venv/bin/python [--baseline ../before]

3. `two-at-once`: two default `train.py` runs started together vs one alone (steps/s of each).

    python benchmarks/train_throughput.py two-at-once --steps 3000 --data-root ../shared/datasets/mnist [--policy default]

4. `beside-watcher`: a training run alone vs with `evaluate.py watch=true interval=10` beside it.

    python benchmarks/train_throughput.py beside-watcher --steps 12000 --repeats 2 --data-root ../shared/datasets/mnist

5. `ablation`: whole processes, the default run against the same run with each speed layer off, one
   at a time, alternating: what each layer buys on the CPU at hand (docs/speed.md's table).

    python benchmarks/train_throughput.py ablation --steps 8000 --repeats 4 --data-root ../shared/datasets/mnist [--baseline ../no-layer]

6. `gpu`: `train.py trainer=gpu` whole processes: the CUDA-graph step, the eager step
   (module.cuda_graph=false) and precision=bf16; fit time (validation included) and loop steps/s.

    python benchmarks/train_throughput.py gpu --steps 30000 --repeats 1 --data-root ../shared/datasets/mnist

The flags of the previous release (`--vs-tf1`, `--two-at-once`, ...) still work, with a notice.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
TF1_PROGRAM = ROOT.parent / "shared" / "reference" / "tf1_tutorial.py"

from mnist_lightning.numerics import request_thread_count_invariant_gemms

request_thread_count_invariant_gemms()  # the plain loop computes like the programs do

import lightning as L
import torch
from hydra import compose, initialize_config_dir

from mnist_lightning.data import TensorBatcher
from mnist_lightning.data.datamodule import MNISTDataModule
from mnist_lightning.hydra_setup import CONFIG_DIR
from mnist_lightning.machine import cpu_isa, cpu_model, physical_cores
from mnist_lightning.models.mlp_gradients import COMPUTE_DTYPES
from mnist_lightning.training import MNISTClassifier
from mnist_lightning.training.run import build
from mnist_lightning.training.step import TutorialStep, choose_gradients


def plain_step(device: str, precision: str = "fp32") -> TutorialStep:
    """The module's own step (training/step.py) with the config's defaults, outside Lightning."""
    torch.manual_seed(0)
    module = MNISTClassifier()  # same defaults as conf/: 784-500-10, lr 0.8, L2 1e-4, EMA 0.99
    net = module.to(device).net
    optimizer = module.configure_optimizers()
    gradients = choose_gradients(net, COMPUTE_DTYPES[precision], torch.device(device), single_process=True)
    return TutorialStep(
        net, optimizer["optimizer"], optimizer["lr_scheduler"]["scheduler"], module.ema, gradients
    )


def plain_loop(
    train_set: tuple[torch.Tensor, torch.Tensor], steps: int, device: str, precision: str = "fp32"
) -> float:
    """The module's own step in a hand-written loop: no framework around it."""
    step = plain_step(device, precision)
    batches = TensorBatcher(*train_set, batch_size=100, shuffle=True, drop_last=True)
    done, epoch = 0, 0
    start = time.perf_counter()
    while done < steps:
        batches.sampler.set_epoch(epoch)
        for images, labels in batches:
            step(images.to(device, non_blocking=True), labels.to(device, non_blocking=True), done)
            done += 1
            if done == steps:
                break
        epoch += 1
    if device == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def median_ms(fn, repeats: int = 2000) -> float:
    """Median over 5 rounds of the mean time of `fn()` in milliseconds (after a warm-up round)."""
    rounds = []
    for _ in range(6):
        start = time.perf_counter()
        for _ in range(repeats // 5):
            fn()
        rounds.append((time.perf_counter() - start) / (repeats // 5) * 1e3)
    return statistics.median(rounds[1:])


def step_floor_ms(device: str, precision: str = "fp32", repeats: int = 2000) -> dict[str, float]:
    """What no implementation of the step can beat on this machine: its five GEMMs (same shapes and
    dtype as the training step) and one fused pass updating the parameters (SGD with decay) and their
    moving average, each timed alone on warm data (medians of the rounds; in-process runs it in
    every round, between the loops it is compared with)."""
    dtype = COMPUTE_DTYPES[precision]
    g = torch.Generator().manual_seed(0)
    x, w1 = torch.rand(100, 784, generator=g), torch.randn(500, 784, generator=g) * 0.1
    b1, w2, b2 = torch.zeros(500), torch.randn(10, 500, generator=g) * 0.1, torch.zeros(10)
    grad_logits, grad_hidden = torch.randn(100, 10, generator=g), torch.randn(100, 500, generator=g)
    x, w1, b1, w2, b2, grad_logits, grad_hidden = (
        t.to(device) for t in (x, w1, b1, w2, b2, grad_logits, grad_hidden)
    )
    xc, w1c, b1c, ghc = x.to(dtype), w1.to(dtype), b1.to(dtype), grad_hidden.to(dtype)
    hidden = torch.addmm(b1c, xc, w1c.t()).float()

    def gemms() -> None:
        torch.addmm(b1c, xc, w1c.t())  # layer 1 forward (the hidden layer in `precision`)
        torch.addmm(b2, hidden, w2.t())  # layer 2 forward (fp32)
        grad_logits.t().mm(hidden)  # layer 2 weight gradient
        grad_logits.mm(w2)  # gradient reaching the hidden layer
        ghc.t().mm(xc)  # layer 1 weight gradient

    params = [w1, b1, w2, b2]
    grads = [torch.randn_like(p) for p in params]
    shadows = [p.clone() for p in params]

    def update() -> None:
        torch._fused_sgd_(
            params,
            grads,
            [],
            weight_decay=1e-4,
            momentum=0.0,
            lr=0.01,
            dampening=0.0,
            nesterov=False,
            maximize=False,
            is_first_step=False,
        )
        torch._foreach_lerp_(shadows, params, 0.01)

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    timed = {
        name: median_ms(lambda f=f: (f(), sync()), repeats)
        for name, f in (("gemms", gemms), ("update", update))
    }
    return {**timed, "floor": timed["gemms"] + timed["update"]}


def step_parts_ms(device: str, precision: str = "fp32", calls: int = 2000) -> dict[str, float]:
    """Where the plain step's time goes: its gradients (forward, loss, backward), its update (optimizer,
    schedule, moving average) and the whole step, on one fixed batch, timed in turns of 50 calls so that
    the VM's drift hits each part alike (milliseconds a call, medians of the turns)."""
    step = plain_step(device, precision)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(100, 784, generator=g).to(device)
    labels = torch.randint(0, 10, (100,), generator=g).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    parts = {
        "gradients": lambda i: step.gradients(images, labels),
        "update": step.update,
        "step": lambda i: step(images, labels, i),
    }
    turns: dict[str, list[float]] = {name: [] for name in parts}
    for turn in range(max(2, calls // 50)):
        for name, part in parts.items():
            start = time.perf_counter()
            for i in range(50):
                part(turn * 50 + i)
            sync()
            turns[name].append((time.perf_counter() - start) / 50 * 1e3)
    return {name: statistics.median(times[1:]) for name, times in turns.items()}


def first_layer_backends_ms(repeats: int = 2000) -> dict[str, float]:
    """The first layer's forward GEMM (100x784 by 784x500, fp32) through MKL (what training runs), through
    MKL transposed (the hidden layer computed as W x^T), and through oneDNN's linear operator, each alone:
    is another GEMM backend or orientation worth it on this CPU?"""
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.rand(100, 784, generator=g), torch.randn(500, 784, generator=g), torch.zeros(500)
    timed = {
        "MKL (torch.addmm)": median_ms(lambda: torch.addmm(b, x, w.t()), repeats),
        "MKL transposed (torch.addmm(b[:, None], w, x.t()))": median_ms(
            lambda: torch.addmm(b[:, None], w, x.t()), repeats
        ),
    }
    linear = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if linear is not None and torch.backends.mkldnn.is_available():
        timed["oneDNN (mkldnn._linear_pointwise)"] = median_ms(
            lambda: linear(x, w, b, "none", [], ""), repeats
        )
    return timed


def stacked_models_ms(models: int = 3, repeats: int = 2000) -> dict[str, float]:
    """The first layer's two training GEMMs (forward, weight gradient) for `models` models on one batch,
    one model at a time against all of them stacked into one GEMM (784 x 500*models): would training
    several variants of a seed (same batches) in one process pay on this CPU?"""
    g = torch.Generator().manual_seed(0)
    x, w = torch.rand(100, 784, generator=g), torch.randn(500 * models, 784, generator=g) * 0.1
    b, grad = torch.zeros(500 * models), torch.randn(100, 500 * models, generator=g)
    parts = [
        (b[i * 500 : (i + 1) * 500], w[i * 500 : (i + 1) * 500], grad[:, i * 500 : (i + 1) * 500])
        for i in range(models)
    ]

    def one_at_a_time() -> None:
        for bias, weight, gradient in parts:
            torch.addmm(bias, x, weight.t())
            gradient.t().mm(x)

    def stacked() -> None:
        torch.addmm(b, x, w.t())
        grad.t().mm(x)

    return {"one at a time": median_ms(one_at_a_time, repeats), "stacked": median_ms(stacked, repeats)}


class StepTimer(L.Callback):
    """Times the fit loop only (not Trainer construction, data setup or teardown)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.steps_per_s = trainer.global_step / (time.perf_counter() - self.start)


def lightning_loop(
    datamodule: MNISTDataModule, steps: int, accelerator: str, out: str, precision: str = "fp32"
) -> float:
    """The project's own training config (logger, progress bar, callbacks) minus validation."""
    overrides = [
        f"trainer.max_steps={steps}",
        f"trainer.accelerator={accelerator}",
        "+trainer.limit_val_batches=0",
        "~callbacks.model_checkpoint",
        f"hydra.run.dir={out}",
        f"precision={precision}",
        "seed=0",
    ]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    cfg.paths.output_dir = out
    timer = StepTimer()
    _, module, trainer = build(cfg, [timer], datamodule=datamodule)
    trainer.fit(module, datamodule=datamodule)
    return timer.steps_per_s


def timed_process(command: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one child process (`env`: variables
    it gets on top of this process's)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"{' '.join(command[:3])} ... failed ({process.returncode}):\n{output[-2000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_mib": usage.ru_maxrss / 1024,
        "output": output,
    }


def train_command(data_root: str, steps: int, out: Path, *overrides: str, checkout: Path = ROOT) -> list[str]:
    """`python src/train.py` (of `checkout`) on `data_root` for `steps` steps, writing into `out`."""
    return [
        sys.executable,
        str(checkout / "src" / "train.py"),
        f"data.root={data_root}",
        f"trainer.max_steps={steps}",
        f"hydra.run.dir={out}",
        *overrides,
    ]


def loop_speed(out: Path) -> float:
    """A finished run's training-loop steps/s (metrics.json)."""
    return json.loads((out / "metrics.json").read_text())["steps_per_s"]


def ours(
    steps: int,
    seed: int,
    data_root: str,
    out: Path,
    overrides: tuple[str, ...] = (),
    checkout: Path = ROOT,
    env: dict[str, str] | None = None,
) -> dict[str, float]:
    result = timed_process(
        train_command(data_root, steps, out, f"seed={seed}", *overrides, checkout=checkout), env
    )
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        **result,
        "loop_steps_per_s": metrics["steps_per_s"],
        "test_acc": metrics["test_acc"],
        "fit_s": metrics["wall_time_s"],
    }


def tf1(python: str, steps: int, seed: int, data_root: str) -> dict[str, float]:
    result = timed_process(
        [python, str(TF1_PROGRAM), "--seed", str(seed), "--steps", str(steps), "--data_dir", data_root]
    )
    summary = json.loads(
        next(line for line in result["output"].splitlines() if line.startswith("SUMMARY_JSON "))[13:]
    )
    return {**result, "loop_steps_per_s": summary["steps_per_s_train"], "test_acc": summary["test_ema"]}


def has_tensorflow(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import tensorflow"], capture_output=True, timeout=300, check=False)
    return probe.returncode == 0


def print_table(
    runs: dict[str, list[dict[str, float]]], keys: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """Medians of each row's runs, with every run's wall time."""
    labels = {
        "wall_s": "wall s",
        "cpu_s": "CPU s",
        "rss_mib": "peak RSS MiB",
        "loop_steps_per_s": "loop steps/s",
        "test_acc": "test acc",
        "fit_s": "fit s",
    }
    print(f"{'':24s} " + " ".join(f"{labels[k]:>13s}" for k in keys))
    medians = {}
    for name, results in runs.items():
        medians[name] = {k: statistics.median(r[k] for r in results) for k in keys}
        cells = " ".join(
            f"{medians[name][k]:13.4f}" if k == "test_acc" else f"{medians[name][k]:13.1f}" for k in keys
        )
        walls = ", ".join(f"{r['wall_s']:.1f}" for r in results)
        print(f"{name:24s} {cells}   (walls: {walls})")
    return medians


def compare_with_tf1(args: argparse.Namespace) -> None:
    """Whole-process runs of the TF1 program, train.py and train.py precision=bf16, alternating; medians and ratios."""
    if (
        not TF1_PROGRAM.is_file()
        or not Path(args.tf1_python).expanduser().is_file()
        or not has_tensorflow(args.tf1_python)
    ):
        print(
            f"TF1 comparison skipped: needs {TF1_PROGRAM} and a Python with tensorflow-cpu at --tf1-python "
            f"({args.tf1_python}); see ../shared/reference/README.md"
        )
        return
    variants = {"train.py": ((), ROOT), "train.py precision=bf16": (("precision=bf16",), ROOT)}
    if args.baseline:  # another checkout's train.py (e.g. a worktree of an older commit): before vs after
        variants = {
            f"train.py of {Path(args.baseline).name}": ((), Path(args.baseline).resolve()),
            **variants,
        }
    runs: dict[str, list[dict[str, float]]] = {"TF1 program": [], **{name: [] for name in variants}}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            runs["TF1 program"].append(
                tf1(str(Path(args.tf1_python).expanduser()), args.steps, 1, args.data_root)
            )
            for k, (name, (overrides, checkout)) in enumerate(variants.items()):
                out = Path(tmp) / f"run{i}_{k}"
                runs[name].append(ours(args.steps, 1, args.data_root, out, overrides, checkout))
    print(f"{args.steps} steps, seed 1, {args.repeats} alternating runs each (medians):")
    medians = print_table(runs, ("wall_s", "cpu_s", "rss_mib", "loop_steps_per_s", "test_acc"))
    tf = medians["TF1 program"]
    for name in variants:
        print(
            f"{name}: {tf['wall_s'] / medians[name]['wall_s']:.2f}x the TF1 program's whole-process speed, "
            f"{medians[name]['loop_steps_per_s'] / tf['loop_steps_per_s']:.2f}x its training-loop steps/s (> 1 is faster)"
        )


def gpu_fit_time(args: argparse.Namespace) -> None:
    """`trainer=gpu` whole processes: the CUDA-graph step, the eager step, and bf16; fit time includes validation."""
    variants = {
        "gpu (CUDA graph)": ("trainer=gpu",),
        "gpu eager": ("trainer=gpu", "module.cuda_graph=false"),
        "gpu precision=bf16": ("trainer=gpu", "precision=bf16"),
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for k, (name, overrides) in enumerate(variants.items()):
                runs[name].append(ours(args.steps, 1, args.data_root, Path(tmp) / f"run{i}_{k}", overrides))
    print(
        f"{args.steps} steps, seed 1, {torch.cuda.get_device_name()}, {args.repeats} alternating runs each (medians):"
    )
    print_table(runs, ("fit_s", "wall_s", "loop_steps_per_s", "test_acc"))


def two_at_once(args: argparse.Namespace) -> None:
    """Steps/s of one run alone, then of two started together: the default thread policy, and fixed
    threads (torch_threads=<cores>: no policy); with --baseline, also that checkout's default. Runs alternate."""
    cores = physical_cores()
    variants: dict[str, tuple[tuple[str, ...], Path]] = {
        "default (thread policy)": ((), ROOT),
        f"torch_threads={cores} (no policy)": ((f"torch_threads={cores}",), ROOT),
    }
    if args.policy != "both":  # one of the two: half the runs
        variants = dict([list(variants.items())[args.policy == "fixed"]])
    if args.baseline:
        variants[f"baseline {Path(args.baseline).name} default"] = ((), Path(args.baseline).resolve())

    def launch(out: Path, overrides: tuple[str, ...], checkout: Path) -> subprocess.Popen:
        return subprocess.Popen(
            train_command(
                args.data_root, args.steps, out, "test=false", "logger=none", *overrides, checkout=checkout
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    solo: dict[str, list[float]] = {name: [] for name in variants}
    pairs: dict[str, list[list[float]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for k, (name, (overrides, checkout)) in enumerate(variants.items()):
                out = Path(tmp) / f"solo{i}_{k}"
                launch(out, overrides, checkout).wait()
                solo[name].append(loop_speed(out))
                both = [launch(Path(tmp) / f"pair{i}_{k}_{j}", overrides, checkout) for j in range(2)]
                for process in both:
                    process.wait()
                pairs[name].append([loop_speed(Path(tmp) / f"pair{i}_{k}_{j}") for j in range(2)])
    print(
        f"{args.steps} steps each, {cores} cores, {args.repeats} rounds (medians; loop steps/s from metrics.json); "
        f"cpu={cpu_model()} {'/'.join(cpu_isa())}:"
    )
    for name in variants:
        alone = statistics.median(solo[name])
        each = statistics.median(s for pair in pairs[name] for s in pair)
        described = "; ".join(" and ".join(f"{s:.0f}" for s in pair) for pair in pairs[name])
        print(
            f"{name:28s} alone {alone:6.0f}  each of two {each:6.0f} (pairs: {described})  "
            f"each/alone {each / alone:.2f}  both together {2 * each:6.0f}"
        )


def beside_watcher(args: argparse.Namespace) -> None:
    """Training steps/s alone and with `evaluate.py watch=true interval=10` watching its checkpoints; alternating."""
    alone, watched = [], []

    def run(out: Path) -> float:
        subprocess.run(
            train_command(args.data_root, args.steps, out, "test=false", "logger=none"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        return loop_speed(out)

    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            alone.append(run(Path(tmp) / f"alone{i}"))
            out = Path(tmp) / f"watched{i}"
            (out / "checkpoints").mkdir(parents=True)
            watcher = subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "src" / "evaluate.py"),
                    f"ckpt={out / 'checkpoints'}",
                    "watch=true",
                    "interval=10",
                    f"hydra.run.dir={Path(tmp) / f'eval{i}'}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                watched.append(run(out))
            finally:
                watcher.terminate()
                watcher.wait()
    a, w = statistics.median(alone), statistics.median(watched)
    print(f"{args.steps} steps, {args.repeats} alternating runs (loop steps/s, medians):")
    print(f"alone                       {a:6.0f}  (runs: {', '.join(f'{x:.0f}' for x in alone)})")
    print(f"beside a watching evaluator {w:6.0f}  (runs: {', '.join(f'{x:.0f}' for x in watched)})")
    print(f"slowdown: {100 * (1 - w / a):.1f}%")


def in_process(args: argparse.Namespace) -> None:
    """The project's Lightning loop against a plain PyTorch loop doing the same math, in one process."""
    datamodule = MNISTDataModule(root=args.data_root, download=False)
    if args.data_root:
        datamodule.setup("fit")
    else:
        g = torch.Generator().manual_seed(0)
        datamodule.train_set = (
            torch.rand(55000, 784, generator=g),
            torch.randint(0, 10, (55000,), generator=g),
        )
        datamodule.val_set = datamodule.test_set = (
            datamodule.train_set[0][:5000],
            datamodule.train_set[1][:5000],
        )
    accelerator = "gpu" if args.device == "cuda" else "cpu"

    plain, lightning, floors, over_floor, parts = [], [], [], [], []
    timings = min(2000, max(50, args.steps))  # calls of each timed piece (fewer for a smoke test)
    with tempfile.TemporaryDirectory() as out:
        lightning_loop(datamodule, 200, accelerator, out)  # warm-up: imports, allocator, threads
        for _ in range(args.repeats):  # the floor in every round: the VM's speed drifts within minutes
            plain.append(plain_loop(datamodule.train_set, args.steps, args.device, args.precision))
            floors.append(step_floor_ms(args.device, args.precision, timings))
            parts.append(step_parts_ms(args.device, args.precision, timings))
            lightning.append(lightning_loop(datamodule, args.steps, accelerator, out, args.precision))
            over_floor.append(1e3 / lightning[-1] / floors[-1]["floor"])
    p, l = statistics.median(plain), statistics.median(lightning)
    floor = {key: statistics.median(f[key] for f in floors) for key in floors[0]}
    print(
        f"device={args.device} precision={args.precision} torch={torch.__version__} lightning={L.__version__} "
        f"threads={torch.get_num_threads()} cpu={cpu_model()} {'/'.join(cpu_isa())}"
    )
    print(f"plain PyTorch loop : {p:7.1f} steps/s  (runs: {', '.join(f'{x:.0f}' for x in plain)})")
    print(f"Lightning loop     : {l:7.1f} steps/s  (runs: {', '.join(f'{x:.0f}' for x in lightning)})")
    print(f"ratio Lightning/plain: {l / p:.3f}")
    print(
        f"step floor: {floor['floor']:.3f} ms (five GEMMs {floor['gemms']:.3f} ms + one update pass of the "
        f"weights and their average {floor['update']:.3f} ms, each alone)"
    )
    part = {key: statistics.median(p[key] for p in parts) for key in parts[0]}
    print(
        f"plain step's parts: gradients {part['gradients']:.3f} ms + update (optimizer, schedule, average) "
        f"{part['update']:.3f} ms; whole step {part['step']:.3f} ms = {part['step'] / floor['floor']:.2f}x the "
        "floor (one fixed batch, no data loading)"
    )
    print(
        f"Lightning loop step: {1e3 / l:.3f} ms = {statistics.median(over_floor):.2f}x the floor (goal <= 1.3; "
        f"median of each round's ratio: {', '.join(f'{r:.2f}' for r in over_floor)})"
    )
    if args.device == "cpu" and args.precision == "fp32":
        backends = ", ".join(f"{name} {ms:.3f} ms" for name, ms in first_layer_backends_ms(timings).items())
        print(f"first layer's forward GEMM alone: {backends}")
        stacked = stacked_models_ms(3, timings)
        print(
            f"first layer's GEMMs of 3 models on one batch: one at a time {stacked['one at a time']:.3f} ms, "
            f"stacked into one {stacked['stacked']:.3f} ms ({stacked['one at a time'] / stacked['stacked']:.2f}x)"
        )


def speed_layers() -> dict[str, tuple[tuple[str, ...], dict[str, str]]]:
    """Each speed layer of the default run -> the overrides and environment that run without it."""
    return {
        "hand-written gradients (vs autograd)": (("module.hand_written_gradients=false",), {}),
        "50 steps per Lightning call (vs 1)": (("steps_per_call=1",), {}),
        "thread policy (vs fixed threads)": ((f"torch_threads={physical_cores()}",), {}),
        "MKL strict mode (vs MKL_CBWR=AUTO)": ((), {"MKL_CBWR": "AUTO"}),
    }


def ablation(args: argparse.Namespace) -> None:
    """The default run against the same run with one speed layer off at a time, whole processes. Each
    round runs all of them, starting one further along (the VM's speed drifts within a round), and a
    layer's figure is the median over rounds of the default's speed over its own in that round."""
    layers = {name: (overrides, env, ROOT) for name, (overrides, env) in speed_layers().items()}
    layers = {"default run": ((), {}, ROOT), **layers}
    if args.baseline:  # a layer with no switch: a checkout without it
        layers[f"checkout {Path(args.baseline).name}"] = ((), {}, Path(args.baseline).resolve())
    names = list(layers)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in layers}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for k in range(len(names)):
                name = names[(i + k) % len(names)]
                overrides, env, checkout = layers[name]
                out = Path(tmp) / f"{i}_{k}"
                runs[name].append(
                    ours(args.steps, 1, args.data_root, out, ("test=false", *overrides), checkout, env)
                )
    print(
        f"{args.steps} steps, seed 1, {args.repeats} rotated rounds (medians); cpu={cpu_model()} "
        f"{'/'.join(cpu_isa())}, {physical_cores()} cores; torch={torch.__version__} lightning={L.__version__}"
    )
    print(f"{'':40s} {'loop steps/s':>12s} {'wall s':>8s}  {'layer buys: loop':>16s} {'whole':>7s}  (rounds)")
    default = runs["default run"]
    for name, results in runs.items():
        loop = statistics.median(r["loop_steps_per_s"] for r in results)
        wall = statistics.median(r["wall_s"] for r in results)
        if name == "default run":
            print(f"{name:40s} {loop:12.1f} {wall:8.1f}")
            continue
        loop_ratios = [d["loop_steps_per_s"] / r["loop_steps_per_s"] for d, r in zip(default, results)]
        wall_ratios = [r["wall_s"] / d["wall_s"] for d, r in zip(default, results)]
        print(
            f"{name:40s} {loop:12.1f} {wall:8.1f}  {statistics.median(loop_ratios):15.3f}x "
            f"{statistics.median(wall_ratios):6.3f}x  ({', '.join(f'{x:.2f}' for x in wall_ratios)})"
        )


MODES = {  # subcommand -> (what it measures, function, needs the real MNIST)
    "in-process": ("the Lightning loop vs a plain PyTorch loop, in one process", in_process, False),
    "vs-tf1": ("whole processes: train.py vs the TF1 program", compare_with_tf1, True),
    "two-at-once": ("two train.py runs started together vs one alone", two_at_once, True),
    "beside-watcher": ("training alone vs beside evaluate.py watch=true interval=10", beside_watcher, True),
    "gpu": ("trainer=gpu whole processes: fit time, graph vs eager vs bf16", gpu_fit_time, True),
    "ablation": ("the default run vs the same run with each speed layer off, alternating", ablation, True),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    # The flags of the previous release (--vs-tf1, --two-at-once, ...) still name a mode, with a notice.
    old = [a for a in argv if a.startswith("--") and a[2:] in MODES]
    if old:
        print(
            f"note: {old[0]} is deprecated; use the subcommand: train_throughput.py {old[0][2:]} ...",
            file=sys.stderr,
        )
        argv = [old[0][2:], *(a for a in argv if a not in old)]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--steps", type=int, default=3000)
    common.add_argument("--repeats", type=int, default=3)
    common.add_argument(
        "--data-root",
        default=None,
        help="MNIST IDX folder; random data of MNIST's shape if omitted (in-process only)",
    )
    common.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    common.add_argument(
        "--precision", default="fp32", choices=["fp32", "bf16"], help="the training GEMMs' precision"
    )
    common.add_argument(
        "--tf1-python", default="~/tf1-venv/bin/python", help="a Python with tensorflow-cpu (vs-tf1)"
    )
    common.add_argument(
        "--baseline",
        default=None,
        help="vs-tf1, two-at-once, ablation: also time this checkout's src/train.py (`git worktree add ../before <commit>`)",
    )
    common.add_argument(
        "--policy",
        default="both",
        choices=["both", "default", "fixed"],
        help="two-at-once: the default thread policy, fixed threads (no policy), or both",
    )
    modes = parser.add_subparsers(dest="mode", metavar="MODE")
    for name, (help_text, _, _) in MODES.items():
        modes.add_parser(name, parents=[common], help=help_text, description=help_text)
    args = parser.parse_args(
        argv if argv and argv[0] in MODES or "-h" in argv or "--help" in argv else ["in-process", *argv]
    )
    if MODES[args.mode][2] and not args.data_root:
        parser.error(f"{args.mode} needs --data-root (the real MNIST)")
    return args


def main() -> None:
    args = parse_args(sys.argv[1:])
    warnings.filterwarnings("ignore")
    MODES[args.mode][1](args)


if __name__ == "__main__":
    main()
