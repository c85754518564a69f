"""The GPU step: a replayed CUDA graph trains exactly like the eager step (needs a CUDA device).

CI has no GPU, so these are skipped there; they ran on an H100 and an H200 lent through the
device tool (outputs/gpu-2026-12-04: they caught the graph losing its gradients at validation).
"""

import pytest
import torch

from mnist_lightning.training.run import train
from tests.helpers import compose_train, small_run_overrides

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_graphed_step_trains_like_the_eager_step(synthetic_root, tmp_path, precision):
    records, weights = {}, {}
    for graph in (True, False):
        out = tmp_path / f"graph_{graph}"
        overrides = [
            o for o in small_run_overrides(synthetic_root, out, steps=60) if o != "trainer.accelerator=cpu"
        ]
        cfg = compose_train(
            overrides + ["trainer.accelerator=gpu", f"module.cuda_graph={graph}", f"precision={precision}"]
        )
        records[graph] = train(cfg, out)
        checkpoint = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
        weights[graph] = checkpoint["state_dict"]
    assert records[True]["step"] == records[False]["step"] == 60
    for key, eager in weights[False].items():
        assert torch.allclose(weights[True][key].float(), eager.float(), rtol=1e-4, atol=1e-5), key
    assert records[True]["test_acc"] == pytest.approx(records[False]["test_acc"], abs=0.01)
