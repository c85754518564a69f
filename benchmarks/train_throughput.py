"""Training throughput: the project's Lightning loop vs a plain PyTorch loop doing the same math.

Both train the same MLP (same init, cross-entropy + TF L2, SGD, exponential LR decay, EMA
update every step) on the same in-memory batches. Runs alternate (plain, Lightning, plain,
...) in one process so machine noise hits both; the ratio of medians is the figure.

    python benchmarks/train_throughput.py [--steps 3000] [--repeats 3] [--data-root ../shared/datasets/mnist]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import lightning as L  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

from mnist_lightning.hydra_setup import CONFIG_DIR  # noqa: E402
from mnist_lightning.data import TensorBatcher  # noqa: E402
from mnist_lightning.data.datamodule import MNISTDataModule  # noqa: E402
from mnist_lightning.training import MNISTClassifier  # noqa: E402
from mnist_lightning.training.ema import ExponentialMovingAverage  # noqa: E402
from mnist_lightning.training.run import build  # noqa: E402
from mnist_lightning.training.schedule import ExponentialDecay  # noqa: E402


def plain_loop(train_set: tuple[torch.Tensor, torch.Tensor], steps: int, device: str) -> float:
    """Hand-written PyTorch: the tutorial's step with no framework around it. Returns steps/s."""
    torch.manual_seed(0)
    module = MNISTClassifier()  # same defaults as conf/: 784-500-10, lr 0.8, L2 1e-4, EMA 0.99
    net = module.net.to(device)
    ema = ExponentialMovingAverage(net, decay=0.99)
    weights, biases = net.weight_matrices(), [layer.bias for layer in net.linear_layers()]
    optimizer = torch.optim.SGD([{"params": weights, "weight_decay": 1e-4}, {"params": biases}], lr=0.8)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, ExponentialDecay(0.99, 550))
    batches = TensorBatcher(*train_set, batch_size=100, shuffle=True, drop_last=True)
    step, epoch = 0, 0
    start = time.perf_counter()
    while step < steps:
        batches.sampler.set_epoch(epoch)
        for images, labels in batches:
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            loss = F.cross_entropy(net(images), labels)  # + L2 via the optimizer's weight decay
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            ema.update(net, step)
            step += 1
            if step == steps:
                break
        epoch += 1
    if device == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


class StepTimer(L.Callback):
    """Times the fit loop only (not Trainer construction, data setup or teardown)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.steps_per_s = trainer.global_step / (time.perf_counter() - self.start)


def lightning_loop(datamodule: MNISTDataModule, steps: int, accelerator: str, out: str) -> float:
    """The project's own training config (logger, progress bar, callbacks) minus validation."""
    overrides = [
        f"trainer.max_steps={steps}",
        f"trainer.accelerator={accelerator}",
        "+trainer.limit_val_batches=0",
        "~callbacks.model_checkpoint",
        f"hydra.run.dir={out}",
        "seed=0",
    ]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    cfg.paths.output_dir = out
    _, module, trainer, _ = build(cfg)
    timer = StepTimer()
    trainer.callbacks.append(timer)
    trainer.fit(module, datamodule=datamodule)
    return timer.steps_per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-root", default=None, help="MNIST IDX folder; random data of MNIST's shape if omitted")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    datamodule = MNISTDataModule(root=args.data_root, download=False)
    if args.data_root:
        datamodule.setup("fit")
    else:
        g = torch.Generator().manual_seed(0)
        datamodule.train_set = (torch.rand(55000, 784, generator=g), torch.randint(0, 10, (55000,), generator=g))
        datamodule.val_set = datamodule.test_set = (datamodule.train_set[0][:5000], datamodule.train_set[1][:5000])
    accelerator = "gpu" if args.device == "cuda" else "cpu"

    plain, lightning = [], []
    with tempfile.TemporaryDirectory() as out:
        lightning_loop(datamodule, 200, accelerator, out)  # warm-up: imports, allocator, threads
        for _ in range(args.repeats):
            plain.append(plain_loop(datamodule.train_set, args.steps, args.device))
            lightning.append(lightning_loop(datamodule, args.steps, accelerator, out))
    p, l = statistics.median(plain), statistics.median(lightning)
    print(f"device={args.device} torch={torch.__version__} lightning={L.__version__} threads={torch.get_num_threads()}")
    print(f"plain PyTorch loop : {p:7.1f} steps/s  (runs: {', '.join(f'{x:.0f}' for x in plain)})")
    print(f"Lightning loop     : {l:7.1f} steps/s  (runs: {', '.join(f'{x:.0f}' for x in lightning)})")
    print(f"ratio Lightning/plain: {l / p:.3f}")


if __name__ == "__main__":
    main()
