"""Exports run without this repository: .pt2 in a clean interpreter, ONNX in onnxruntime."""

import json
import subprocess
import sys

import numpy as np
import onnxruntime
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_lightning.data import MNISTDataModule
from mnist_lightning.errors import ConfigError
from mnist_lightning.persistence.checkpoints import load_checkpoint
from mnist_lightning.persistence.export_run import export
from mnist_lightning.persistence.restore import mlp_from_checkpoint
from tests.helpers import compose_config, run_script


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    result = run_script(
        "export.py", f"ckpt={trained_run}", f"export_dir={out}", f"hydra.run.dir={out / 'log'}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def reference(trained_run, synthetic_root):
    net = mlp_from_checkpoint(load_checkpoint(trained_run / "checkpoints" / "step000060.ckpt"), "ema")
    dm = MNISTDataModule(root=str(synthetic_root), download=False, val_size=200)
    dm.setup()
    images = dm.test_set[0]
    with torch.no_grad():
        return images.numpy(), net(images).numpy()


def test_pt2_loads_in_an_interpreter_that_cannot_import_our_code(exported, reference, tmp_path):
    images, logits = reference
    np.save(tmp_path / "images.npy", images)
    # The project's packages are made unimportable (a None in sys.modules makes `import` raise), also
    # where the suite's interpreter has the project installed (`pip install .` or `-e .`).
    code = (
        "import sys, numpy, torch\n"
        "sys.modules.update(mnist_lightning=None, hydra_plugins=None)\n"
        f"m = torch.export.load({str(exported / 'model.pt2')!r}).module()\n"
        "x = torch.from_numpy(numpy.load('images.npy'))\n"
        "numpy.save('out.npy', m(x).detach().numpy())\n"
    )
    # -I: isolated mode, no PYTHONPATH, no user site, no script dir; run from an empty folder.
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = np.load(tmp_path / "out.npy")
    assert np.array_equal(out.argmax(1), logits.argmax(1)) and np.allclose(out, logits, atol=1e-5)


def test_onnx_in_onnxruntime_matches_pytorch_with_dynamic_batch(exported, reference):
    images, logits = reference
    session = onnxruntime.InferenceSession(str(exported / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "images" and session.get_outputs()[0].name == "logits"
    out = session.run(None, {"images": images})[0]
    assert np.array_equal(out.argmax(1), logits.argmax(1)) and np.allclose(out, logits, atol=1e-4)
    assert session.run(None, {"images": images[:1]})[0].shape == (1, 10)
    assert session.run(None, {"images": images[:7]})[0].shape == (7, 10)


def test_structure_json_is_readable_and_complete(exported, trained_run):
    structure = json.loads((exported / "model.json").read_text())
    assert structure["training_step"] == 60 and structure["weights"] == "ema"
    assert [p["name"] for p in structure["parameters"]] == [
        "layer1.weight",
        "layer1.bias",
        "layer2.weight",
        "layer2.bias",
    ]
    assert (
        structure["parameters"][0]["shape"] == [500, 784]
        and structure["num_parameters"] == 784 * 500 + 500 + 5010
    )
    assert structure["hyper_parameters"]["lr"] == 0.1
    assert structure["input"]["shape"] == ["batch", 784] and structure["output"]["shape"] == ["batch", 10]
    final = json.loads((trained_run / "metrics.json").read_text())
    assert structure["metrics"]["final"]["test_acc"] == final["test_acc"]


def test_bad_format_is_a_clear_error(trained_run, tmp_path):
    result = run_script("export.py", f"ckpt={trained_run}", "format=tflite", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2 and "invalid config value format='tflite'" in result.stderr + result.stdout


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(alphabet=st.sampled_from("ab./\\-_ ~"), max_size=12)
    | st.sampled_from(["..", "../../escape", "/tmp/x", ""])
)
def test_an_export_name_never_writes_outside_export_dir(trained_run, tmp_path, name):
    """Any `name=`: the files land in export_dir, or it is refused with one error naming the key."""
    out = tmp_path / f"case{abs(hash(name))}" / "export"
    cfg = compose_config("export", [f"ckpt={trained_run}", "format=json", f"export_dir={out}"])
    cfg.name = name
    before = set(tmp_path.rglob("*"))
    try:
        written = export(cfg)
    except ConfigError as exc:
        assert str(exc).startswith("invalid config value name=")
        assert set(tmp_path.rglob("*")) <= before | {out, out.parent}  # nothing written
        return
    assert [p.parent for p in written.values()] == [out] and written["json"].name == f"{name}.json"
