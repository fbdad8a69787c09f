"""Training throughput of the paper's 64×64 DCGAN with 1 and with N processes (torchrun, gloo on CPUs).

Each configuration runs the library's own train() (the code `seminpaint train` runs) under
`torchrun --standalone --nproc-per-node N` on CelebA-sized images (64×64×3; random bytes by
default, or the first images of CelebA's train split with --celeba) for two short epochs, and
reports the global images per second of the second epoch (the first one is the warm-up). The
global batch (64) and the recipe are the same for every N; with N processes each trains on 64/N
rows of each batch. Every process gets --threads threads, so 1 process × 2 threads and
2 processes × 1 thread use the same cores.

    python benchmarks/distributed_scaling.py --configs 1x1 2x1 1x2 --steps 8

CONFIG is PROCESSESxTHREADS. The table goes to stdout (and to --out as Markdown).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

CELEBA = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba"


def worker(args) -> None:
    """One process of a configuration (started by torchrun): train two epochs, rank 0 reports."""
    import numpy as np
    import torch

    from seminpaint import distributed
    from seminpaint.networks.dcgan import DCGANConfig
    from seminpaint.training import TrainConfig, train

    torch.set_num_threads(args.threads)
    count = args.steps * args.batch_size
    if args.celeba:
        from seminpaint.data import load_dataset

        images = load_dataset("celeba", CELEBA, split="train", image_size=64, channels=3, limit=count)
    else:
        images = np.random.default_rng(0).integers(0, 256, size=(count, 64, 64, 3), dtype=np.uint8)
    config = TrainConfig(epochs=2, batch_size=args.batch_size, precision=args.precision, checkpoint_every=10**9)
    with distributed.session("cpu"):
        run = Path(args.run_dir)
        train(images, run, model_config=DCGANConfig(), config=config, overwrite=True, progress=False)
        if distributed.is_main():
            log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
            Path(args.result).write_text(json.dumps(log[-1]))


def run_config(processes: int, threads: int, args) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "result.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
                   str(Path(__file__).resolve()), "--worker", "--threads", str(threads), "--steps", str(args.steps),
                   "--batch-size", str(args.batch_size), "--precision", args.precision, "--run-dir",
                   str(Path(folder) / "run"), "--result", str(result)] + (["--celeba"] if args.celeba else [])
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "GLOO_SOCKET_IFNAME": os.environ.get(
            "GLOO_SOCKET_IFNAME", "lo")}
        load = os.getloadavg()[0]
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        epoch = json.loads(result.read_text())
    return {"processes": processes, "threads": threads, "images_per_second": epoch["images_per_second"],
            "seconds": epoch["seconds"], "wall": time.perf_counter() - started, "load": load}


def main() -> None:
    from seminpaint.runtime.precision import PRECISIONS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["1x1", "2x1", "1x2"], metavar="PROCESSESxTHREADS")
    parser.add_argument("--steps", type=int, default=8, help="steps per epoch (two epochs; the second is timed)")
    parser.add_argument("--batch-size", type=int, default=64, help="global batch")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS)
    parser.add_argument("--celeba", action="store_true", help=f"CelebA train images from {CELEBA}, not random bytes")
    parser.add_argument("--out", type=Path, help="also write the table here (Markdown)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    rows = []
    for config in args.configs:
        processes, threads = (int(v) for v in config.lower().split("x"))
        rows.append(run_config(processes, threads, args))
        print(f"{processes} process(es) × {threads} thread(s): {rows[-1]['images_per_second']:.1f} images/s "
              f"(load average before: {rows[-1]['load']:.1f})", file=sys.stderr)
    base = next((r["images_per_second"] for r in rows if r["processes"] == 1 and r["threads"] == 1), None)
    lines = [f"Training throughput, paper's 64×64 DCGAN, global batch {args.batch_size}, {args.precision}, "
             f"{'CelebA' if args.celeba else 'random'} images; {date.today()}, {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, torch {__import__('torch').__version__}, gloo. Second epoch of {args.steps} "
             "steps timed.", "",
             "| processes × threads | images/s | speed-up vs 1 × 1 | load average before |", "|---|---|---|---|"]
    for r in rows:
        speedup = f"{r['images_per_second'] / base:.2f}×" if base else "—"
        lines.append(f"| {r['processes']} × {r['threads']} | {r['images_per_second']:.1f} | {speedup} | {r['load']:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
