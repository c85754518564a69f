import pytest
import torch

from mnist_lightning.data import MNISTDataModule, TensorBatcher
from mnist_lightning.data.idx import read_idx
from mnist_lightning.errors import ConfigError
from tests.helpers import FILES


def test_split_is_tf_read_data_sets_first_images_are_validation(synthetic_root):
    dm = MNISTDataModule(root=str(synthetic_root), download=False, val_size=200, batch_size=50)
    dm.setup("fit")
    raw = read_idx(synthetic_root / (FILES["train"][0] + ".gz")).reshape(1200, -1).float() / 255
    assert torch.equal(dm.val_set[0], raw[:200])
    assert torch.equal(dm.train_set[0], raw[200:])
    assert len(dm.test_set[0]) == 300
    assert dm.train_set[0].dtype == torch.float32 and dm.train_set[0].shape[1] == 784
    assert 0.0 <= dm.train_set[0].min() and dm.train_set[0].max() <= 1.0


def test_random_split_is_seeded(synthetic_root):
    def val_labels(seed):
        dm = MNISTDataModule(
            root=str(synthetic_root), download=False, val_size=200, val_images="random", val_seed=seed
        )
        dm.setup()
        return dm.val_set[1]

    assert torch.equal(val_labels(3), val_labels(3))
    assert not torch.equal(val_labels(3), val_labels(4))


@pytest.mark.parametrize(
    "kwargs, message", [({"val_size": 5000}, "val_size"), ({"batch_size": 5000}, "batch_size")]
)
def test_invalid_sizes(synthetic_root, kwargs, message):
    dm = MNISTDataModule(root=str(synthetic_root), download=False, **{"val_size": 200, **kwargs})
    with pytest.raises(ConfigError, match=message):
        dm.setup()


def _epoch(batcher, epoch):
    batcher.sampler.set_epoch(epoch)
    return torch.cat([labels for _, labels in batcher])


def test_batcher_reshuffles_each_epoch_and_covers_every_sample():
    labels = torch.arange(1000)
    batcher = TensorBatcher(labels.float()[:, None], labels, batch_size=100, shuffle=True, seed=7)
    first, second = _epoch(batcher, 0), _epoch(batcher, 1)
    assert len(batcher) == 10
    assert sorted(first.tolist()) == list(range(1000)) == sorted(second.tolist())
    assert not torch.equal(first, second)
    assert torch.equal(first, _epoch(batcher, 0))  # same (seed, epoch) -> same order
    images, batch_labels = next(iter(batcher))
    assert torch.equal(images[:, 0].long(), batch_labels)  # images and labels stay paired


def test_batcher_resumes_mid_epoch_from_its_state():
    labels = torch.arange(1000)
    full = TensorBatcher(labels[:, None], labels, batch_size=100, shuffle=True, seed=1)
    full.sampler.set_epoch(2)
    reference = [b for _, b in full]
    partial = TensorBatcher(labels[:, None], labels, batch_size=100, shuffle=True, seed=1)
    partial.load_state_dict({"epoch": 2, "batches_done": 4})
    resumed = [b for _, b in partial]
    assert len(resumed) == 6 and all(torch.equal(a, b) for a, b in zip(reference[4:], resumed))


def test_batcher_shards_across_ranks_without_overlap():
    labels = torch.arange(1000)
    shards = [
        _epoch(TensorBatcher(labels[:, None], labels, 50, shuffle=True, seed=3, rank=r, world_size=2), 5)
        for r in range(2)
    ]
    assert len(shards[0]) == len(shards[1]) == 500
    assert sorted(torch.cat(shards).tolist()) == list(range(1000))


def test_eval_batches_keep_order_and_last_partial_batch():
    labels = torch.arange(250)
    batches = list(TensorBatcher(labels[:, None], labels, batch_size=100))
    assert [len(b) for _, b in batches] == [100, 100, 50]
    assert torch.equal(torch.cat([b for _, b in batches]), labels)


def test_batcher_state_saved_at_the_end_of_an_epoch_resumes_at_the_next_epoch():
    """Whether the trainer finishes the saved epoch (nothing left) or starts the next, the order is the same."""
    labels = torch.arange(1000)
    fresh = TensorBatcher(labels[:, None], labels, batch_size=100, shuffle=True, seed=1)
    fresh.sampler.set_epoch(3)
    epoch_3 = [b for _, b in fresh]
    for trainer_finishes_epoch_2 in (True, False):
        batcher = TensorBatcher(labels[:, None], labels, batch_size=100, shuffle=True, seed=1)
        batcher.load_state_dict({"epoch": 2, "batches_done": 10})
        if trainer_finishes_epoch_2:
            assert list(batcher) == []
        batcher.sampler.set_epoch(3)
        assert all(torch.equal(a, b) for a, b in zip([b for _, b in batcher], epoch_3, strict=True))
