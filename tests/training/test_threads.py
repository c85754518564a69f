"""The CPU thread policy: one thread while another process needs a core, all cores once it is gone."""

import os
import subprocess
import sys

import torch
import torch.nn.functional as F

from mnist_lightning.models import MLP
from mnist_lightning.models.fused_mlp import fused_forward
from mnist_lightning.training.run import train
from mnist_lightning.training.threads import CpuThreadGovernor, machine_busy_seconds, own_cpu_seconds
from tests.helpers import compose_train, small_run_overrides


def test_policy_drops_to_one_thread_at_once_and_returns_after_calm_windows():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        governor = CpuThreadGovernor(max_threads=2, busy_cores=0.4, calm_cores=0.2, calm_windows=2)
        governor.adjust(0.3, step=100)  # others below the threshold: keep the cores
        assert torch.get_num_threads() == 2
        governor.adjust(0.9, step=200)  # another process takes a core: one thread now
        assert torch.get_num_threads() == 1
        governor.adjust(0.1, step=300)  # one calm window is not enough
        governor.adjust(0.9, step=400)  # busy again: the calm count restarts
        governor.adjust(0.1, step=500)
        assert torch.get_num_threads() == 1
        governor.adjust(0.1, step=600)  # two calm windows in a row: the cores come back
        assert torch.get_num_threads() == 2 and governor.switches == 2
    finally:
        torch.set_num_threads(before)


def test_cpu_counters_see_another_process_burn_a_core():
    burner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time() + 1.5\nwhile time.time() < t: pass"])
    busy, own = machine_busy_seconds(), own_cpu_seconds()
    burner.wait()
    others = (machine_busy_seconds() - busy) - (own_cpu_seconds() - own)
    assert others > 0.8  # the burner's ~1.5 CPU seconds (less its start-up), not ours


def test_a_training_run_beside_a_busy_process_drops_to_one_thread(synthetic_root, tmp_path):
    burner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time() + 4\nwhile time.time() < t: pass"])
    try:
        overrides = small_run_overrides(synthetic_root, tmp_path, steps=3000) + [
            "trainer.val_check_interval=1000", "test=false", "logger=none"]
        record = train(compose_train(overrides), tmp_path)
    finally:
        burner.kill()
    cores = os.cpu_count() or 1
    assert record["cpu_threads"] == cores  # the configured count, restored for validation and test
    assert record["thread_switches"] >= (1 if cores > 1 else 0)  # one core: nothing to give up


def test_switching_threads_keeps_a_run_repeatable():
    """The policy may change the thread count mid-run: the step's results must not depend on it."""
    before = torch.get_num_threads()
    results = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            net = MLP()
            g = torch.Generator().manual_seed(1)
            x, y = torch.rand(100, 784, generator=g), torch.randint(0, 10, (100,), generator=g)
            F.cross_entropy(fused_forward(net, x), y).backward()
            results[threads] = [p.grad for p in net.parameters()]
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(a, b) for a, b in zip(results[1], results[2]))
