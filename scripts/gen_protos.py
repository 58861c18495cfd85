"""Generate the Python gRPC stubs from protos/ into aib_deploy/protocol/generated/ (checked in).

    .venv/bin/python scripts/gen_protos.py           # write the stubs
    .venv/bin/python scripts/gen_protos.py --check   # exit 1 if the checked-in stubs differ

Our own `aib.v1` stubs are generated under the virtual path `aib_deploy/protocol/generated`,
so they never import a top-level `aib` package. Triton's KServe v2 protocol files keep
their own names (`grpc_service.proto`, `model_config.proto`): tritonclient's stubs register
the very same files, and protobuf accepts one file twice only when name and content match.
Their one cross-import is made relative.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "protos" / "aib" / "v1" / "attention.proto"
KSERVE = ROOT / "protos" / "inference"
VIRTUAL = "aib_deploy/protocol/generated"
TARGET = ROOT / "aib_deploy" / "protocol" / "generated"
OUTPUTS = {
    "attention_pb2.py": VIRTUAL,
    "attention_pb2.pyi": VIRTUAL,
    "attention_pb2_grpc.py": VIRTUAL,
    "grpc_service_pb2.py": "",
    "grpc_service_pb2.pyi": "",
    "grpc_service_pb2_grpc.py": "",
    "model_config_pb2.py": "",
    "model_config_pb2.pyi": "",
}
RELATIVE_IMPORTS = {
    "import model_config_pb2 as": "from . import model_config_pb2 as",
    "import grpc_service_pb2 as": "from . import grpc_service_pb2 as",
}


def protoc(proto_path: str, into: Path, files: list[str]) -> None:
    from grpc_tools import protoc

    args = ["protoc", f"--proto_path={proto_path}", f"--python_out={into}", f"--pyi_out={into}", f"--grpc_python_out={into}"]
    if protoc.main(args + files) != 0:
        raise SystemExit(f"protoc failed on {', '.join(files)}")


def generate(into: Path) -> dict[str, str]:
    """Every output's text by name."""
    protoc(f"{VIRTUAL}={PROTO.parent}", into, [f"{VIRTUAL}/{PROTO.name}"])
    protoc(str(KSERVE), into, ["grpc_service.proto", "model_config.proto"])
    fresh = {}
    for name, folder in OUTPUTS.items():
        text = (into / folder / name).read_text()
        for absolute, relative in RELATIVE_IMPORTS.items():
            text = text.replace(f"\n{absolute}", f"\n{relative}")
        fresh[name] = text
    return fresh


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the checked-in stubs instead of writing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
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
