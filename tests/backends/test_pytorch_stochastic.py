"""The PyTorch runner's own capability: the paper's stochastic evaluation, which only a checkpoint can run."""

import numpy as np
import pytest

from aib_deploy.backends.pytorch import TorchRunner
from aib_deploy.demo.run import bundled_checkpoint


def test_stochastic_inference_is_reproducible_from_its_generator_and_differs_from_the_deterministic_path():
    with TorchRunner(bundled_checkpoint(), device="cpu") as runner:
        size = runner.card.input_size
        images = np.random.default_rng(0).standard_normal((3, 3, size, size), dtype=np.float32)
        first = runner.infer_stochastic(images, 4, runner.stochastic_generator(seed=0))
        again = runner.infer_stochastic(images, 4, runner.stochastic_generator(seed=0))
        other = runner.infer_stochastic(images, 4, runner.stochastic_generator(seed=1))
        deterministic = runner.infer(images)
    assert set(first) == {"logits", "attention"} and first["logits"].shape == deterministic["logits"].shape
    assert first["attention"].shape == deterministic["attention"].shape and first["logits"].dtype == np.float32
    assert np.array_equal(first["logits"], again["logits"]) and not np.array_equal(first["logits"], other["logits"])
    assert not np.array_equal(first["logits"], deterministic["logits"])


def test_stochastic_inference_needs_an_active_runner():
    runner = TorchRunner(bundled_checkpoint(), device="cpu")
    with pytest.raises(RuntimeError, match="activate"):
        runner.stochastic_generator(seed=0)
