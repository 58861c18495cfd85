"""Checkpoint files: the three original layouts, safety, and one clear error per bad input."""

import os
import pickle
import zipfile

import pytest
import torch

from aib_deploy.errors import AibError
from aib_deploy.models.checkpoint import load_model, read_checkpoint
from tests.helpers.checkpoint_files import case_group, case_state_dict, cub_layout, vgg_cifar_layout, wrn_cifar_layout

VGG_QT = "vgg_aib_qt_cifar100"
WRN = "wrn_aib_16_2_cifar10"


@pytest.fixture(scope="module")
def vgg_state_dict():
    return case_state_dict(VGG_QT)


@pytest.fixture(scope="module")
def wrn_state_dict():
    return case_state_dict(WRN)


def save(tmp_path, content, name="model.pth"):
    path = tmp_path / name
    torch.save(content, path)
    return path


def test_vgg_layout_with_dataparallel_prefix(tmp_path, vgg_state_dict):
    loaded = load_model(save(tmp_path, vgg_cifar_layout(vgg_state_dict, "CIFAR100")))
    assert loaded.checkpoint.layout == "model_states"
    assert loaded.checkpoint.args["dataset"] == "CIFAR100"
    assert loaded.arch.name == "vgg_cifar_qt" and loaded.arch.qt_num == 50
    assert torch.equal(loaded.model.emb.weight, vgg_state_dict["emb.weight"])


@pytest.mark.parametrize("dataparallel", [True, False])
def test_wrn_layout_with_and_without_prefix(tmp_path, wrn_state_dict, dataparallel):
    loaded = load_model(save(tmp_path, wrn_cifar_layout(wrn_state_dict, dataparallel)))
    assert loaded.checkpoint.layout == "state_dict"
    assert (loaded.arch.depth, loaded.arch.widen_factor, loaded.arch.K) == (16, 2, 512)
    assert torch.equal(loaded.model.conv1.weight, wrn_state_dict["conv1.weight"])


def test_cub_layout_selects_net_or_net_ema(tmp_path):
    net = case_state_dict("cub_vgg16_aib")
    ema = {key: value * 0.5 if value.is_floating_point() else value for key, value in net.items()}
    path = save(tmp_path, cub_layout(net, ema))
    plain = load_model(path, "net")
    averaged = load_model(path, "net_ema")
    assert torch.equal(plain.model.decode[2].weight, net["decode.2.weight"])
    assert torch.equal(averaged.model.decode[2].weight, ema["decode.2.weight"])
    assert averaged.checkpoint.weights == "net_ema"


def test_bare_state_dict_loads(tmp_path, wrn_state_dict):
    assert load_model(save(tmp_path, dict(wrn_state_dict))).checkpoint.layout == "bare"


def test_one_name_of_an_aliased_module_is_enough(tmp_path, wrn_state_dict):
    only_block3 = {key: value for key, value in wrn_state_dict.items() if not key.startswith("encode.0.")}
    loaded = load_model(save(tmp_path, wrn_cifar_layout(only_block3)))
    assert torch.equal(loaded.model.encode[0].layer[0].conv1.weight, wrn_state_dict["block3.layer.0.conv1.weight"])


def test_missing_batch_norm_counters_are_tolerated(tmp_path, wrn_state_dict):
    old = {key: value for key, value in wrn_state_dict.items() if not key.endswith("num_batches_tracked")}
    load_model(save(tmp_path, wrn_cifar_layout(old)))


@pytest.mark.xdist_group(case_group("cub_wrn50_2_aib_qt"))  # its weights are drawn there anyway (6 s)
def test_cub_wrn_without_the_unused_tmp_layer_loads():
    from aib_deploy.models import build_model, cub_wrn50_2, infer_architecture

    state_dict = case_state_dict("cub_wrn50_2_aib_qt")
    arch = infer_architecture(state_dict)
    model = build_model(arch)
    trimmed = {key: value for key, value in state_dict.items() if not key.startswith("tmp_layer.")}
    model.load_state_dict(cub_wrn50_2.checkpoint_filter_fn(trimmed, model), strict=True)


def test_a_pickle_that_runs_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = save(tmp_path, {"state_dict": {}, "args": Payload()})
    with pytest.raises(AibError, match=r"refused to load the object '(posix|os)\.system'.*never runs code"):
        read_checkpoint(path)
    assert not marker.exists()


def test_a_raw_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "raw.pkl"
    path.write_bytes(pickle.dumps({"x": Payload()}, protocol=2))
    with pytest.raises(AibError, match="refused to load"):
        read_checkpoint(path)
    assert not marker.exists()


def test_truncated_file(tmp_path, wrn_state_dict):
    path = save(tmp_path, wrn_cifar_layout(wrn_state_dict))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(AibError, match=r"model\.pth: not a readable PyTorch checkpoint \(truncated or corrupt\?\)"):
        read_checkpoint(path)


def test_zip_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "archive.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(AibError, match="not a readable PyTorch checkpoint"):
        read_checkpoint(path)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "file is empty"), (b"name,score\nx,1\n", "not a PyTorch checkpoint")],
    ids=["empty", "text"],
)
def test_files_that_are_not_checkpoints(tmp_path, content, message):
    path = tmp_path / "notes.pth"
    path.write_bytes(content)
    with pytest.raises(AibError, match=message):
        read_checkpoint(path)


def test_missing_file(tmp_path):
    with pytest.raises(AibError, match="file not found"):
        read_checkpoint(tmp_path / "nope.pth")


def test_dict_without_weights_names_the_layouts(tmp_path):
    with pytest.raises(AibError, match=r"expected key 'model_states'.*got keys epoch, lr"):
        read_checkpoint(save(tmp_path, {"epoch": 3, "lr": 0.1}))


def test_missing_ema_weights(tmp_path, wrn_state_dict):
    with pytest.raises(AibError, match="--weights net_ema needs a model_states layout"):
        read_checkpoint(save(tmp_path, wrn_cifar_layout(wrn_state_dict)), "net_ema")
    with pytest.raises(AibError, match="no 'net_ema' weights; model_states holds net"):
        read_checkpoint(save(tmp_path, vgg_cifar_layout(wrn_state_dict)), "net_ema")


def test_unknown_architecture(tmp_path):
    path = save(tmp_path, {"state_dict": {"fc.weight": torch.zeros(10, 4), "fc.bias": torch.zeros(10)}})
    with pytest.raises(AibError, match=r"unknown architecture.*first keys: fc\.weight, fc\.bias"):
        load_model(path)


def test_missing_and_unexpected_keys_are_listed(tmp_path, wrn_state_dict):
    broken = dict(wrn_state_dict)
    del broken["bn_att.weight"], broken["att_module_mu.1.weight"]
    broken["extra.weight"] = torch.zeros(3)
    with pytest.raises(AibError) as error:
        load_model(save(tmp_path, wrn_cifar_layout(broken)))
    message = str(error.value)
    assert "missing keys: bn_att.weight, att_module_mu.1.weight" in message
    assert "unexpected keys: extra.weight" in message
    assert "\n" not in message


def test_shape_mismatch_names_key_expected_and_got(tmp_path, wrn_state_dict):
    broken = dict(wrn_state_dict)
    broken["att_module_std.0.weight"] = torch.zeros(1, 1, 5, 5)
    with pytest.raises(AibError, match=r"shape mismatch: att_module_std\.0\.weight expected \(1, 1, 3, 3\) got \(1, 1, 5, 5\)"):
        load_model(save(tmp_path, wrn_cifar_layout(broken)))


def test_numpy_scalars_beside_the_weights_are_allowed(tmp_path, vgg_state_dict):
    content = vgg_cifar_layout(vgg_state_dict)  # holds test_acc as np.float64
    assert read_checkpoint(save(tmp_path, content)).layout == "model_states"
