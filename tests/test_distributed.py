"""Several processes with torch.distributed (gloo on 127.0.0.1): training steps as in one process,
a sharded evaluation equal to the unsharded one, and a dead shard re-run alone.

Workers are this file run as a script (`python tests/test_distributed.py TASK SPEC RESULT`) with
torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), one thread each.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

HERE = Path(__file__).resolve().parent

try:
    import torch.distributed as dist

    GLOO = dist.is_available() and dist.is_gloo_available()
except ImportError:  # pragma: no cover
    GLOO = False

needs_gloo = pytest.mark.skipif(not GLOO, reason="torch.distributed with gloo is not available")

IMAGES, BATCH = 32, 8  # 4 steps per epoch
COUNT, EVAL_BATCH = 5, 2  # ours: chunks {0, 1}, {2, 3}, {4}


def train_images(count=IMAGES, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(count, 16, 16, 3), dtype=np.uint8)


def train_config(**changes):
    from seminpaint.training import TrainConfig

    values = dict(epochs=2, batch_size=BATCH, checkpoint_every=3, precision="fp32", sample_count=4)
    values.update(changes)
    return TrainConfig(**values)


def loopback_env() -> dict:
    """One thread per process, and gloo on the loopback interface where Linux names it "lo"."""
    env = {"OMP_NUM_THREADS": "1"}
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(tmp_path: Path, task: str, spec: dict, processes: int = 2, timeout: float = 120) -> list[dict]:
    """Run `task` in `processes` workers that form a gloo group; return each rank's result."""
    name = f"{task}-{len(list(tmp_path.glob(task + '-*.spec.json')))}"
    spec_path = tmp_path / f"{name}.spec.json"
    spec_path.write_text(json.dumps(spec))
    port = free_port()
    workers = []
    for rank in range(processes):
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": str(processes),
               "RANK": str(rank), "LOCAL_RANK": str(rank), **loopback_env()}
        result = tmp_path / f"{name}.rank{rank}.json"
        workers.append((subprocess.Popen([sys.executable, str(Path(__file__).resolve()), task, str(spec_path),
                                          str(result)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True), result))
    results = []
    for process, result in workers:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for other, _ in workers:
                other.kill()
            raise
        assert process.returncode == 0, f"worker failed ({process.returncode}):\n{output}"
        results.append(json.loads(result.read_text()))
    return results


def network_tensors(path):
    from seminpaint.networks.checkpoint import read_checkpoint

    return {k: v for k, v in read_checkpoint(path).tensors.items() if not k.startswith("rng.")}


def assert_close(expected: dict, actual: dict, atol=2e-5, rtol=1e-4):
    assert expected.keys() == actual.keys()
    for name in expected:
        if expected[name].is_floating_point():
            torch.testing.assert_close(actual[name], expected[name], atol=atol, rtol=rtol, msg=name)
        else:
            assert torch.equal(actual[name], expected[name]), name


# ---------------------------------------------------------------------------------------------
# Workers (run in the launched processes)


def worker_batchnorm(spec: dict) -> dict:
    """GlobalBatchNorm2d on each rank's rows vs nn.BatchNorm2d on the whole batch: outputs, gradients, stats."""
    from seminpaint import distributed
    from seminpaint.training.data_parallel import convert_batchnorm

    rank, world = distributed.rank(), distributed.world_size()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, 5, 5, generator=generator) * 3 + 1
    weight = torch.randn(8, 3, 5, 5, generator=generator)  # a loss Σ w·BN(x) that mixes rows
    reference = torch.nn.BatchNorm2d(3)
    reference.weight.data.uniform_(0.5, 1.5, generator=generator)
    reference.bias.data.uniform_(-0.5, 0.5, generator=generator)
    layer = convert_batchnorm(torch.nn.Sequential(torch.nn.BatchNorm2d(3)))[0]
    layer.load_state_dict(reference.state_dict())
    rows = slice(rank * 8 // world, (rank + 1) * 8 // world)

    full = x.clone().requires_grad_()
    expected = reference(full)
    (expected * weight).sum().backward()
    part = x[rows].clone().requires_grad_()
    out = layer(part)
    (out * weight[rows]).sum().backward()
    grads = torch.stack([layer.weight.grad, layer.bias.grad])
    dist.all_reduce(grads)  # what DDP would sum (and divide by the world size)
    return {
        "type": type(layer).__name__,
        "output": (out - expected[rows]).abs().max().item(),
        "input_grad": (part.grad - full.grad[rows]).abs().max().item(),
        "param_grad": (grads - torch.stack([reference.weight.grad, reference.bias.grad])).abs().max().item(),
        "running": max((layer.running_mean - reference.running_mean).abs().max().item(),
                       (layer.running_var - reference.running_var).abs().max().item()),
    }


def worker_train(spec: dict) -> dict:
    """train() in the group; optionally 'killed' (KeyboardInterrupt) at the n-th z draw, as in test_train."""
    import seminpaint.training.dcgan as train_module
    from seminpaint import InpaintError, distributed

    from conftest import TINY

    result = {"rank": distributed.rank(), "world": distributed.world_size()}
    if spec.get("batchnorm"):
        result["batchnorm"] = worker_batchnorm(spec)
    if spec.get("bad_batch"):
        try:
            train_module.train(train_images(), spec["out"], model_config=TINY,
                               config=train_config(batch_size=spec["bad_batch"]), progress=False)
        except InpaintError as error:
            result["bad_batch_error"] = str(error)
    die_at = spec.get("die_at_draw")
    if die_at:
        real = train_module.sample_latent
        calls = {"count": 0}

        def dying(*args, **kwargs):
            calls["count"] += 1
            if calls["count"] == die_at:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        train_module.sample_latent = dying
    try:
        train_module.train(train_images(), spec["out"], model_config=TINY, config=train_config(**spec["config"]),
                           progress=False)
        result["finished"] = True
    except KeyboardInterrupt:
        result["finished"] = False
    return result


WORKERS = {"train": worker_train}


def worker_main(task: str, spec_path: str, result_path: str) -> None:
    torch.set_num_threads(1)
    sys.path.insert(0, str(HERE))
    from seminpaint import distributed

    spec = json.loads(Path(spec_path).read_text())
    with distributed.session("cpu") as active:
        assert active and distributed.world_size() == int(os.environ["WORLD_SIZE"])
        result = WORKERS[task](spec)
    Path(result_path).write_text(json.dumps(result))


# ---------------------------------------------------------------------------------------------
# Training


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """Two processes, each 4 rows of every batch of 8, killed in the 7th step (its 8th z draw: 1 fixed
    z + 7 steps), so the last checkpoint is the one of step 6. Before training, the same launch checks
    GlobalBatchNorm2d and that a batch of 7 is refused."""
    if not GLOO:
        pytest.skip("torch.distributed with gloo is not available")
    tmp_path = tmp_path_factory.mktemp("killed")
    spec = {"out": str(tmp_path / "multi"), "config": {}, "die_at_draw": 8, "bad_batch": 7, "batchnorm": True}
    return tmp_path, launch(tmp_path, "train", spec)


@needs_gloo
def test_global_batchnorm_matches_batchnorm_on_the_whole_batch(killed_run):
    for result in (r["batchnorm"] for r in killed_run[1]):
        assert result["type"] == "GlobalBatchNorm2d"
        for key in ("output", "input_grad", "param_grad", "running"):
            assert result[key] < 1e-5, (key, result)


@needs_gloo
def test_two_processes_train_like_one_and_resume(killed_run):
    from seminpaint.networks.checkpoint import read_checkpoint
    from seminpaint.training import CHECKPOINT_NAME, train

    from conftest import TINY

    tmp_path, results = killed_run
    # Reference: one process, 2 epochs of 4 steps of 8 images, and its state after epoch 1.
    single = train(train_images(), tmp_path / "single", model_config=TINY, config=train_config(), progress=False)
    single_epoch1 = tmp_path / "single" / "epochs" / "epoch_001.safetensors"

    multi = tmp_path / "multi"
    assert [r["rank"] for r in results] == [0, 1] and all(r["world"] == 2 for r in results)
    assert all("does not split evenly over 2 processes" in r["bad_batch_error"] for r in results)
    assert not any(r["finished"] for r in results)
    assert read_checkpoint(multi / CHECKPOINT_NAME).training["step"] == 6
    # The epoch-1 weights (written before the kill) are those of one process, up to rounding.
    assert_close(network_tensors(single_epoch1), network_tensors(multi / "epochs" / "epoch_001.safetensors"))

    # One process may resume a run of two (a step is the same computation whatever N is) ...
    shutil.copytree(multi, tmp_path / "then_single")
    assert_close(network_tensors(single), network_tensors(
        train(train_images(), tmp_path / "then_single", model_config=TINY, config=train_config(), progress=False)))

    # ... and both ranks resume from rank 0's checkpoint and finish; the result is the one-process run's.
    results = launch(tmp_path, "train", {"out": str(multi), "config": {}})
    assert all(r["finished"] for r in results)
    final = read_checkpoint(multi / CHECKPOINT_NAME)
    assert final.training["step"] == 8 and final.training["processes"] == 2
    assert_close(network_tensors(single), network_tensors(multi / CHECKPOINT_NAME))
    # Rank 0 alone wrote the run folder: one log line per epoch, samples of each checkpoint.
    assert len((multi / "log.jsonl").read_text().splitlines()) == 2
    assert sorted(p.name for p in (multi / "samples").iterdir()) == [
        "step_0000003.png", "step_0000004.png", "step_0000006.png", "step_0000008.png"]

    # Epoch 2 moved the weights by far more than the tolerance: the comparison is not vacuous.
    # (With each rank normalising its 4 rows alone, the final weights differ by about 0.05.)
    start = network_tensors(tmp_path / "single" / "epochs" / "epoch_001.safetensors")
    assert max((start[k] - network_tensors(single)[k]).abs().max().item()
               for k in start if k.startswith("generator.") and start[k].is_floating_point()) > 1e-3


def test_without_a_group_nothing_changes(monkeypatch):
    """Without torchrun: world size 1, rank 0, no group is joined, the shard is everything."""
    from seminpaint import distributed
    from seminpaint.shards import current_shard, in_shard

    monkeypatch.delenv("WORLD_SIZE", raising=False)

    assert not distributed.is_active()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert distributed.init("cpu") is False  # no WORLD_SIZE: nothing to join
    assert current_shard() == (0, 1) and current_shard((1, 3)) == (1, 3)
    assert [i for i in range(7) if in_shard(i, (1, 3))] == [1, 4]


def torchrun(arguments: list[str], processes: int = 2) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc-per-node N -m seminpaint.cli ARGUMENTS` (a free port of its own)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
               "-m", "seminpaint.cli", *arguments]
    return subprocess.run(command, env={**os.environ, **loopback_env()}, capture_output=True, text=True,
                          timeout=180)


@needs_gloo
def test_seminpaint_train_under_torchrun(tmp_path):
    """The command itself: two CPU processes, the paper's DCGAN at 32×32, rank 0 writes the run folder."""
    from PIL import Image

    from seminpaint.networks.checkpoint import read_checkpoint

    data = tmp_path / "data"
    data.mkdir()
    for index, image in enumerate(np.random.default_rng(0).integers(0, 256, size=(16, 32, 32, 3), dtype=np.uint8)):
        Image.fromarray(image).save(data / f"{index:02d}.png")
    arguments = ["train", "--dataset", "folder", "--root", str(data), "--split", "all", "--image-size", "32",
                 "--epochs", "1", "--batch-size", "8", "--precision", "fp32", "--device", "cpu"]
    process = torchrun(arguments + ["--out", str(tmp_path / "run")])
    assert process.returncode == 0, process.stdout + process.stderr
    assert process.stdout.count("checkpoint:") == 1  # rank 0 alone speaks
    assert "with 2 processes, 4 images of each batch apiece" in process.stdout
    training = read_checkpoint(tmp_path / "run" / "checkpoint.safetensors").training
    assert training["step"] == 2 and training["processes"] == 2
    assert len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) == 1


# ---------------------------------------------------------------------------------------------
# Evaluation


def write_faces(folder: Path, count: int = COUNT) -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    y, x = np.mgrid[0:16, 0:16] / 15.0
    for index in range(count):
        image = np.stack([0.2 + 0.6 * x, 0.5 + 0.3 * np.sin(3 * y + index), 0.3 + 0.4 * x * y], axis=-1)
        Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(folder / f"face{index}.png")


@pytest.fixture(scope="module")
def evaluation_setup(tmp_path_factory):
    from seminpaint.evaluation import evaluate
    from seminpaint.networks.checkpoint import save_checkpoint

    from conftest import TINY, tiny_model

    base = tmp_path_factory.mktemp("sharded")
    write_faces(base / "data")
    model = tiny_model()
    checkpoint = base / "tiny.safetensors"
    save_checkpoint(checkpoint, TINY, model.generator, model.discriminator)
    arguments = dict(dataset="folder", root=base / "data", split="all", count=COUNT, kinds=("center", "random"),
                     methods=("ours", "mean"), model=checkpoint, settings="paper", seed=0, batch_size=EVAL_BATCH,
                     method_options={"ours": {"iterations": 3}}, progress=False)
    reference = evaluate(out=base / "reference", **arguments)
    return base, arguments, reference.parent


def cli_arguments(setup, out: Path) -> list[str]:
    base, arguments, _ = setup
    return ["evaluate", "--dataset", "folder", "--root", str(base / "data"), "--split", "all", "--count", str(COUNT),
            "--masks", "center", "random", "--methods", "ours", "mean", "--model", str(arguments["model"]),
            "--method-option", "ours.iterations=3", "--batch-size", str(EVAL_BATCH), "--out", str(out), "--quiet",
            "--device", "cpu"]


def predictions(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "predictions").rglob("*.png"))}


def test_explicit_shards_then_one_scoring_call_equal_the_unsharded_run(evaluation_setup, tmp_path):
    from seminpaint.cli import main
    from seminpaint.evaluation import prediction_path, timing_path

    reference = evaluation_setup[2]
    out = tmp_path / "out"
    # Shard 1 of 2 alone: its chunk (images 2, 3) for ours and odd images for mean, no report.
    assert main(cli_arguments(evaluation_setup, out) + ["--shard", "1/2"]) == 0
    present = {(m, k, i) for m in ("ours", "ours_raw", "mean") for k in ("center", "random_pixels")
               for i in range(COUNT) if prediction_path(out, m, k, i).is_file()}
    assert {(m, i) for m, _, i in present} == {("ours", 2), ("ours", 3), ("ours_raw", 2), ("ours_raw", 3),
                                                ("mean", 1), ("mean", 3)}
    assert not (out / "results.md").exists() and not timing_path(out, "ours", "center").exists()
    assert (out / "timings" / "ours" / "center.shard-1-of-2.json").is_file()

    # Shard 0 "dies" before its last image (as if killed there: its files are missing); re-run
    # alone with the same --shard, it fills only what is missing and rewrites nothing else.
    assert main(cli_arguments(evaluation_setup, out) + ["--shard", "0/2"]) == 0
    lost = {prediction_path(out, m, "center", 4) for m in ("ours", "ours_raw", "mean")}
    for path in lost:
        path.unlink()
    before = {p: p.stat().st_mtime_ns for p in (out / "predictions").rglob("*.png")}
    assert main(cli_arguments(evaluation_setup, out) + ["--shard", "0/2"]) == 0
    rewritten = {p for p in (out / "predictions").rglob("*.png") if before.get(p) != p.stat().st_mtime_ns}
    assert rewritten == lost

    # One call without --shard finds every prediction, merges the timings, scores and reports.
    assert main(cli_arguments(evaluation_setup, out)) == 0
    assert predictions(out) == predictions(reference)
    assert (out / "scores.csv").read_bytes() == (reference / "scores.csv").read_bytes()
    assert not list((out / "timings").rglob("*.shard-*"))
    timed = json.loads(timing_path(out, "ours", "center").read_text())["images"]
    assert sorted(timed, key=int) == [str(i) for i in range(COUNT)]
    split = lambda folder: (folder / "results.md").read_text().split("## Seconds")[0]
    assert split(out) == split(reference)


def test_bad_shards_are_one_line_errors(evaluation_setup, tmp_path, capsys):
    from seminpaint.cli import main

    for shard in ("2/2", "1", "a/b", "0/0"):
        assert main(cli_arguments(evaluation_setup, tmp_path / "bad") + ["--shard", shard]) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("seminpaint: error:") and "\n" not in error


@needs_gloo
def test_torchrun_evaluation_equals_the_unsharded_run(evaluation_setup, tmp_path):
    """The real launcher: torchrun --standalone --nproc-per-node 2 seminpaint evaluate …"""
    _, _, reference = evaluation_setup
    out = tmp_path / "out"
    process = torchrun(cli_arguments(evaluation_setup, out))
    assert process.returncode == 0, process.stdout + process.stderr
    assert predictions(out) == predictions(reference)
    assert (out / "scores.csv").read_bytes() == (reference / "scores.csv").read_bytes()
    assert (out / "results.md").is_file() and not list((out / "timings").rglob("*.shard-*"))


if __name__ == "__main__":
    worker_main(*sys.argv[1:4])
