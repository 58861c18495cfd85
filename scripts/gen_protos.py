"""Generate the Python gRPC stubs from protos/ into serving/generated/ (checked in).

    .venv/bin/python scripts/gen_protos.py           # write the stubs
    .venv/bin/python scripts/gen_protos.py --check   # exit 1 if the checked-in stubs differ

The stubs import each other as `aib_deploy.serving.generated...`, never as a
top-level `aib` package: protoc sees the .proto under that virtual path.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "protos" / "aib" / "v1" / "attention.proto"
VIRTUAL = "aib_deploy/serving/generated"
TARGET = ROOT / "serving" / "generated"
OUTPUTS = ("attention_pb2.py", "attention_pb2.pyi", "attention_pb2_grpc.py")


def generate(into: Path) -> None:
    from grpc_tools import protoc

    args = [
        "protoc",
        f"--proto_path={VIRTUAL}={PROTO.parent}",
        f"--python_out={into}",
        f"--pyi_out={into}",
        f"--grpc_python_out={into}",
        f"{VIRTUAL}/{PROTO.name}",
    ]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed on {PROTO}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the checked-in stubs instead of writing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = {name: (Path(tmp) / VIRTUAL / name).read_text() for name in OUTPUTS}
    if args.check:
        stale = [name for name in OUTPUTS if not (TARGET / name).is_file() or (TARGET / name).read_text() != fresh[name]]
        if stale:
            print(f"stale stubs in {TARGET}: {', '.join(stale)}; run scripts/gen_protos.py", file=sys.stderr)
            return 1
        print("stubs match protos/")
        return 0
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, text in fresh.items():
        (TARGET / name).write_text(text)
    print(f"wrote {', '.join(OUTPUTS)} to {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
