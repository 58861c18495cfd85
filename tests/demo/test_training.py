"""The paper's objective: every term is finite, gradients reach the anchors, the loss goes down."""

import torch

from aib_deploy.card.architecture import Architecture
from aib_deploy.demo.training import aib_loss, gaussian_kl_to_standard, init_like_wrn_original
from aib_deploy.models import build_model


def test_kl_to_standard_normal():
    assert gaussian_kl_to_standard(torch.zeros(3), torch.ones(3)).item() == 0
    assert gaussian_kl_to_standard(torch.ones(2), torch.ones(2)).item() == 1.0


def test_a_few_steps_reduce_the_loss_and_move_the_anchors():
    torch.manual_seed(0)
    model = build_model(Architecture("wrn_cifar", num_classes=4, K=16, depth=10, widen_factor=1, quantized=True, qt_num=5))
    init_like_wrn_original(model)
    model.train()
    images, labels = torch.randn(16, 3, 32, 32), torch.arange(16) % 4
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    anchors_before = model.emb.weight.detach().clone()
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(15):
        terms = aib_loss(model, images, labels, generator=generator)
        assert all(torch.isfinite(t) for t in terms[:5])
        optimizer.zero_grad()
        terms.total.backward()
        assert model.emb.weight.grad is not None and model.emb.weight.grad.abs().sum() > 0
        optimizer.step()
        losses.append(terms.cross_entropy.item())
    assert losses[-1] < losses[0]
    assert not torch.equal(model.emb.weight, anchors_before)
