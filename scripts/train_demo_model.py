"""Train (or re-measure) the demo model: a WRN-AIB-qt on synthetic glyphs, CPU only.

    .venv/bin/python scripts/train_demo_model.py               # train, evaluate, write aib_deploy/data/
    .venv/bin/python scripts/train_demo_model.py --evaluate    # re-measure the committed checkpoint

The checkpoint is written in the paper's WRN layout ({'epoch', 'state_dict',
'acc', 'best_acc', 'optimizer', 'amp'}), so every aib tool treats it like a
user's checkpoint. The measured figures go to aib_deploy/data/wrn_aib_qt_glyphs.metrics.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from aib_deploy.card.architecture import Architecture
from aib_deploy.card.presets import NORMALIZATION
from aib_deploy.localization import score_localization
from aib_deploy.demo.training import aib_loss, init_like_wrn_original
from aib_deploy.media.synthetic import GLYPH_CLASSES, make_dataset
from aib_deploy.models import AibNet, build_model
from aib_deploy.models.checkpoint import load_model
from aib_deploy.runtime.preprocess import Preprocessor

OUTPUT = Path(__file__).resolve().parent.parent / "aib_deploy" / "data"
CHECKPOINT_NAME = "wrn_aib_qt_glyphs.pth"
METRICS_NAME = "wrn_aib_qt_glyphs.metrics.json"
RENDER_SIZE = 96  # images are drawn larger and shrunk by the runtime's own preprocessing


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluate", action="store_true", help="only re-measure the committed checkpoint")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--widen-factor", type=int, default=2)
    parser.add_argument("--K", type=int, default=64)
    parser.add_argument("--qt-num", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--beta", type=float, default=1e-2)
    parser.add_argument("--anchor-lr-ratio", type=float, default=1.0,
                        help="the anchors' learning rate as a share of --lr: the paper's code uses 1e-4 (--lr_ratio); "
                        "0 freezes them at their linspace(0, 1) start")  # fmt: skip
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    parser.add_argument("--init", choices=["original", "pytorch"], default="original",
                        help="the WRN code's initialisation, or PyTorch's defaults")
    parser.add_argument("--pool-size", type=int, default=12000, help="training images, redrawn every epoch")
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args()


def as_tensors(preprocessor: Preprocessor, images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(preprocessor.batch(list(images))).contiguous(memory_format=torch.channels_last)


def evaluate(model: AibNet, inputs: torch.Tensor, labels: np.ndarray, boxes: np.ndarray, seed: int) -> dict:
    model.eval()
    deterministic_hits, stochastic_hits, maps, used = 0, 0, [], set()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for start in range(0, len(inputs), 250):
            chunk = inputs[start : start + 250]
            outputs = model.deterministic(chunk)
            deterministic_hits += int((outputs.logits.argmax(1).numpy() == labels[start : start + 250]).sum())
            sampled = model.stochastic(chunk, num_avg=4, generator=generator)
            stochastic_hits += int((sampled.logits.argmax(1).numpy() == labels[start : start + 250]).sum())
            maps.extend(outputs.attention[:, 0].numpy())
            if outputs.anchor_index is not None:
                used.update(outputs.anchor_index.unique().tolist())
    scores = score_localization(maps, boxes, RENDER_SIZE, RENDER_SIZE)
    return {
        "test_images": len(labels),
        "accuracy_deterministic": deterministic_hits / len(labels),
        "accuracy_stochastic_num_avg_4": stochastic_hits / len(labels),
        **scores.to_dict(),
        "anchors": [round(float(v), 4) for v in model.emb.anchors.detach()] if model.arch.quantized else None,
        "anchors_used": sorted(used),
    }


def train(args: argparse.Namespace, preprocessor: Preprocessor) -> tuple[AibNet, dict]:
    arch = Architecture("wrn_cifar", num_classes=len(GLYPH_CLASSES), K=args.K, quantized=True,
                        qt_num=args.qt_num, depth=args.depth, widen_factor=args.widen_factor)  # fmt: skip
    torch.manual_seed(args.seed)
    model = build_model(arch)
    if args.init == "original":
        init_like_wrn_original(model)
    model = model.to(memory_format=torch.channels_last).train()
    anchors = list(model.emb.parameters())
    others = [parameter for parameter in model.parameters() if all(parameter is not a for a in anchors)]
    groups = [{"params": others, "lr": args.lr}, {"params": anchors, "lr": args.lr * args.anchor_lr_ratio}]
    if args.optimizer == "adam":
        optimizer = torch.optim.AdamW(groups, lr=args.lr, weight_decay=args.weight_decay)
    else:
        optimizer = torch.optim.SGD(groups, lr=args.lr, momentum=0.9, weight_decay=args.weight_decay, nesterov=True)
    max_lr = [args.lr, args.lr * args.anchor_lr_ratio]
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=args.steps)
    generator = torch.Generator().manual_seed(args.seed)
    started, step, epoch = time.perf_counter(), 0, 0
    while step < args.steps:
        images, labels, _ = make_dataset(args.pool_size, RENDER_SIZE, seed=args.seed * 1000 + epoch + 1)
        inputs, targets = as_tensors(preprocessor, images), torch.from_numpy(labels)
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(order) - args.batch + 1, args.batch):
            batch = order[start : start + args.batch]
            terms = aib_loss(model, inputs[batch], targets[batch], beta=args.beta, generator=generator)
            optimizer.zero_grad(set_to_none=True)
            terms.total.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step % 100 == 0:
                accuracy = (terms.logits.argmax(1) == targets[batch]).float().mean().item()
                print(f"step {step}: loss {terms.total.item():.3f} ce {terms.cross_entropy.item():.3f} "
                      f"kl {terms.kl.item():.2f} batch acc {accuracy:.2f} ({time.perf_counter() - started:.0f} s)")  # fmt: skip
            if step == args.steps:
                break
        epoch += 1
    info = {"train_seconds": round(time.perf_counter() - started, 1), "steps": step, "epochs": epoch}
    return model.eval(), info


def save_wrn_layout(model: AibNet, path: Path, metrics: dict, epochs: int) -> None:
    """The paper's WRN checkpoint layout; trained on a CPU, so no `module.` prefix. `args.dataset` names the
    glyph dataset, as the paper's code records its dataset, so every tool finds the glyph labels by itself."""
    model = model.to(memory_format=torch.contiguous_format)  # one copy per shared tensor
    state_dict = model.state_dict()
    torch.save(
        {"epoch": epochs, "state_dict": state_dict, "acc": 100 * metrics["accuracy_deterministic"],
         "best_acc": 100 * metrics["accuracy_deterministic"], "optimizer": {}, "amp": {},
         "args": argparse.Namespace(dataset="glyphs")},
        path,
    )  # fmt: skip


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    mean, std = NORMALIZATION["wrn_cifar"]
    preprocessor = Preprocessor(32, mean, std)
    images, labels, boxes = make_dataset(args.test_size, RENDER_SIZE, seed=10_000 + args.seed)
    test_inputs = as_tensors(preprocessor, images)
    path = args.output / CHECKPOINT_NAME
    if args.evaluate:
        model, info = load_model(path).model, json.loads((args.output / METRICS_NAME).read_text())["training"]
    else:
        model, info = train(args, preprocessor)
        info.update({k: v for k, v in vars(args).items() if k not in ("evaluate", "output")})
    metrics = evaluate(model, test_inputs, labels, boxes, seed=args.seed)
    metrics["training"] = info
    print(json.dumps(metrics, indent=1))
    args.output.mkdir(parents=True, exist_ok=True)
    if not args.evaluate:
        save_wrn_layout(model, path, metrics, info["epochs"])
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    (args.output / METRICS_NAME).write_text(json.dumps(metrics, indent=1) + "\n")


if __name__ == "__main__":
    main()
