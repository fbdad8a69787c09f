"""The `seminpaint` command: thin argparse subcommands over the public API.

Mask convention everywhere: True / white (255) = missing, to be filled.
Every InpaintError becomes one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import InpaintError
from .settings import (
    BLEND_MODES, DEFAULT_PRESET, MAX_CANDIDATES, PRECISIONS, PRESETS, STARTS, WITHOUT_ENCODER,
)

PRECISION_HELP = ("auto (default): bf16 where the device computes it natively, else fp32-fast; bf16: bfloat16 "
                  "autocast, channels_last; fp32-fast: float32 with BatchNorm folded and the fast layers; "
                  "fp32: the plain float32 loop")
MASK_HELP = "mask convention: white (255) / True = missing, to be filled; black = known"


def add_train(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train the paper's DCGAN on a dataset (resumes a run folder's checkpoint)",
        description="Train the paper's DCGAN (Adam 2e-4, β1 0.5, random flips, z ~ U[-1, 1]). "
                    "Running the same command again resumes from the run folder's last checkpoint. "
                    "Under torchrun (several processes or machines, docs/distributed.md) each process "
                    "trains on its share of every batch of --batch-size images (divisible by the number "
                    "of processes), with the same result as one process; rank 0 writes the run folder.",
    )
    add_training_options(parser, device_help="cpu, cuda, cuda:1 … (default: cuda if available; "
                                             "under torchrun cuda means cuda:LOCAL_RANK)")
    parser.add_argument("--ema-decay", type=float, default=0.0,
                        help="keep a moving average of G's weights with this decay (e.g. 0.999) and write it, "
                             "with BatchNorm statistics of its own, to the epoch files (default 0: none, the paper)")
    parser.add_argument("--generator-features", type=int, default=64,
                        help="width of G's layer nearest the image, doubling at every halving (default 64, the paper)")
    parser.add_argument("--discriminator-features", type=int, default=64,
                        help="width of D's layer nearest the image, doubling at every halving (default 64, the paper)")
    parser.add_argument("--learning-rate", type=float, default=2e-4,
                        help="Adam's rate for G and D (default 2e-4, the paper's)")
    parser.add_argument("--discriminator-learning-rate", type=float, metavar="RATE",
                        help="D's own Adam rate, e.g. 4 × G's (the two time-scale update rule; default: --learning-rate)")
    parser.add_argument("--spectral-norm", action="store_true",
                        help="spectrally normalise D's convolutions and leave out its BatchNorm (SN-GAN; "
                             "not the paper's)")
    parser.set_defaults(run=run_train)


def add_training_options(parser, *, device_help: str, shape: bool = True, epochs: int = 25) -> None:
    """The data, run-folder and optimisation options shared by `train`, `train-context-encoder` and
    `train-encoder` (shape=False: the images take the model's size and channels)."""
    parser.add_argument("--dataset", default="celeba", help="dataset name (see `seminpaint datasets`)")
    parser.add_argument("--root", required=True, type=Path, help="where the dataset is kept")
    parser.add_argument("--split", default="train")
    parser.add_argument("--out", required=True, type=Path, help="run folder: checkpoints, sample grids, log")
    if shape:
        parser.add_argument("--image-size", type=int, default=64, choices=(32, 64))
        parser.add_argument("--channels", type=int, default=3, choices=(1, 3))
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    parser.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
    parser.add_argument("--limit", type=int, help="use only the first N images (smoke runs)")
    parser.add_argument("--overwrite", action="store_true", help="start the run folder over instead of resuming")
    parser.add_argument("--device", default=None, help=device_help)


def training_config(config_class, args):
    """A TrainConfig (or subclass) from add_training_options' epoch, batch, seed, precision and checkpoint options."""
    return config_class(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                        precision=args.precision, checkpoint_every=args.checkpoint_every)


def add_train_context_encoder(subparsers) -> None:
    parser = subparsers.add_parser(
        "train-context-encoder",
        help="train the Context Encoder baseline (the paper's CE) on a dataset (resumes a run folder's checkpoint)",
        description="Train the Context Encoder of Pathak et al. (the paper's CE baseline): L2 on the hole "
                    "(λ 0.999) plus an adversarial loss (λ 0.001), Adam 2e-4, β1 0.5, random flips, every "
                    "image with a fresh mask of a random kind (center, pattern, random_pixels, half). "
                    "Running the same command again resumes from the run folder's last checkpoint; "
                    "`seminpaint export` makes the float16 file the context_encoder method loads. One process.",
    )
    add_training_options(parser, device_help="cpu, cuda, cuda:1 … (default: cuda if available)")
    parser.set_defaults(run=run_train_context_encoder)


def run_train_context_encoder(args) -> None:
    from . import distributed
    from .data import load_dataset
    from .networks.context_encoder import ContextEncoderConfig
    from .training import ContextEncoderTrainConfig, train_context_encoder

    if distributed.launched():
        raise InpaintError("train-context-encoder runs in one process; start it without torchrun")
    config = training_config(ContextEncoderTrainConfig, args)
    device = pick_device(args.device)
    images = load_dataset(args.dataset, args.root, split=args.split, image_size=args.image_size,
                          channels=args.channels, limit=args.limit)
    print(f"training a Context Encoder on {len(images)} images of {args.dataset} ({args.split})")
    model_config = ContextEncoderConfig(image_size=args.image_size, channels=args.channels)
    path = train_context_encoder(images, args.out, model_config=model_config, config=config,
                                 overwrite=args.overwrite, device=device)
    print(f"checkpoint: {path}")


def add_train_encoder(subparsers) -> None:
    parser = subparsers.add_parser(
        "train-encoder",
        help="train a latent encoder E(y, M) → z that starts the search (resumes a run folder's checkpoint)",
        description="Train a latent encoder for a model's frozen G and D: E maps an image with a hole and "
                    "its mask to the z the search of Eq. 2 would find, trained on the search's own objective "
                    "(context loss + λ prior loss) with a fresh mask of a random kind for every image. The "
                    "search then starts there (--start encoder; every preset but paper uses it when the "
                    "model has one). After each epoch the run folder's epochs/epoch_NNN.safetensors holds "
                    "the model with its encoder, for --model or `seminpaint export --half`. One process.",
    )
    parser.add_argument("--model", type=Path, help="the DCGAN checkpoint; default: the shipped face model")
    add_training_options(parser, device_help="cpu, cuda, cuda:1 … (default: cuda if available)",
                         shape=False, epochs=10)
    parser.set_defaults(run=run_train_encoder)


def run_train_encoder(args) -> None:
    from . import distributed
    from .api import DEFAULT_MODEL, resolve_model
    from .data import load_dataset
    from .networks.checkpoint import checkpoint_training
    from .training import EncoderTrainConfig, train_encoder

    if distributed.launched():
        raise InpaintError("train-encoder runs in one process; start it without torchrun")
    config = training_config(EncoderTrainConfig, args)
    model = resolve_model(args.model, pick_device(args.device))
    channels, size, _ = model.image_shape
    images = load_dataset(args.dataset, args.root, split=args.split, image_size=size, channels=channels,
                          limit=args.limit)
    print(f"training a latent encoder for {model.name} on {len(images)} images of {args.dataset} ({args.split})")
    model_training = checkpoint_training(args.model or DEFAULT_MODEL)
    path = train_encoder(images, model, args.out, config=config, overwrite=args.overwrite,
                         model_training={k: v for k, v in model_training.items() if k in ("epoch", "step")})
    print(f"model with its encoder: {path}")


def refuse_to_overwrite(paths, overwrite: bool) -> None:
    """Nothing a user has is replaced unless they pass --overwrite."""
    if not overwrite:
        for path in paths:
            if path is not None and Path(path).exists():
                raise InpaintError(f"{path} exists; use --overwrite to replace it")


def pick_device(name: str | None):
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InpaintError(f"unknown device {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InpaintError("device cuda was asked for but no CUDA GPU is available")
    return device


def run_train(args) -> None:
    from . import distributed
    from .data import load_dataset
    from .networks.dcgan import DCGANConfig
    from .training import TrainConfig, train

    config = replace(training_config(TrainConfig, args), ema_decay=args.ema_decay, learning_rate=args.learning_rate,
                     discriminator_learning_rate=args.discriminator_learning_rate)
    device = pick_device(args.device)
    with distributed.session(device):  # a process group only under torchrun with WORLD_SIZE > 1
        device, world = distributed.local_device(device), distributed.world_size()
        if config.batch_size % world:
            raise InpaintError(f"--batch-size {config.batch_size} does not split evenly over {world} "
                               f"processes; choose a multiple of {world}")
        images = load_dataset(args.dataset, args.root, split=args.split, image_size=args.image_size,
                              channels=args.channels, limit=args.limit)
        if distributed.is_main():
            print(f"training on {len(images)} images of {args.dataset} ({args.split})"
                  + (f" with {world} processes, {config.batch_size // world} images of each batch apiece"
                     if world > 1 else ""))
        model_config = DCGANConfig(image_size=args.image_size, channels=args.channels,
                                   generator_features=args.generator_features,
                                   discriminator_features=args.discriminator_features,
                                   spectral_norm=args.spectral_norm)
        path = train(images, args.out, model_config=model_config, config=config,
                     overwrite=args.overwrite, device=device)
        if distributed.is_main():
            print(f"checkpoint: {path}")


def add_inpaint(subparsers) -> None:
    parser = subparsers.add_parser(
        "inpaint", help="fill the holes of an image (or a folder of images)",
        description="Fill the hole of each image by searching the GAN's latent space for the image "
                    "that best agrees with the known pixels, then blend it in. A folder is searched in "
                    "batches; files that cannot be read are reported and skipped. " + MASK_HELP + ".",
    )
    parser.add_argument("--model", type=Path, help="checkpoint (.safetensors); default: the shipped face model "
                        "(with --method context_encoder: a Context Encoder, default the shipped one)")
    parser.add_argument("--image", required=True, type=Path, help="an image file, or a folder of images")
    parser.add_argument("--mask", required=True,
                        help="a mask image file (white = missing), a folder of masks named as the images, "
                             "or a kind: center, pattern, random_pixels (alias random), half; a mask file of "
                             "another size but the image's aspect ratio is resized (nearest)")
    parser.add_argument("--output", required=True, type=Path,
                        help="output file (for one image; its suffix picks the format) or folder (for a folder; "
                             "each output keeps its input's name and format); same size as the input")
    add_search_options(parser)
    parser.add_argument("--blend", choices=BLEND_MODES,
                        help="poisson: Eq. 6, the paper; hybrid: Eq. 6 plus biharmonic smoothness, ours; "
                             "overlay: paste G(ẑ) (default: the preset's)")
    parser.add_argument("--smoothness", type=float,
                        help="μ of --blend hybrid, in pixels² at the model's size (default: the preset's, "
                             f"{PRESETS[DEFAULT_PRESET].smoothness:g}, chosen on validation)")
    parser.add_argument("--method", default="ours",
                        help="ours (the paper's method, default) or a comparison method: mean, biharmonic, tv, "
                             "low_rank, patchmatch, telea, navier_stokes, nearest_neighbour (with --references), "
                             "context_encoder (images of its size, 64×64)")
    parser.add_argument("--references", type=Path,
                        help="with --method nearest_neighbour: a folder of reference images, each brought to the "
                             "input's size; the one closest on the known pixels fills the hole (the paper's NN)")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="images of a folder searched together (default 32); the results do not depend on it")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random starts and for random masks")
    parser.add_argument("--save-candidates", action="store_true",
                        help="with K ≥ 2 candidates (--candidates, or a preset that has them): also write each "
                             "completion beside OUTPUT as NAME_1 … NAME_K; OUTPUT holds their per-pixel mean")
    parser.add_argument("--uncertainty", action="store_true",
                        help="with K ≥ 2 candidates: also write NAME_spread.png, the candidates' per-pixel "
                             f"standard deviation (white = {1 / SPREAD_SCALE:g} or more on the 0–1 scale)")
    parser.add_argument("--raw", type=Path, help="also write the raw G(ẑ) here (a file, or a folder; with K > 1 "
                                                 "candidates the mean of theirs)")
    parser.add_argument("--save-mask", type=Path, help="also write the mask used here (a file, or a folder)")
    parser.add_argument("--save-crop", type=Path,
                        help="also write what the model saw here (a PNG file, or a folder): the searched region at the "
                             "model's size, the hole white")
    parser.add_argument("--face", metavar="X,Y,W,H",
                        help="the box of the face the hole is in (pixels: left, top, width, height), instead of "
                             "finding it; the shipped face model searches that face framed as its training faces")
    parser.add_argument("--no-face-check", action="store_true",
                        help="with a face model on an image larger than the model: search the region around the "
                             "hole instead of the detected face, and fill holes that touch no face")
    written = parser.add_mutually_exclusive_group()
    written.add_argument("--overwrite", action="store_true", help="replace existing output files")
    written.add_argument("--skip-existing", action="store_true",
                         help="leave images whose output exists alone (to resume an interrupted folder)")
    parser.add_argument("--shard", metavar="INDEX/COUNT",
                        help="with a folder: inpaint only images i with i %% COUNT == INDEX, so that several "
                             "processes or machines share the work; under torchrun each rank takes its share")
    parser.add_argument("--device", default=None, help="cpu, cuda … (default: cuda if available)")
    parser.set_defaults(run=run_inpaint)


SEARCH_OPTIONS = ("iterations", "restarts", "learning_rate", "prior_weight", "precision", "start", "blend",
                  "smoothness", "candidates", "mirror")
SPREAD_SCALE = 4.0
"""--uncertainty writes min(1, SPREAD_SCALE · spread): white is a standard deviation of 0.25."""
PRESET_HELP = (f"what to run, steps, rate, start and blend together: {', '.join(PRESETS)} (default: "
               f"{DEFAULT_PRESET}, the best measured on validation faces among the fast presets; for a model "
               f"without a latent encoder, {WITHOUT_ENCODER.iterations} steps from the best of "
               f"{WITHOUT_ENCODER.screen} random starts); paper: the paper's setting exactly")


def add_search_options(parser, *, default: str | None = None) -> None:
    """--preset and the per-option overrides of the latent search, shared by every subcommand that searches.
    default: the preset when none is named (None: settings.DEFAULT for the model)."""
    parser.add_argument("--preset", default=default,
                        help=PRESET_HELP if default is None else f"search settings: {', '.join(PRESETS)} "
                                                                 f"(default: {default})")
    parser.add_argument("--iterations", type=int, help="Adam steps at most (default: the preset's)")
    parser.add_argument("--restarts", type=int, help="random starts per image (default: the preset's)")
    parser.add_argument("--learning-rate", type=float, help="Adam learning rate for z (default: the preset's)")
    parser.add_argument("--prior-weight", type=float, help="λ of the prior loss, Eq. 5 (default: the preset's)")
    parser.add_argument("--precision", choices=PRECISIONS, help=PRECISION_HELP)
    parser.add_argument("--start", choices=STARTS,
                        help="first start of each image: random (the paper), the model's latent encoder, "
                             "or auto = the encoder when the model has one (default: the preset's)")
    parser.add_argument("--candidates", type=int, metavar="K",
                        help=f"completions per image, 1 to {MAX_CANDIDATES}, each searched from its own start; "
                             "with K > 1 the result is their per-pixel mean (default: the preset's)")
    parser.add_argument("--mirror", action=argparse.BooleanOptionalAction,
                        help="with --candidates K ≥ 2: the even-numbered candidates search the image mirrored "
                             "left to right, a second view that errs differently (default: the preset's)")


def search_settings(args, model):
    """The preset named by --preset (or the default for `model`) with the command line's overrides."""
    from .api import resolve_settings

    overrides = {name: getattr(args, name) for name in SEARCH_OPTIONS if getattr(args, name, None) is not None}
    settings = resolve_settings(args.preset, model)
    return settings.with_options(**overrides) if overrides else settings


@dataclass(frozen=True)
class Job:
    """One image of `seminpaint inpaint`: its number (for its random mask), the input file, the output
    file, and the optional raw G(ẑ), mask and model's-view (--save-crop) files; `candidates` files
    NAME_1 … NAME_K beside the output (--save-candidates; 1: none) and the spread (--uncertainty)."""

    index: int
    image: Path
    output: Path
    raw: Path | None = None
    mask: Path | None = None
    crop: Path | None = None
    candidates: int = 1
    spread: bool = False

    def beside_output(self, name: str, suffix: str | None = None) -> Path:
        """OUTPUT's folder and stem with `_name` added: out.jpg → out_name.jpg (or out_name.SUFFIX)."""
        return self.output.with_name(f"{self.output.stem}_{name}{suffix or self.output.suffix}")

    @property
    def results(self) -> list[Path]:
        """The filled image's files: OUTPUT (with K > 1 candidates their mean), then NAME_1 … NAME_K
        with --save-candidates."""
        if self.candidates == 1:
            return [self.output]
        return [self.output, *(self.beside_output(str(k)) for k in range(1, self.candidates + 1))]

    @property
    def spread_file(self) -> Path | None:
        """NAME_spread.png with --uncertainty, else None."""
        return self.beside_output("spread", ".png") if self.spread else None

    @property
    def outputs(self) -> list[Path]:
        return [*self.results, *(p for p in (self.raw, self.mask, self.crop, self.spread_file) if p is not None)]


def jobs(args, shard: tuple[int, int] = (0, 1), candidates: int = 1) -> tuple[list[Job], int]:
    """The images of `shard` (image i belongs to shard i % COUNT) to inpaint, and how many were left
    out because their output exists (--skip-existing). Output names keep each input's name and format
    in a folder; every output format is checked before any work; existing outputs are refused unless
    --overwrite or --skip-existing. candidates: completion files per image (Job.results; 1: OUTPUT alone)."""
    from .data.folder import image_files
    from .images import check_output_path
    from .shards import in_shard

    if args.image.is_dir():
        if args.output.exists() and not args.output.is_dir():
            raise InpaintError(f"--output {args.output} must be a folder when --image is a folder")
        for folder in (args.raw, args.save_mask, args.save_crop):
            if folder is not None and folder.exists() and not folder.is_dir():
                raise InpaintError(f"{folder} must be a folder when --image is a folder")

        def beside(folder, path, suffix=None):
            relative = path.relative_to(args.image)
            return folder / (relative.with_suffix(suffix) if suffix else relative) if folder else None

        todo = [Job(index, path, beside(args.output, path), beside(args.raw, path), beside(args.save_mask, path, ".png"),
                    beside(args.save_crop, path, ".png"), candidates, args.uncertainty)
                for index, path in enumerate(image_files(args.image))]
    else:
        todo = [Job(0, args.image, args.output, args.raw, args.save_mask, args.save_crop, candidates, args.uncertainty)]
    todo = [job for job in todo if in_shard(job.index, shard)]
    for job in todo[:1]:
        for path in (job.output, job.raw):
            if path is not None:
                check_output_path(path)
        if job.mask is not None and job.mask.suffix.lower() != ".png":
            raise InpaintError(f"masks are saved as PNG (lossless); got {job.mask.name!r}")
        if job.crop is not None and job.crop.suffix.lower() != ".png":
            raise InpaintError(f"--save-crop writes a PNG; got {job.crop.name!r}")
    if args.image.is_dir():
        for suffix in sorted({job.output.suffix.lower() for job in todo}):
            check_output_path(Path("x" + suffix))
    skipped = 0
    if args.skip_existing:
        kept = [job for job in todo if not all(path.exists() for path in job.outputs)]
        todo, skipped = kept, len(todo) - len(kept)
    refuse_to_overwrite([path for job in todo for path in job.outputs], args.overwrite or args.skip_existing)
    for job in todo:
        if any(path.resolve() == job.image.resolve() for path in job.outputs):
            raise InpaintError(f"output would overwrite the input {job.image}")
    return todo, skipped


def mask_for(args, image_path: Path, shape: tuple[int, int], index: int, notice=print):
    """The mask for one image: a kind drawn with the seed, a mask file, or a file in a mask folder; a
    file of another size but the same aspect ratio is resized (nearest) with a notice."""
    import numpy as np

    from .masks import MASK_ALIASES, MASK_KINDS, fit_mask, make_mask, read_mask

    if args.mask in MASK_KINDS or args.mask in MASK_ALIASES:
        return make_mask(args.mask, *shape, rng=np.random.default_rng([args.seed, index]))
    path = Path(args.mask)
    if path.is_dir():
        candidates = sorted(path.glob(image_path.stem + ".*"))
        if not candidates:
            raise InpaintError(f"no mask named {image_path.stem}.* in {path}")
        path = candidates[0]
    elif not path.exists():
        raise InpaintError(f"--mask {args.mask!r} is neither a mask file nor a kind "
                           f"({', '.join(MASK_KINDS)}, or random)")
    mask, resized = fit_mask(read_mask(path), shape, source=path)
    if resized:
        notice(f"note: mask {path} resized (nearest) to the image's {shape[1]}×{shape[0]}")
    return mask


def run_inpaint(args) -> None:
    from tqdm import tqdm

    from .shards import current_shard, parse_shard

    check_method(args.method, args.references)
    check_face_options(args)
    if args.batch_size < 1:
        raise InpaintError(f"--batch-size must be at least 1, got {args.batch_size}")
    shard = current_shard(parse_shard(args.shard) if args.shard else None)
    fill = FolderFiller(args, progress=not args.image.is_dir())
    count = fill.settings.candidates if fill.settings is not None else 1
    for flag, given in (("--uncertainty", args.uncertainty), ("--save-candidates", args.save_candidates)):
        if given and count == 1:
            raise InpaintError(f"{flag} needs several completions: add --candidates K with K ≥ 2 "
                               "(or a preset that has them)")
    # Image i's mask and random start depend on i and the seed alone, so neither its batch nor its
    # shard changes its result.
    todo, skipped = jobs(args, shard, candidates=count if args.save_candidates else 1)
    folder = args.image.is_dir()
    failures: list[str] = []
    batch_size = args.batch_size if args.method == "ours" else 1
    with tqdm(total=len(todo), desc="images", unit="image", disable=not folder) as bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            for job, outcome in zip(batch, fill(batch, notice=bar.write if folder else print)):
                if isinstance(outcome, InpaintError):
                    if not folder:
                        raise outcome
                    failures.append(f"{job.image}: {outcome}")
                    bar.write(f"skipped {job.image}: {outcome}")
                bar.update(1)
    if not folder:
        image, mask = fill.last
        names = (", ".join(str(path) for path in [*todo[0].results, *filter(None, [todo[0].spread_file])])
                 if todo else str(args.output))
        print(f"wrote {names} ({image.shape[1]}×{image.shape[0]}, {int(mask.sum())} pixels filled)")
        return
    written = len(todo) - len(failures)
    print(f"wrote {written} image{'' if written == 1 else 's'} to {args.output}"
          + (f"; {skipped} left alone (output exists)" if skipped else ""))
    if failures:
        print("\n".join(["failed:", *failures]), file=sys.stderr)
        raise InpaintError(f"{len(failures)} of {len(todo)} images failed (listed above); the others were written")


class FolderFiller:
    """Reads, fills and writes the images of `seminpaint inpaint` a batch at a time: ours searches a
    batch together (each image with its own copy of the seeded generator, so its result is the one
    it gets alone), a comparison method fills one image at a time. Called with a list of Jobs, it
    returns per job None (written) or the InpaintError that stopped it (nothing written for it)."""

    def __init__(self, args, *, progress: bool):
        self.args, self.progress, self.last = args, progress, None
        self.model = self.settings = None
        self.references: dict[tuple[int, ...], object] = {}
        if args.method == "ours":
            from .api import resolve_model

            self.model = resolve_model(args.model, pick_device(args.device))
            self.settings = search_settings(args, self.model)

    def __call__(self, batch: list[Job], notice=print) -> list[InpaintError | None]:
        from .images import read_image

        outcomes: list[InpaintError | None] = [None] * len(batch)
        loaded = []
        for position, job in enumerate(batch):
            try:
                image = read_image(job.image, mode="auto")
                loaded.append((position, job, image, mask_for(self.args, job.image, image.shape[:2], job.index,
                                                              notice=notice)))
            except InpaintError as error:
                outcomes[position] = error
        for position, error in self.fill(loaded, notice=notice):
            outcomes[position] = error
        return outcomes

    def fill(self, loaded, notice=print):
        """(position, InpaintError | None) for each loaded (position, job, image, mask), written when None."""
        if self.model is not None and len(loaded) > 1:
            try:
                results = self.ours([image for _, _, image, _ in loaded], [mask for *_, mask in loaded])
            except InpaintError:  # one image's trouble must not cost the others: find it one by one
                results = None
            if results is not None:
                return [(position, self.write(job, image, mask, *result, notice=notice))
                        for (position, job, image, mask), result in zip(loaded, results)]
        outcomes = []
        for position, job, image, mask in loaded:
            try:
                if self.model is not None:
                    filled, raw, outcome = self.ours([image], [mask])[0]
                else:
                    filled, raw, outcome = self.baseline(image, mask), None, None
                outcomes.append((position, self.write(job, image, mask, filled, raw, outcome, notice=notice)))
            except InpaintError as error:
                outcomes.append((position, error))
        return outcomes

    def ours(self, images, masks) -> list[tuple]:
        """(filled, raw G(ẑ), Outcome) per image: one search for them all."""
        import warnings

        import torch

        from .api import inpaint
        from .plausibility import ImplausibleCompletion

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ImplausibleCompletion)
            results = inpaint(list(images), list(masks), model=self.model, settings=self.settings,
                              generator=torch.Generator().manual_seed(self.args.seed), progress=self.progress,
                              face=self.args.face_box, face_check=not self.args.no_face_check)
        doubts = {w.message.index: w.message.reason for w in caught if isinstance(w.message, ImplausibleCompletion)}
        return [(result.image, result.generated,
                 Outcome(result.crop, doubts.get(index), result.candidates, result.spread))
                for index, result in enumerate(results)]

    def baseline(self, image, mask):
        options = {}
        if self.args.method == "context_encoder" and self.args.model:
            options["model"] = self.args.model
        if self.args.method == "nearest_neighbour":
            from .baselines.nearest_neighbour import read_references

            shape = image.shape[:2] if image.ndim == 2 else (*image.shape[:2], 3)
            if shape not in self.references:
                self.references[shape] = read_references(self.args.references, shape, progress=self.progress)
            options["references"] = self.references[shape]
        return fill_with_baseline(self.args.method, image, mask, **options)

    def write(self, job: Job, image, mask, filled, raw, outcome: "Outcome | None" = None, notice=print) -> None:
        import numpy as np

        from .images import output_bits, save_image
        from .masks import save_mask

        save_image(job.output, filled, bits=output_bits(image, job.output))
        if outcome is not None and outcome.candidates is not None:
            for path, completion in zip(job.results[1:], outcome.candidates):  # NAME_1 … NAME_K
                save_image(path, completion, bits=output_bits(image, path))
            if job.spread_file is not None:
                save_image(job.spread_file, np.clip(outcome.spread * SPREAD_SCALE, 0, 1))
        if job.raw is not None and raw is not None:
            save_image(job.raw, raw, bits=output_bits(image, job.raw))
        if job.mask is not None:
            save_mask(job.mask, mask)
        if outcome is not None:
            self.report(job, image, mask, outcome, notice)
        self.last = (image, mask)

    def report(self, job: Job, image, mask, outcome: "Outcome", notice) -> None:
        """The face searched (for one image), the model's view (--save-crop), and the plausibility warning."""
        from .api import model_view
        from .images import save_image

        folder = self.args.image.is_dir()
        crop = outcome.crop
        if crop is not None and crop.face is not None and self.args.face_box is None and not folder:
            top, left, height, width = crop.framed
            notice(f"face found at {','.join(map(str, crop.face))} (x,y,w,h); the model saw the square "
                   f"{left},{top},{width},{height} around it")
        if job.crop is not None and crop is not None:
            save_image(job.crop, model_view(image, mask, crop, self.model))
        if outcome.doubt is not None:
            where = f"{job.image}: " if folder else ""
            print(f"warning: {where}{outcome.doubt}", file=sys.stderr)


@dataclass(frozen=True)
class Outcome:
    """What ours says about one image beyond its pixels: the region it searched (a geometry.Crop) and,
    when the completion is unlikely to be a face, why (the plausibility warning's text)."""

    crop: object = None
    doubt: str | None = None
    candidates: object = None  # (K, *image.shape) with K > 1 completions
    spread: object = None      # (H, W) their per-pixel standard deviation


def check_face_options(args) -> None:
    """--face, --no-face-check, --save-crop, --candidates, --mirror, --save-candidates and --uncertainty
    are for ours; --face must read as X,Y,W,H."""
    if args.method != "ours":
        for flag, value in (("--face", args.face), ("--no-face-check", args.no_face_check),
                            ("--save-crop", args.save_crop), ("--candidates", args.candidates),
                            ("--mirror", args.mirror), ("--save-candidates", args.save_candidates),
                            ("--uncertainty", args.uncertainty)):
            if value:
                raise InpaintError(f"{flag} is for --method ours (the latent search), not {args.method}")
    from .faces import parse_box

    args.face_box = parse_box(args.face) if args.face is not None else None


def check_method(name: str, references: Path | None = None) -> None:
    """Refuse an unknown --method, or nearest_neighbour without --references, before any work is done."""
    from .baselines import METHODS

    if name != "ours" and name not in METHODS:
        raise InpaintError(f"unknown method {name!r}; choose one of: {', '.join(['ours', *METHODS])}")
    if name == "nearest_neighbour" and references is None:
        raise InpaintError("--method nearest_neighbour needs --references DIR: a folder of reference images")
    if references is not None and name != "nearest_neighbour":
        raise InpaintError("--references is for --method nearest_neighbour only")
    if references is not None and not references.is_dir():
        raise InpaintError(f"--references {references} is not a folder")


def fill_with_baseline(name: str, image, mask, **options):
    """A comparison method (with its options) on a user's image (uint8, any layout the CLI reads):
    float [0, 1], alpha kept."""
    from .baselines import fill
    from .images import split_alpha, to_float, with_alpha

    colour, alpha = split_alpha(to_float(image))
    return with_alpha(fill(name, colour, mask, **options), alpha)


def add_masks(subparsers) -> None:
    parser = subparsers.add_parser(
        "masks", help="write a reproducible set of masks as PNG files (white = missing)",
        description="Write COUNT masks of one kind as 8-bit PNGs; " + MASK_HELP + ". Mask i depends only "
                    "on (seed, i), so a longer set starts with the shorter one.",
    )
    parser.add_argument("--kind", required=True, help="center, pattern, random_pixels (alias random), half")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--size", type=int, nargs="+", default=[64], metavar="N",
                        help="height [width] in pixels (default 64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path, help="folder to write mask_00000.png … into")
    parser.add_argument("--overwrite", action="store_true", help="replace existing mask files")
    parser.set_defaults(run=run_masks)


def run_masks(args) -> None:
    from .masks import make_masks, save_mask

    if len(args.size) > 2:
        raise InpaintError("--size takes a height and optionally a width")
    height, width = args.size[0], args.size[-1]
    masks = make_masks(args.kind, args.count, height, width, seed=args.seed)
    paths = [args.out / f"mask_{index:05d}.png" for index in range(args.count)]
    refuse_to_overwrite(paths, args.overwrite)
    for path, mask in zip(paths, masks):
        save_mask(path, mask)
    print(f"wrote {args.count} {args.kind} masks ({width}×{height}) to {args.out}")


def add_demo(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="inpaint real faces shipped with scikit-image, with each mask kind, and draw a figure",
        description="Inpaint the astronaut's face and five LFW faces (both ship inside scikit-image) with "
                    "the four mask kinds, print PSNR per image and write OUT/demo.png "
                    "(input, masked, raw G(ẑ), blended). " + MASK_HELP + ".",
    )
    parser.add_argument("--model", type=Path, help="checkpoint; default: the shipped face model")
    parser.add_argument("--out", type=Path, default=Path("demo_output"), help="folder for demo.png")
    add_search_options(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT/demo.png")
    parser.add_argument("--device", default=None, help="cpu, cuda … (default: cuda if available)")
    parser.set_defaults(run=run_demo)


def run_demo(args) -> None:
    from .api import resolve_model
    from .demo import run_demo as demo

    refuse_to_overwrite([args.out / "demo.png"], args.overwrite)
    model = resolve_model(args.model, pick_device(args.device))
    demo(args.out, model=model, settings=search_settings(args, model), seed=args.seed)


def add_evaluate(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="score ours and baselines on a fixed mask set: tables and figure grids",
        description="Staged evaluation into one folder: fixed saved masks and ground truth, every method's "
                    "predictions, one scorer (PSNR, SSIM, whole image and hole), tables (results.md, "
                    "results.csv) and figure grids. Running it again reuses what exists and continues an "
                    "interrupted run. " + MASK_HELP + ".",
    )
    parser.add_argument("--model", type=Path, help="checkpoint (.safetensors) for ours; default: the shipped model")
    parser.add_argument("--dataset", default="celeba", help="dataset name (see seminpaint.data.DATASETS)")
    parser.add_argument("--root", required=True, type=Path, help="where the dataset is kept")
    parser.add_argument("--split", default="test")
    parser.add_argument("--count", type=int, default=300, help="evaluate the split's first COUNT images")
    parser.add_argument("--masks", nargs="+", default=["center", "pattern", "random_pixels", "half"], metavar="KIND",
                        help="mask kinds: center, pattern, random_pixels (alias random), half")
    parser.add_argument("--methods", nargs="+", default=["ours", "mean", "biharmonic"], metavar="METHOD",
                        help="ours and baseline names (default: ours mean biharmonic)")
    parser.add_argument("--method-option", action="append", default=[], metavar="METHOD.NAME=VALUE",
                        help="an option for one method, e.g. tv.iterations=200 or ours.blend=overlay "
                             "(VALUE is read as JSON when it parses, else as text); repeatable")
    parser.add_argument("--references", type=Path,
                        help="a folder of reference images for nearest_neighbour (default: the dataset's train split)")
    add_search_options(parser, default="paper")
    parser.add_argument("--seed", type=int, default=0, help="seed of the masks and of ours' random starts")
    parser.add_argument("--batch-size", type=int, default=64, help="images per latent search batch of ours")
    parser.add_argument("--image-size", type=int, help="image side (default: the model's, or 64 without ours)")
    parser.add_argument("--channels", type=int, choices=(1, 3), help="default: the model's, or 3 without ours")
    parser.add_argument("--figure-indices", type=int, nargs="+", metavar="I",
                        help="images shown in the figure grids (default: the first 6)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (reused and continued)")
    parser.add_argument("--device", default=None, help="cpu, cuda … for ours (default: cuda if available; "
                        "under torchrun cuda means cuda:LOCAL_RANK)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--shard", metavar="INDEX/COUNT",
                        help="predict only shard INDEX (from 0) of COUNT: chunks of ours and images of the "
                             "baselines whose number ≡ INDEX mod COUNT, then stop without scoring; run the "
                             "command without --shard once every shard is done. Under torchrun each rank "
                             "takes its shard by itself (docs/distributed.md)")
    parser.set_defaults(run=run_evaluate)


def evaluate_method_options(entries: list[str]) -> dict[str, dict]:
    """--method-option METHOD.NAME=VALUE entries → {method: {name: value}} (VALUE as JSON if it parses)."""
    import json

    options: dict[str, dict] = {}
    for entry in entries:
        key, equals, text = entry.partition("=")
        method, dot, name = key.partition(".")
        if not (equals and dot and method and name):
            raise InpaintError(f"--method-option {entry!r} must look like METHOD.NAME=VALUE")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        options.setdefault(method, {})[name] = value
    return options


def run_evaluate(args) -> None:
    import datetime

    from . import distributed
    from .evaluation import evaluate
    from .shards import current_shard, parse_shard

    options = evaluate_method_options(args.method_option)
    if "ours" in args.methods:  # the preset's settings with the command line's overrides
        ours = options.setdefault("ours", {})
        for name in SEARCH_OPTIONS:
            if getattr(args, name, None) is not None:
                ours.setdefault(name, getattr(args, name))
    if args.references is not None:
        if "nearest_neighbour" not in args.methods:
            raise InpaintError("--references is for the nearest_neighbour method; add it to --methods")
        options.setdefault("nearest_neighbour", {})["references"] = str(args.references)
    shard = parse_shard(args.shard) if args.shard is not None else None
    device = pick_device(args.device) if "ours" in args.methods else None
    # Evaluation needs only barriers between the ranks: gloo, and time for unequal shards.
    with distributed.session(device or "cpu", backend="gloo", timeout=datetime.timedelta(hours=12)):
        device = distributed.local_device(device) if device is not None else None
        path = evaluate(dataset=args.dataset, root=args.root, split=args.split, count=args.count,
                        kinds=args.masks, methods=args.methods, out=args.out, model=args.model, settings=args.preset,
                        seed=args.seed, batch_size=args.batch_size, method_options=options,
                        figure_indices=args.figure_indices, progress=not args.quiet and distributed.is_main(),
                        image_size=args.image_size, channels=args.channels, device=device, shard=shard)
        index, count = current_shard(shard)
    if path is None:
        print(f"shard {index}/{count}: predictions written to {args.out / 'predictions'}"
              + ("" if distributed.launched() else "; once every shard is done, run the same command "
                                                  "without --shard to score and report"))
        return
    print(path.read_text(), end="")
    print(f"wrote {path}")


def add_export(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="write a training checkpoint's G and D (and latent encoder) alone, optionally float16, for inference",
        description="Keep only the networks and their configuration from a checkpoint (no optimiser "
                    "state), optionally in half precision, to ship or share a model. A Context Encoder "
                    "checkpoint (train-context-encoder) keeps its network alone (its D is for training).",
    )
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--half", action="store_true", help="store the weights as float16")
    parser.add_argument("--overwrite", action="store_true")
    parser.set_defaults(run=run_export)


def run_export(args) -> None:
    import torch

    from .networks.checkpoint import (
        CONTEXT_ENCODER_FORMAT, build_encoder, build_networks, checkpoint_format, read_checkpoint, save_checkpoint,
    )

    refuse_to_overwrite([args.out], args.overwrite)
    dtype = torch.float16 if args.half else None
    if checkpoint_format(args.checkpoint) == CONTEXT_ENCODER_FORMAT:
        from .networks.context_encoder import export

        export(args.checkpoint, args.out, dtype=dtype)
    else:
        checkpoint = read_checkpoint(args.checkpoint)
        generator, discriminator = build_networks(checkpoint)
        training = {k: v for k, v in checkpoint.training.items() if k in ("epoch", "step", "encoder_epoch", "encoder_step")}
        save_checkpoint(args.out, checkpoint.config, generator, discriminator, encoder=build_encoder(checkpoint),
                        training=training, dtype=dtype)
    print(f"wrote {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB)")


def add_sample(subparsers) -> None:
    parser = subparsers.add_parser("sample", help="draw random images G(z), z ~ U[-1, 1], as a grid")
    parser.add_argument("--model", type=Path, help="checkpoint; default: the shipped face model")
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path, help="PNG file for the grid")
    parser.add_argument("--overwrite", action="store_true")
    parser.set_defaults(run=run_sample)


def run_sample(args) -> None:
    import torch

    from .api import resolve_model
    from .images import from_tensor, make_grid, save_image
    from .networks.dcgan import sample_latent

    refuse_to_overwrite([args.out], args.overwrite)
    if args.count < 1:
        raise InpaintError("--count must be at least 1")
    model = resolve_model(args.model, "cpu")
    low, high = model.latent_range
    z = sample_latent(args.count, model.latent_dim, generator=torch.Generator().manual_seed(args.seed),
                      low=low, high=high)
    with model.frozen(), torch.no_grad():
        images = from_tensor(model.generator(z))
    save_image(args.out, make_grid(images, columns=min(8, args.count)))
    print(f"wrote {args.count} samples to {args.out}")


def add_serve(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="start the local web page: upload, paint the hole, watch G(z) improve, download",
        description="Start a local web server with one page: upload or pick an image, paint the hole "
                    "(or pick a mask kind), choose ours or a baseline, and watch G(z) improve while the "
                    "latent search runs. Requests are queued and run one at a time. " + MASK_HELP + ".",
    )
    parser.add_argument("--model", type=Path, help="checkpoint (.safetensors); default: the shipped face model")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="also answer requests whose Host header is NAME (or NAME:port); repeatable. "
                             "By default only the addresses it listens on (127.0.0.1, localhost, [::1], --host)")
    parser.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload in MiB (default 20)")
    parser.add_argument("--max-pixels", type=int, default=4096 * 4096, help="largest image in pixels")
    parser.add_argument("--queue-limit", type=int, default=32, help="requests that may wait (more are refused)")
    parser.add_argument("--iterations", type=int, help="Adam steps offered by default (default: the preset's; "
                                                       "the page can change it)")
    parser.add_argument("--max-iterations", type=int, default=1500, help="most Adam steps a page may ask for")
    parser.add_argument("--max-candidates", type=int, default=MAX_CANDIDATES,
                        help=f"most completions a page may ask for per image (default and at most {MAX_CANDIDATES})")
    parser.add_argument("--max-job-steps", type=int,
                        help="most work one request may ask for, counted as candidates × (Adam steps + the "
                             "preset's tuning steps) (default: 4 × --max-iterations)")
    parser.add_argument("--preset", help=PRESET_HELP)
    parser.add_argument("--device", default=None, help="cpu, cuda … (default: cuda if available)")
    parser.set_defaults(run=run_serve)


def run_serve(args) -> None:
    from .api import resolve_model, resolve_settings
    from .web.app import WebConfig, serve

    if args.max_upload_mb <= 0 or args.max_pixels < 1 or args.queue_limit < 1:
        raise InpaintError("--max-upload-mb, --max-pixels and --queue-limit must be positive")
    if not 0 <= args.port <= 65535:
        raise InpaintError(f"--port must be in 0 … 65535, got {args.port}")
    if not 1 <= args.max_candidates <= MAX_CANDIDATES:
        raise InpaintError(f"--max-candidates must be from 1 to {MAX_CANDIDATES}, got {args.max_candidates}")
    if args.max_job_steps is not None and args.max_job_steps < 1:
        raise InpaintError(f"--max-job-steps must be positive, got {args.max_job_steps}")
    model = resolve_model(args.model, pick_device(args.device))  # loaded once, before the server starts
    settings = resolve_settings(args.preset, model)
    iterations = settings.iterations if args.iterations is None else args.iterations
    if not 1 <= iterations <= args.max_iterations:
        raise InpaintError("--iterations must be between 1 and --max-iterations")
    config = WebConfig(max_upload_bytes=int(args.max_upload_mb * 2**20), max_pixels=args.max_pixels,
                       queue_limit=args.queue_limit, max_iterations=args.max_iterations,
                       default_iterations=iterations, settings=settings, max_candidates=args.max_candidates,
                       max_job_steps=args.max_job_steps)
    serve(model, config, host=args.host, port=args.port, allow_hosts=args.allow_host,
          announce=lambda line: print(line, flush=True))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seminpaint",
        description="Semantic image inpainting with deep generative models (Yeh et al., CVPR 2017). "
                    + MASK_HELP + ".",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_demo(subparsers)
    add_inpaint(subparsers)
    add_masks(subparsers)
    add_train(subparsers)
    add_train_context_encoder(subparsers)
    add_train_encoder(subparsers)
    add_sample(subparsers)
    add_export(subparsers)
    add_evaluate(subparsers)
    add_serve(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except InpaintError as error:
        print(f"seminpaint: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seminpaint: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
