"""Train (or re-measure) the demo model: a WRN-AIB-qt on synthetic glyphs, on the CPU by default.

    .venv/bin/python scripts/train_demo_model.py               # train, evaluate, write aib_deploy/data/
    .venv/bin/python scripts/train_demo_model.py --evaluate    # re-measure the committed checkpoint

Design experiments (issue 14): `--family vgg` trains VGG-CIFAR instead of WRN-CIFAR, `--device cuda`
trains on a GPU, and the scene options (`--scale`, `--strokes`, `--blobs`, `--decoys`, ...) change the
synthetic data (their defaults are the demo's data). A non-default scene is also scored on the demo's
own scenes (`default_scenes` in the metrics). `scripts/demo_design_sweep.py` runs many of these at once.

The checkpoint is written in the paper's WRN layout ({'epoch', 'state_dict',
'acc', 'best_acc', 'optimizer', 'amp'}), so every aib tool treats it like a
user's checkpoint. The measured figures go to aib_deploy/data/wrn_aib_qt_glyphs.metrics.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from aib_deploy.card.architecture import Architecture
from aib_deploy.card.presets import NORMALIZATION
from aib_deploy.demo.training import aib_loss, init_like_wrn_original
from aib_deploy.localization import box_mask, score_localization
from aib_deploy.media.synthetic import DEFAULT_DESIGN, GLYPH_CLASSES, SceneDesign, make_dataset
from aib_deploy.models import AibNet, build_model
from aib_deploy.models.checkpoint import load_model
from aib_deploy.runtime.preprocess import Preprocessor, resize_to

OUTPUT = Path(__file__).resolve().parent.parent / "aib_deploy" / "data"
CHECKPOINT_NAME = "wrn_aib_qt_glyphs.pth"
METRICS_NAME = "wrn_aib_qt_glyphs.metrics.json"
VGG_CHECKPOINT_NAME = "vgg_aib_qt_glyphs.pth"
VGG_METRICS_NAME = "vgg_aib_qt_glyphs.metrics.json"
RENDER_SIZE = 96  # images are drawn larger and shrunk by the runtime's own preprocessing
INPUT_SIZE = 32
FAMILIES = {"wrn": "wrn_cifar", "vgg": "vgg_cifar"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluate", action="store_true", help="only re-measure the committed checkpoint")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument(
        "--family", choices=sorted(FAMILIES), default="wrn", help="wrn: WRN-CIFAR (--depth, --widen-factor); vgg: VGG-16-CIFAR"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--widen-factor", type=int, default=2)
    parser.add_argument("--K", type=int, default=64)
    parser.add_argument("--qt-num", type=int, default=20, help="anchors (the paper: 20 for CIFAR-100, 50 for CIFAR-10)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--beta", type=float, default=1e-2)
    parser.add_argument(
        "--anchor-lr-ratio",
        type=float,
        default=1e-4,
        help="the anchors' learning rate as a share of --lr: the paper's code uses 1e-4 (--lr_ratio); "
        "0 freezes them at their linspace(0, 1) start",
    )
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    parser.add_argument(
        "--init", choices=["original", "pytorch"], default="original", help="the WRN code's initialisation, or PyTorch's defaults"
    )
    parser.add_argument(
        "--attention-bias-init",
        type=float,
        default=-3.0,
        help="start value of the bias right before the attention's sigmoid (WRN: a batch norm's): "
        "negative starts every cell near 0, so attention must be raised where it helps",
    )
    parser.add_argument("--pool-size", type=int, default=12000, help="training images, redrawn every epoch")
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    scene = parser.add_argument_group("scene design (defaults: the demo's data)")
    scene.add_argument(
        "--scale",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=(DEFAULT_DESIGN.min_scale, DEFAULT_DESIGN.max_scale),
        help="glyph side / frame side",
    )
    scene.add_argument("--strokes", type=int, nargs=2, metavar=("FEWEST", "MOST"), default=DEFAULT_DESIGN.strokes)
    scene.add_argument(
        "--vivid-share", type=float, default=DEFAULT_DESIGN.vivid_share, help="share of the strokes drawn in glyph colours"
    )
    scene.add_argument(
        "--blobs",
        type=int,
        nargs=2,
        metavar=("FEWEST", "MOST"),
        default=DEFAULT_DESIGN.blobs,
        help="filled blobs in the glyphs' colours whose shapes are no glyph",
    )
    scene.add_argument("--blob-scale", type=float, nargs=2, metavar=("MIN", "MAX"), default=DEFAULT_DESIGN.blob_scale)
    scene.add_argument(
        "--decoys",
        type=int,
        nargs=2,
        metavar=("FEWEST", "MOST"),
        default=DEFAULT_DESIGN.decoys,
        help="smaller glyphs of other classes",
    )
    scene.add_argument("--decoy-scale", type=float, nargs=2, metavar=("MIN", "MAX"), default=DEFAULT_DESIGN.decoy_scale)
    scene.add_argument("--decoy-colour", choices=["muted", "vivid"], default=DEFAULT_DESIGN.decoy_colour)
    scene.add_argument(
        "--texture", type=float, default=DEFAULT_DESIGN.texture, help="std (0-255) of a blocky colour texture over the background"
    )
    scene.add_argument("--texture-cell", type=int, default=DEFAULT_DESIGN.texture_cell, help="its block side in pixels")
    scene.add_argument("--glyph-colour", choices=["muted", "vivid"], default=DEFAULT_DESIGN.glyph_colour)
    experiment = parser.add_argument_group("experiments")
    experiment.add_argument("--pool-cache", type=Path, help="a folder where rendered pools are kept and reused")
    experiment.add_argument("--json-out", type=Path, help="also write the metrics here")
    experiment.add_argument("--no-save", action="store_true", help="write no checkpoint or metrics file to --output")
    experiment.add_argument("--maps-out", type=Path, help="write 16 test images, their maps and boxes here (.npz)")
    return parser.parse_args(argv)


def scene_design(args: argparse.Namespace) -> SceneDesign:
    return SceneDesign(
        min_scale=args.scale[0],
        max_scale=args.scale[1],
        strokes=tuple(args.strokes),
        vivid_share=args.vivid_share,
        blobs=tuple(args.blobs),
        blob_scale=tuple(args.blob_scale),
        decoys=tuple(args.decoys),
        decoy_scale=tuple(args.decoy_scale),
        decoy_colour=args.decoy_colour,
        texture=args.texture,
        texture_cell=args.texture_cell,
        glyph_colour=args.glyph_colour,
    )


def epoch_seeds(args: argparse.Namespace) -> list[int]:
    """The seeds of the training pools `train` draws, one per epoch."""
    batches = (args.pool_size - args.batch) // args.batch + 1
    return [args.seed * 1000 + epoch + 1 for epoch in range(-(-args.steps // batches))]


def shrink(images: np.ndarray) -> np.ndarray:
    """Frames resized to the network's input as the runtime does (area), RGB uint8: N x 32 x 32 x 3."""
    return np.stack([cv2.cvtColor(resize_to(image, INPUT_SIZE), cv2.COLOR_BGR2RGB) for image in images])


def pool_path(cache: Path, design: SceneDesign, count: int, seed: int) -> Path:
    key = hashlib.sha256(repr((design, count, seed, RENDER_SIZE, INPUT_SIZE)).encode()).hexdigest()[:20]
    return cache / f"pool-{key}.npz"


def render_pool(design: SceneDesign, count: int, seed: int, cache: Path | None = None) -> tuple[np.ndarray, ...]:
    """(shrunk RGB images, labels, boxes in RENDER_SIZE pixels) of make_dataset(count, RENDER_SIZE, seed, design),
    read from or written to `cache` when given."""
    path = None
    if cache is not None:
        path = pool_path(cache, design, count, seed)
        if path.exists():
            with np.load(path) as data:
                return data["images"], data["labels"], data["boxes"]
    images, labels, boxes = make_dataset(count, RENDER_SIZE, seed=seed, design=design)
    small = shrink(images)
    if path is not None:
        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")
        np.savez(partial, images=small, labels=labels, boxes=boxes)
        partial.replace(path)
    return small, labels, boxes


def as_tensors(preprocessor: Preprocessor, small: np.ndarray, device: str = "cpu") -> torch.Tensor:
    """Shrunk RGB uint8 images normalised by the runtime's Preprocessor."""
    tensor = torch.from_numpy(np.ascontiguousarray(preprocessor.normalize(small).transpose(0, 3, 1, 2)))
    return tensor.to(device).contiguous(memory_format=torch.channels_last)


def attention_profile(maps: list[np.ndarray], boxes: np.ndarray) -> dict:
    """Mean attention inside the box and in rings 1, 2, 3 and >= 4 cells (Chebyshev) outside it."""
    sums, counts = np.zeros(5), np.zeros(5)
    for attention, box in zip(maps, boxes):
        inside = box_mask(box, RENDER_SIZE, RENDER_SIZE, attention.shape[-1])
        distance = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_C, 3)
        bins = np.minimum(np.ceil(distance).astype(int), 4)
        sums += np.bincount(bins.ravel(), attention.ravel().astype(np.float64), 5)
        counts += np.bincount(bins.ravel(), minlength=5)
    means = sums / np.maximum(counts, 1)
    return {"inside": means[0], "ring1": means[1], "ring2": means[2], "ring3": means[3], "beyond": means[4]}


def evaluate(
    model: AibNet,
    inputs: torch.Tensor,
    labels: np.ndarray,
    boxes: np.ndarray,
    seed: int,
    maps_out: Path | None = None,
    small: np.ndarray | None = None,
) -> dict:
    model.eval()
    deterministic_hits, stochastic_hits, maps, used = 0, 0, [], set()
    generator = torch.Generator(device=inputs.device).manual_seed(seed)
    with torch.no_grad():
        for start in range(0, len(inputs), 250):
            chunk = inputs[start : start + 250]
            outputs = model.deterministic(chunk)
            deterministic_hits += int((outputs.logits.argmax(1).cpu().numpy() == labels[start : start + 250]).sum())
            sampled = model.stochastic(chunk, num_avg=4, generator=generator)
            stochastic_hits += int((sampled.logits.argmax(1).cpu().numpy() == labels[start : start + 250]).sum())
            maps.extend(outputs.attention[:, 0].cpu().numpy())
            if outputs.anchor_index is not None:
                used.update(outputs.anchor_index.unique().tolist())
    scores = score_localization(maps, boxes, RENDER_SIZE, RENDER_SIZE)
    if maps_out is not None:
        maps_out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            maps_out,
            maps=np.stack(maps[:16]),
            boxes=boxes[:16],
            labels=labels[:16],
            images=small[:16] if small is not None else np.zeros(0),
        )
    return {
        "test_images": len(labels),
        "accuracy_deterministic": deterministic_hits / len(labels),
        "accuracy_stochastic_num_avg_4": stochastic_hits / len(labels),
        **scores.to_dict(),
        "attention_profile": {k: round(float(v), 4) for k, v in attention_profile(maps, boxes).items()},
        "anchors": [round(float(v), 4) for v in model.emb.anchors.detach().cpu()] if model.arch.quantized else None,
        "anchors_used": sorted(used),
    }


def architecture(args: argparse.Namespace) -> Architecture:
    if args.family == "vgg":
        return Architecture("vgg_cifar", num_classes=len(GLYPH_CLASSES), K=args.K, quantized=True, qt_num=args.qt_num)
    return Architecture(
        "wrn_cifar",
        num_classes=len(GLYPH_CLASSES),
        K=args.K,
        quantized=True,
        qt_num=args.qt_num,
        depth=args.depth,
        widen_factor=args.widen_factor,
    )


def train(args: argparse.Namespace, preprocessor: Preprocessor) -> tuple[AibNet, dict]:
    arch = architecture(args)
    design = scene_design(args)
    torch.manual_seed(args.seed)
    model = build_model(arch)
    if args.init == "original":
        init_like_wrn_original(model)
    before_sigmoid = list(model.att_module_mu)[-2]  # WRN: a batch norm; VGG: a convolution
    if before_sigmoid.bias is not None:
        torch.nn.init.constant_(before_sigmoid.bias, args.attention_bias_init)
    model = model.to(args.device).to(memory_format=torch.channels_last).train()
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
    # On the CPU one generator draws the order and the noise, as before; a GPU draws its noise with its own.
    noise = generator if args.device == "cpu" else torch.Generator(device=args.device).manual_seed(args.seed)
    started, step, epoch = time.perf_counter(), 0, 0
    seeds = epoch_seeds(args)
    while step < args.steps:
        small, labels, _ = render_pool(design, args.pool_size, seeds[epoch], args.pool_cache)
        inputs, targets = as_tensors(preprocessor, small, args.device), torch.from_numpy(labels).to(args.device)
        order = torch.randperm(len(inputs), generator=generator).to(args.device)
        for start in range(0, len(order) - args.batch + 1, args.batch):
            batch = order[start : start + args.batch]
            terms = aib_loss(model, inputs[batch], targets[batch], beta=args.beta, generator=noise)
            optimizer.zero_grad(set_to_none=True)
            terms.total.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step % 100 == 0:
                accuracy = (terms.logits.argmax(1) == targets[batch]).float().mean().item()
                print(
                    f"step {step}: loss {terms.total.item():.3f} ce {terms.cross_entropy.item():.3f} "
                    f"kl {terms.kl.item():.2f} batch acc {accuracy:.2f} ({time.perf_counter() - started:.0f} s)"
                )
            if step == args.steps:
                break
        epoch += 1
    info = {
        "train_seconds": round(time.perf_counter() - started, 1),
        "steps": step,
        "epochs": epoch,
        "trained_on": describe_device(args.device),
        "scene_changes": design.changes(),
    }
    return model.eval(), info


def describe_device(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({torch.get_num_threads()} threads)"


def save_wrn_layout(model: AibNet, path: Path, metrics: dict, epochs: int) -> None:
    """The paper's WRN checkpoint layout; trained on a CPU, so no `module.` prefix. `args.dataset` names the
    glyph dataset, as the paper's code records its dataset, so every tool finds the glyph labels by itself."""
    model = model.cpu().to(memory_format=torch.contiguous_format)  # one copy per shared tensor
    state_dict = model.state_dict()
    torch.save(
        {
            "epoch": epochs,
            "state_dict": state_dict,
            "acc": 100 * metrics["accuracy_deterministic"],
            "best_acc": 100 * metrics["accuracy_deterministic"],
            "optimizer": {},
            "amp": {},
            "args": argparse.Namespace(dataset="glyphs"),
        },
        path,
    )


def save_vgg_layout(model: AibNet, path: Path, metrics: dict, epochs: int) -> None:
    """The paper's VGG-CIFAR checkpoint layout: {'model_states': {'net'}, 'args', ...}."""
    model = model.cpu().to(memory_format=torch.contiguous_format)
    torch.save(
        {
            "model_states": {"net": model.state_dict()},
            "epoch": epochs,
            "acc": 100 * metrics["accuracy_deterministic"],
            "args": argparse.Namespace(dataset="glyphs"),
        },
        path,
    )


def jsonable(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    mean, std = NORMALIZATION[FAMILIES[args.family]]
    preprocessor = Preprocessor(INPUT_SIZE, mean, std)
    design = scene_design(args)
    small, labels, boxes = render_pool(design, args.test_size, 10_000 + args.seed, args.pool_cache)
    test_inputs = as_tensors(preprocessor, small, args.device)
    checkpoint_name, metrics_name = (
        (VGG_CHECKPOINT_NAME, VGG_METRICS_NAME) if args.family == "vgg" else (CHECKPOINT_NAME, METRICS_NAME)
    )
    path = args.output / checkpoint_name
    if args.evaluate:
        model, info = load_model(path).model, json.loads((args.output / metrics_name).read_text())["training"]
        model = model.to(args.device)
    else:
        model, info = train(args, preprocessor)
        info.update({k: jsonable(v) for k, v in vars(args).items() if k not in ("evaluate", "output")})
    metrics = evaluate(model, test_inputs, labels, boxes, seed=args.seed, maps_out=args.maps_out, small=small)
    if design != DEFAULT_DESIGN:
        # The demo draws the default scenes, so a design is also scored there.
        small, labels, boxes = render_pool(DEFAULT_DESIGN, args.test_size, 10_000 + args.seed, args.pool_cache)
        metrics["default_scenes"] = evaluate(model, as_tensors(preprocessor, small, args.device), labels, boxes, seed=args.seed)
    metrics["training"] = info
    print(json.dumps(metrics, indent=1))
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(metrics, indent=1) + "\n")
    if args.no_save:
        return
    args.output.mkdir(parents=True, exist_ok=True)
    if not args.evaluate:
        save = save_vgg_layout if args.family == "vgg" else save_wrn_layout
        save(model, path, metrics, info["epochs"])
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    (args.output / metrics_name).write_text(json.dumps(metrics, indent=1) + "\n")


if __name__ == "__main__":
    main()
