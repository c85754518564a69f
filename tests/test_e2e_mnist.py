"""End to end on the real MNIST (../shared/datasets/mnist): the tutorial's command, shortened."""

import json

import pytest

from tests.helpers import mnist_test_digits, run_script

pytestmark = pytest.mark.e2e


def test_tutorial_defaults_reach_real_accuracy_in_2000_steps(real_run):
    metrics = json.loads((real_run / "metrics.json").read_text())
    assert metrics["step"] == 2000 and metrics["weights"] == "ema"
    assert metrics["test_acc_ema"] >= 0.97, metrics
    assert metrics["val_acc_ema"] >= 0.97, metrics
    assert (
        "After 2000 training step(s), test accuracy using average model is"
        in (real_run / "train_output.txt").read_text()
    )


def test_exports_and_predict_on_real_digits(real_run, tmp_path):
    """ONNX agrees with PyTorch on all 10k test images, and predict reads PNG renderings of real
    test digits (resized, inverted, coloured) correctly."""
    import numpy as np
    import onnxruntime
    import torch
    from PIL import Image

    from mnist_lightning.data.datamodule import to_features
    from mnist_lightning.persistence.restore import load_mlp

    images, labels = mnist_test_digits()
    features = to_features(images)
    net, _, _ = load_mlp(real_run, "ema")
    with torch.no_grad():
        torch_logits = net(features).numpy()
    session = onnxruntime.InferenceSession(
        str(real_run / "export" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    onnx_logits = session.run(None, {"images": features.numpy()})[0]
    assert np.array_equal(onnx_logits.argmax(1), torch_logits.argmax(1))
    assert np.abs(onnx_logits - torch_logits).max() < 1e-4

    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for i in range(20):
        digit = images[i].numpy()
        if i % 3 == 1:  # black ink on white paper, scanned larger
            picture = Image.fromarray(255 - digit).resize((140, 140), Image.BICUBIC)
        elif i % 3 == 2:  # coloured ink on white, non-square canvas
            ink = np.zeros((40, 56, 1), dtype=np.float32)
            ink[6:34, 14:42, 0] = digit / 255.0
            blue = np.array([40.0, 40.0, 200.0])
            picture = Image.fromarray((255 - ink * (255 - blue)).astype(np.uint8))
        else:
            picture = Image.fromarray(digit)
        picture.save(pictures / f"{i:02d}.png")
    for model in (real_run, real_run / "export" / "model.onnx"):
        predicted = run_script(
            "predict.py",
            f"ckpt={model}",
            f"inputs={pictures}",
            "results_as=json",
            f"results_file={tmp_path / 'p.json'}",
        )
        assert predicted.returncode == 0, predicted.stderr[-2000:]
        digits = [r["digit"] for r in json.loads((tmp_path / "p.json").read_text())]
        correct = sum(d == int(label) for d, label in zip(digits, labels[:20]))
        assert correct >= 18, (digits, labels[:20].tolist())
