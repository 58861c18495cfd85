"""`aib eval MODEL DATA`: classes and attention scored on the user's own labelled images."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..eval.datasets import SPLITS
from ..eval.run import EvalOptions
from .options import add_failure_option, add_runner_options, check_failures, optional_path, positive_int, runner_options
from .paths import InputPath, ModelPath, OutputPath


def add_eval_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval",
        help="score a model on labelled images: accuracy, and whether its attention points at the object",
        description="Top-1 and top-5 accuracy, the pointing game (attention maximum inside the true box) with its "
        "chance rate, the inside/outside ratio, the attention mass inside the box, anchors used, a per-class "
        "table; for a checkpoint also the paper's stochastic accuracy; with --compare, agreement with another "
        "model. DATA is a folder in CUB-200-2011's layout, one folder per class (ImageFolder), or a .csv / .jsonl "
        "list (path,label[,x,y,w,h]).",
    )
    defaults = EvalOptions()
    parser.add_argument("model", type=ModelPath(), help="an .onnx file (float32, fp16, INT8), a checkpoint or an engine")
    parser.add_argument(
        "data",
        type=InputPath("file or folder"),
        help="a CUB-layout folder, a folder per class, or a .csv / .jsonl list (images under its images/)",
    )
    parser.add_argument("--split", default=defaults.split, choices=SPLITS, help=f"CUB split (default {defaults.split})")
    parser.add_argument("--compare", type=ModelPath(), help="a second model: top-1 and anchor-index agreement on the same images")
    parser.add_argument("--output", type=OutputPath("folder"), help="write eval.json and contact_sheet.png to this folder")
    parser.add_argument(
        "--sheet",
        type=positive_int,
        default=defaults.sheet,
        help=f"best and worst frames on the contact sheet (default {defaults.sheet})",
    )
    add_runner_options(parser)
    add_failure_option(parser)
    parser.set_defaults(handler=run_eval)


def per_class_table(rows: list[dict]) -> str:
    """One line per class that has images: index, label, images, top-1."""
    width = max([len("label"), *(len(row["label"]) for row in rows)])
    lines = [f"{'class':>5}  {'label':<{width}}  {'images':>6}  {'top-1':>7}"]
    lines += [f"{row['class_index']:>5}  {row['label']:<{width}}  {row['images']:>6}  {row['top1']:>7.2%}" for row in rows]
    return "\n".join(lines)


def run_eval(args: argparse.Namespace) -> None:
    from ..eval.run import evaluate

    options = EvalOptions(
        split=args.split,
        output=optional_path(args.output),
        compare=optional_path(args.compare),
        sheet=args.sheet,
        runner=runner_options(args),
    )
    report = evaluate(Path(args.model), Path(args.data), options)
    for error in report["errors"]:
        print(f"aib: {error}")
    print(f"{report['images']} images ({len(report['errors'])} errors): top-1 {report['top1']:.2%}, top-5 {report['top5']:.2%}")
    scores = report.get("localization")
    if scores:
        print(
            f"pointing game {scores['attention_max_in_box']:.2%} (chance {scores['chance_max_in_box']:.2%}), "
            f"inside/outside {scores['attention_inside_outside_ratio']:.2f}, "
            f"attention mass in box {scores['attention_mass_in_box']:.2%}"
        )
    if "anchors_used" in report:
        print(f"anchors used: {report['anchors_used']['count']} of {report['anchors_used']['of']}")
    print(per_class_table(report["per_class"]))
    if "stochastic_top1_num_avg_4" in report:
        print(f"stochastic top-1 (num_avg 4): {report['stochastic_top1_num_avg_4']:.2%}")
    if "compare" in report:
        agreement = report["compare"]
        print(
            f"against {agreement['other']}: top-1 agreement {agreement['top1']:.2%}"
            + (f", anchor-index agreement {agreement['index_exact']:.2%}" if agreement["index_exact"] is not None else "")
        )
    if options.output is not None:
        print(f"wrote {options.output}/eval.json" + (", contact_sheet.png" if scores else ""))
    check_failures(args, len(report["errors"]), report["images"] + len(report["errors"]), "entries")
