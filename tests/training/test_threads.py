"""The CPU thread policy: one thread while another process needs a core, all cores once it is gone."""

import logging
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mnist_lightning.machine import physical_cores
from mnist_lightning.persistence.checkpoints import load_checkpoint
from mnist_lightning.training.run import train
from mnist_lightning.training.threads import (
    CpuThreadGovernor,
    machine_busy_seconds,
    own_cpu_seconds,
    same_bits_on,
    step_gradients,
    threads_beside,
)
from tests.helpers import compose_train, small_run_overrides

# (cores, the others' load in cores, threads chosen for a job allowed all the cores)
BESIDE = [
    (2, 0.0, 2),
    (2, 0.3, 2),
    (2, 0.5, 1),
    (2, 1.0, 1),
    (2, 1.9, 1),
    (8, 0.3, 8),
    (8, 0.5, 7),
    (8, 1.0, 7),
    (8, 3.2, 5),
    (8, 3.5, 4),
    (8, 7.5, 1),
    (16, 0.5, 15),
    (16, 1.0, 15),
    (16, 1.5, 14),
    (16, 8.0, 8),
    (16, 15.9, 1),
    (16, 40.0, 1),
    (64, 0.5, 63),
    (64, 2.0, 62),
    (64, 32.0, 32),
    (64, 63.5, 1),
]


@pytest.mark.parametrize(("cores", "others", "threads"), BESIDE)
def test_threads_beside_others_give_up_only_the_cores_they_take(cores, others, threads):
    assert threads_beside(others, cores, max_threads=cores) == threads


@given(
    cores=st.integers(1, 256),
    share=st.integers(1, 256),
    others=st.floats(0, 512, allow_nan=False),
)
def test_threads_beside_stays_within_the_jobs_share_and_the_free_cores(cores, share, others):
    threads = threads_beside(others, cores, max_threads=min(share, cores))
    assert 1 <= threads <= min(share, cores)
    assert threads == 1 or threads + others <= cores + 0.4  # never more threads than the cores left free


def drive(governor: CpuThreadGovernor, readings: list[float]) -> list[int]:
    """The thread count after each simulated window's reading of the others' load."""
    counts = []
    for window, others in enumerate(readings):
        governor.adjust(others, step=100 * window)
        counts.append(torch.get_num_threads())
    return counts


@pytest.mark.parametrize(
    ("cores", "readings", "counts"),
    [
        # 2 cores: another run takes a core -> 1 thread at once; back after two calm windows
        (2, [0.3, 0.9, 0.1, 0.9, 0.1, 0.1], [2, 1, 1, 1, 1, 2]),
        # 8 cores: an IDE's half core costs one thread; a 4-core job four; back in steps
        (8, [0.5, 4.0, 4.0, 1.0, 1.0, 0.0, 0.0], [7, 4, 4, 4, 7, 7, 8]),
        # 16 cores: a browser's half core never costs more than one thread
        (16, [0.5, 0.6, 0.2, 0.2], [15, 15, 15, 16]),
        # 64 cores: the calm windows must both leave the cores free; the lower one is taken
        (64, [30.0, 10.0, 20.0, 20.0, 0.0], [34, 34, 44, 44, 44]),
    ],
)
def test_governor_follows_simulated_load(cores, readings, counts):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(cores)
        governor = CpuThreadGovernor(max_threads=cores, cores=cores, calm_windows=2)
        assert drive(governor, readings) == counts
        assert governor.thread_counts == {cores, *counts}
    finally:
        torch.set_num_threads(before)


def test_cpu_counters_see_another_process_burn_a_core():
    burner = subprocess.Popen(
        [sys.executable, "-c", "import time\nt = time.time() + 1.5\nwhile time.time() < t: pass"]
    )
    busy, own = machine_busy_seconds(), own_cpu_seconds()
    burner.wait()
    others = (machine_busy_seconds() - busy) - (own_cpu_seconds() - own)
    assert others > 0.8  # the burner's ~1.5 CPU seconds (less its start-up), not ours


class ThreadDependentStep(torch.nn.Module):
    """A model whose loss changes with the thread count: the case where switching would change results."""

    device = torch.device("cpu")

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(3))
        self.step = SimpleNamespace(gradients=self.gradients)  # as training/step.py's TutorialStep

    def gradients(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = (self.weight * images).sum() * torch.get_num_threads()
        loss.backward()
        return loss.detach()


def test_same_bits_on_tells_thread_dependent_results_apart():
    x = torch.ones(3)
    assert same_bits_on((1, 2), lambda: [x * 2])
    assert not same_bits_on((1, 2), lambda: [x * torch.get_num_threads()])


def test_the_thread_probe_leaves_the_runs_gradients_as_they_were():
    """The probe runs the step's own gradients function, which overwrites `.grad` in place: it must
    do so in other buffers, so the run's gradients keep their memory and values."""
    from mnist_lightning.training import MNISTClassifier
    from mnist_lightning.training.step import choose_gradients

    torch.manual_seed(0)
    module = MNISTClassifier()
    gradients = choose_gradients(module.net, torch.float32, torch.device("cpu"), single_process=True)
    module.step = SimpleNamespace(gradients=gradients)
    batch = (torch.rand(1, 100, 784), torch.randint(0, 10, (1, 100)))
    gradients(torch.rand(100, 784), torch.randint(0, 10, (100,)))
    kept = [(p.grad, p.grad.clone()) for p in module.net.parameters()]
    loss, *probed = step_gradients(module, batch)()
    assert loss.ndim == 0 and [g.shape for g in probed] == [p.shape for p in module.net.parameters()]
    for p, (buffer, values) in zip(module.net.parameters(), kept):
        assert p.grad is buffer and torch.equal(p.grad, values)
    assert not any(torch.equal(g, values) for g, (_, values) in zip(probed, kept))


def test_where_threads_change_the_bits_the_count_stays_fixed_and_one_line_says_why(caplog):
    governor = CpuThreadGovernor(max_threads=2)
    with caplog.at_level(logging.INFO):
        governor.on_train_batch_start(None, ThreadDependentStep(), (torch.ones(1, 3), torch.zeros(1)), 0)
    assert governor.policy.startswith("fixed: one training step on 1 and 2 threads gives different bits")
    assert [r.getMessage() for r in caplog.records] == [
        f"Training on a fixed 2 threads: {governor.fixed_reason}"
    ]
    before = torch.get_num_threads()
    governor.on_train_batch_end(
        SimpleNamespace(global_step=100), None, None, None, 99
    )  # never samples, never switches
    assert torch.get_num_threads() == before and governor.switches == 0 and governor.thread_counts == {2}


def test_a_run_beside_a_busy_process_ends_with_the_same_bits_as_alone(synthetic_root, tmp_path):
    """Same seed and config on the same machine: bitwise-equal weights, idle or busy. The thread count
    follows the load only where this CPU computes the step identically on 1 and all threads."""

    def run(out):
        overrides = small_run_overrides(synthetic_root, out, steps=600) + [
            "trainer.val_check_interval=300",
            "test=false",
            "logger=none",
        ]
        return train(compose_train(overrides), out), load_checkpoint(out / "checkpoints" / "last.ckpt")[
            "state_dict"
        ]

    _, alone_weights = run(tmp_path / "alone")
    burner = subprocess.Popen(
        [sys.executable, "-c", "import time\nt = time.time() + 3\nwhile time.time() < t: pass"]
    )
    try:
        busy, busy_weights = run(tmp_path / "busy")
    finally:
        burner.kill()
    assert all(torch.equal(alone_weights[k], busy_weights[k]) for k in alone_weights)
    cores = physical_cores()
    assert busy["cpu_threads"] == cores  # the configured count, restored for validation and test
    if busy["thread_policy"] == "follows the machine's load":
        assert busy["thread_switches"] >= 1 and busy["threads_used"] == [
            1,
            cores,
        ]  # it gave a core up, same bits
    else:
        assert busy["thread_switches"] == 0 and busy["threads_used"] == [cores]
        assert busy["thread_policy"].startswith("fixed: ")
