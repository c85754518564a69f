"""Where the IDX files come from: a local folder, a system package, or torchvision's download.

Real users download through torchvision; offline machines point `root` at a folder holding
the four IDX files (gzipped or not, flat or in torchvision's `<Name>/raw/` layout).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from mnist_lightning.data.idx import read_idx
from mnist_lightning.errors import DataError

log = logging.getLogger(__name__)

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset in MNIST's IDX layout and the places it may already be on disk."""

    name: str
    torchvision_class: str
    system_dirs: tuple[str, ...] = ()
    image_shape: tuple[int, int] = (28, 28)
    num_classes: int = 10
    first_train_labels: tuple[
        int, ...
    ] = ()  # the published files' first labels: which dataset a folder holds


DATASETS = {
    "mnist": DatasetSpec(
        "mnist", "MNIST", first_train_labels=(5, 0, 4, 1, 9, 2, 1, 3, 1, 4, 3, 5, 3, 6, 1, 7)
    ),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist",
        "FashionMNIST",
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        first_train_labels=(9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9, 5, 5, 7, 9),
    ),
}


def check_is_dataset(name: str, labels: torch.Tensor, where: Path) -> None:
    """A folder holding another known dataset than `name` (e.g. MNIST under data=fashion_mnist) is refused:
    both have the same layout, so it would train silently on the wrong images."""
    head = tuple(labels[:16].tolist())
    for other, spec in DATASETS.items():
        if other != name and spec.first_train_labels and head == spec.first_train_labels:
            raise DataError(
                f"data.root={where} holds {other}, but data={name} was asked for: give the folder of {name}'s "
                f"files, or data={other}"
            )


def candidate_dirs(spec: DatasetSpec, root: str | Path | None) -> list[Path]:
    """Folders searched, in order: `root`, torchvision's layout under it, system packages."""
    dirs: list[Path] = []
    if root is not None:
        root = Path(root).expanduser()
        dirs += [root, root / spec.torchvision_class / "raw"]
    dirs += [Path(d) for d in spec.system_dirs]
    return dirs


def find_file(dirs: list[Path], stem: str) -> Path | None:
    """First existing `stem` or `stem.gz` in `dirs`."""
    for folder in dirs:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def find_split_files(spec: DatasetSpec, root: str | Path | None) -> dict[str, tuple[Path, Path]] | None:
    """Paths of every split's (images, labels) files, or None if any file is missing."""
    dirs = candidate_dirs(spec, root)
    found = {}
    for split, stems in SPLIT_FILES.items():
        paths = tuple(find_file(dirs, stem) for stem in stems)
        if None in paths:
            return None
        found[split] = paths
    return found


def download(spec: DatasetSpec, root: str | Path) -> None:
    """Fetch the raw files with torchvision into `root/<Name>/raw`."""
    import torchvision.datasets

    dataset_class = getattr(torchvision.datasets, spec.torchvision_class)
    log.info("Downloading %s into %s with torchvision", spec.name, root)
    for train in (True, False):
        dataset_class(str(root), train=train, download=True)


def _not_found(spec: DatasetSpec, root: str | Path | None, reason: str) -> DataError:
    names = [stem + "[.gz]" for stems in SPLIT_FILES.values() for stem in stems]
    looked = "\n".join(f"  - {d}" for d in candidate_dirs(spec, root)) or "  (no folder given)"
    hint = "\n  or: apt-get install dataset-fashion-mnist" if spec.system_dirs else ""
    return DataError(
        f"{spec.name} not found: looked for {', '.join(names)} in\n{looked}\n"
        f"and {reason}.\n"
        f"Fix: pass data.root=<folder with the four IDX files> (gzipped or not), "
        f"or allow the download (data.download=true) on a machine with internet.{hint}"
    )


def load_split(images_path: Path, labels_path: Path, spec: DatasetSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one split and check that images and labels agree."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or tuple(images.shape[1:]) != spec.image_shape or images.dtype != torch.uint8:
        raise DataError(
            f"{images_path}: expected uint8 images of shape (N, {spec.image_shape[0]}, "
            f"{spec.image_shape[1]}), found {images.dtype} {tuple(images.shape)}"
        )
    if labels.ndim != 1 or labels.dtype != torch.uint8:
        raise DataError(
            f"{labels_path}: expected a 1-D uint8 label vector, found {labels.dtype} {tuple(labels.shape)}"
        )
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    if len(labels) and int(labels.max()) >= spec.num_classes:
        raise DataError(f"{labels_path}: label {int(labels.max())} is outside 0-{spec.num_classes - 1}")
    return images, labels.long()


def locate_dataset(
    name: str, root: str | Path | None, download_if_missing: bool = True
) -> dict[str, tuple[Path, Path]]:
    """Paths of each split's (images, labels) IDX files, downloading them if allowed."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    spec = DATASETS[name]
    found = find_split_files(spec, root)
    if found is not None:
        return found
    if not download_if_missing or root is None:
        raise _not_found(spec, root, "the download is off (data.download=false)")
    try:
        download(spec, root)
    except Exception as exc:  # torchvision raises RuntimeError/URLError/OSError offline
        raise _not_found(spec, root, f"the download failed ({type(exc).__name__}: {exc})") from exc
    found = find_split_files(spec, root)
    if found is None:
        raise _not_found(spec, root, "the download finished without producing them")
    return found


def load_dataset(
    name: str, root: str | Path | None, download_if_missing: bool = True
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{'train': (uint8 images N×28×28, int64 labels), 'test': ...} from disk, downloading if allowed."""
    found = locate_dataset(name, root, download_if_missing)
    log.info("Loading %s from %s", name, found["train"][0].parent)
    splits = {split: load_split(*paths, DATASETS[name]) for split, paths in found.items()}
    check_is_dataset(name, splits["train"][1], found["train"][0].parent)
    return splits
