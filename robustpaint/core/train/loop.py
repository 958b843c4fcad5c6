"""Adversarial training: PGD-k, fast FGSM with random start or N-FGSM, SGD Nesterov, one-cycle or cosine schedule,
bf16 autocast + channels_last on CPUs that support it, an optional exponential moving average of the weights
(`--ema`), a checkpoint every epoch and exact `--resume`.

Runs unchanged under `torchrun --nproc_per_node=N` (DistributedDataParallel; gloo on CPU, nccl on CUDA).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from robustpaint.core.attacks import nfgsm_attack, pgd_attack
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.models import build_classifier, choose_precision
from robustpaint.core.models.checkpoint import save_model
from robustpaint.core.train.data import augment, load_split, random_resized_crop
from robustpaint.core.train.state import reported_write, restore, tensor_bytes, write_checkpoint


@dataclass
class TrainConfig:
    arch: str = "resnet18"
    data: str = "cifar10"
    out: str = "runs/model"
    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "onecycle"  # or "cosine"
    warmup_fraction: float = 0.25
    norm: str = "l2"  # l2, linf, or none for standard training
    eps: float = 0.5
    attack_steps: int = 1  # 1 = FGSM with random start ("fast"), k > 1 = PGD-k
    attack_step_size: float | None = None  # default: 1.25 eps for one step, 2.5 eps / k for PGD-k
    attack: str = "pgd"  # "pgd" (PGD-k / FGSM-RS) or "nfgsm" (one step of eps from noise of 2 eps, unclipped)
    check_robust: int = 0  # test images attacked with PGD-10 after each epoch (0: none); catches catastrophic overfitting
    precision: str = "auto"  # auto, bf16, fp32
    seed: int = 0
    device: str = "cpu"
    max_batches: int | None = None  # for smoke tests: stop each epoch early
    half_weights: bool = True
    init_from: str | None = None  # a model name or .safetensors path to start from (fresh optimizer and schedule)
    ema: float | None = None  # per-step decay of a moving average of weights and BatchNorm statistics; it is the output
    image_size: int | None = None  # train on random-resized crops of this side (photos); None: pad-crop at the data's size
    crop_scale: float = 0.25  # the smallest crop area (a fraction of the photo) for --image-size

    @property
    def step_size(self) -> float:
        if self.attack_step_size is not None:
            return self.attack_step_size
        return 1.25 * self.eps if self.attack_steps == 1 else 2.5 * self.eps / self.attack_steps


def _lr_at(cfg: TrainConfig, progress: float) -> float:
    """Learning rate at `progress` in [0, 1] of the whole run."""
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))
    if progress < cfg.warmup_fraction:
        return cfg.lr * progress / cfg.warmup_fraction
    return cfg.lr * (1 - progress) / (1 - cfg.warmup_fraction)


def _distributed() -> tuple[int, int]:
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) <= 1:
        return 0, 1
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def train_step(model, net, optimizer, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, bf16: bool,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of adversarial training: attack the batch (unless norm is "none"), then an SGD step on the result.

    `net` is `model` or its DistributedDataParallel wrapper; `x` should be channels_last for bf16's fast kernels.
    Returns the loss and the logits on the attacked batch. benchmarks/train_throughput.py times exactly this."""
    if cfg.norm != "none" and cfg.attack == "nfgsm":
        x = nfgsm_attack(model, x, y, cfg.norm, cfg.eps, bf16=bf16, generator=generator)
    elif cfg.norm != "none":
        x = pgd_attack(model, x, y, cfg.norm, cfg.eps, cfg.attack_steps, cfg.step_size, rand_init=True,
                       bf16=bf16, generator=generator)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = net(x)
    loss = F.cross_entropy(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss, logits


def _attack_words(cfg: TrainConfig) -> str:
    if cfg.norm == "none":
        return "none"
    if cfg.attack == "nfgsm":
        return f"{cfg.norm} eps {cfg.eps}, N-FGSM (one step of {cfg.eps:g} from noise of {2 * cfg.eps:g})"
    return f"{cfg.norm} eps {cfg.eps}, {cfg.attack_steps} step(s) of {cfg.step_size:g}"


def _robust_check_set(cfg: TrainConfig):
    """The first `check_robust` test images in a fixed shuffled order, at the training side."""
    from robustpaint.core.train.data import resize_images
    test = load_split(cfg.data, "test")
    order = torch.randperm(len(test.labels), generator=torch.Generator().manual_seed(0))[:cfg.check_robust]
    images = test.images[order]
    side = cfg.image_size or int(images.shape[-1])
    if images.shape[-1] != side:
        images = resize_images(images, side)
    return images.float().div(255), test.labels[order]


def _robust_check(model, check_set, cfg: TrainConfig, device) -> dict:
    """Clean and PGD-10 accuracy of the weights being trained (not the average) at the training radius: a collapse
    of the robust figure while training accuracy rises is catastrophic overfitting."""
    from robustpaint.core.attacks import robust_predictions
    images, labels = check_set
    model.eval()
    clean = robust = 0
    for start in range(0, len(labels), 100):
        x, y = images[start:start + 100].to(device), labels[start:start + 100].to(device)
        with torch.no_grad():
            clean += int((model(x).argmax(1) == y).sum())
        robust += int(robust_predictions(model, x, y, cfg.norm, cfg.eps, 10, 2.5 * cfg.eps / 10).sum())
    model.train()
    return {"check_clean": round(clean / len(labels), 4), "check_pgd10": round(robust / len(labels), 4)}


def _start_from(model, cfg: TrainConfig, classes: list[str]) -> dict:
    """Loads the weights of `cfg.init_from` into `model` (fine-tuning: the optimizer and schedule start afresh) and
    returns what the card records of them: name, sha256 and their own recipe, so the lineage stays readable."""
    from robustpaint.core.models.checkpoint import load_model
    from robustpaint.core.catalog import find_model

    entry = find_model(cfg.init_from)
    source, card = load_model(entry.weights)
    if card["arch"] != cfg.arch:
        raise RobustPaintError(f"--init {cfg.init_from} is {card['arch']}, not {cfg.arch}")
    weights = {k: v.float() for k, v in source.net.state_dict().items()}
    fresh_head = []
    if card["classes"] != classes:
        # Transfer to other classes: the backbone's weights, a freshly initialised head (the tensors whose shape
        # follows the class count). Anything else that differs is another network, not a transfer.
        target = model.net.state_dict()
        fresh_head = [k for k, v in weights.items() if k in target and v.shape != target[k].shape]
        if not fresh_head or any(weights[k].shape[0] != len(card["classes"]) for k in fresh_head):
            raise RobustPaintError(f"--init {cfg.init_from} on classes {card['classes']} does not transfer to "
                                   f"{classes}: only the classifier head may differ")
        for k in fresh_head:
            weights[k] = target[k]
    model.net.load_state_dict(weights)
    return {"model": entry.name, "weights_sha256": card.get("weights_sha256"), "recipe": card.get("recipe"),
            **({"classes": card["classes"], "fresh_head": fresh_head} if fresh_head else {})}


def train(cfg: TrainConfig, resume: bool = False, log=print) -> dict:
    """Trains and writes `OUT/model.safetensors` + card, and `OUT/checkpoint.pt` (weights-only loadable)."""
    if cfg.norm not in ("l2", "linf", "none"):
        raise RobustPaintError(f"norm must be l2, linf or none, not {cfg.norm!r}")
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise RobustPaintError("epochs and batch size must be at least 1")
    if cfg.image_size is not None and not 16 <= cfg.image_size <= 512:
        raise RobustPaintError(f"the training image size must lie in 16-512 pixels, not {cfg.image_size}")
    if not 0.01 <= cfg.crop_scale <= 1:
        raise RobustPaintError(f"the smallest crop area must lie in [0.01, 1], not {cfg.crop_scale}")
    if cfg.attack not in ("pgd", "nfgsm"):
        raise RobustPaintError(f"the attack must be pgd or nfgsm, not {cfg.attack!r}")
    if cfg.ema is not None and not 0 <= cfg.ema <= 1:
        raise RobustPaintError(f"the EMA decay must lie in [0, 1], not {cfg.ema}")
    rank, world = _distributed()
    device = torch.device(cfg.device if cfg.device != "cuda" else f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    bf16 = choose_precision(cfg.precision, device, cfg.arch)
    out = Path(cfg.out)
    checkpoint_path = out / "checkpoint.pt"
    torch.manual_seed(cfg.seed)

    data = load_split(cfg.data, "train")
    n = len(data.labels)
    if n < world:
        raise RobustPaintError(f"{n} training images for {world} processes: each needs at least one")
    if n < cfg.batch_size * world:  # a small folder trains with one smaller batch per epoch (the card records it)
        log(f"{n} training images are fewer than one batch of {cfg.batch_size} x {world}: training with batches "
            f"of {n // world}")
        cfg = replace(cfg, batch_size=n // world)
    model, optimizer = _network_and_optimizer(cfg, data.classes, device)
    batches_per_epoch = n // (cfg.batch_size * world)
    if cfg.max_batches:
        batches_per_epoch = min(batches_per_epoch, cfg.max_batches)
    total_batches = batches_per_epoch * cfg.epochs
    start_epoch, history = 0, []
    init_record = None
    if cfg.init_from:  # loaded first, so that --resume below replaces it with the checkpoint's weights
        init_record = _start_from(model, cfg, data.classes)
        log(f"starting from the weights of {cfg.init_from} (sha256 {str(init_record['weights_sha256'])[:12]}...)")
    # The average starts as a copy of the starting weights; it is what the run writes as its model.
    averaged = _average_of(model, cfg)
    if resume and checkpoint_path.is_file():
        start_epoch, history = restore(checkpoint_path, cfg.arch, data.classes, cfg.epochs, model, optimizer, averaged)
        log(f"resumed from {checkpoint_path} after epoch {start_epoch}")
    elif resume:
        log(f"no checkpoint at {checkpoint_path}; starting at epoch 1")
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model)
    if rank == 0:
        log(f"training {cfg.arch} on {n} images ({len(data.classes)} classes), {world} process(es), "
            f"{'bf16 autocast + channels_last' if bf16 else 'fp32 + channels_last'} on {device}, "
            f"attack: {_attack_words(cfg)}")
    check_set = _robust_check_set(cfg) if cfg.check_robust and rank == 0 else None

    for epoch in range(start_epoch, cfg.epochs):
        generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        order = torch.randperm(n, generator=generator)
        order = order[rank::world]
        model.train()
        seen = correct = 0
        loss_sum = 0.0
        started = time.perf_counter()
        bar = tqdm(range(batches_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=rank != 0,
                   file=sys.stderr, mininterval=5 if sys.stderr.isatty() else 60)
        for b in bar:
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            if cfg.image_size:
                x = random_resized_crop(data.images[idx], cfg.image_size, generator, (cfg.crop_scale, 1.0))
                x = x.to(device).div_(255)
            else:
                x = augment(data.images[idx], generator).to(device).float().div_(255)
            x = x.contiguous(memory_format=torch.channels_last)
            y = data.labels[idx].to(device)
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(cfg, (epoch * batches_per_epoch + b) / total_batches)
            loss, logits = train_step(model, net, optimizer, x, y, cfg, bf16, generator)
            if averaged is not None:
                averaged.update_parameters(model)
            seen += len(y)
            correct += int((logits.argmax(1) == y).sum())
            loss_sum += float(loss.detach()) * len(y)
            bar.set_postfix_str(f"img/s {seen * world / (time.perf_counter() - started):.0f} "
                                f"loss {loss_sum / seen:.3f} acc {correct / seen:.3f}", refresh=False)
        elapsed = time.perf_counter() - started
        history.append({"epoch": epoch + 1, "loss": loss_sum / seen, "train_adv_accuracy": correct / seen,
                        "seconds": round(elapsed, 1), "images_per_second": round(seen * world / elapsed, 1)})
        if check_set is not None:
            history[-1].update(_robust_check(model, check_set, cfg, device))
        if rank == 0:
            log(json.dumps(history[-1]))
            out.mkdir(parents=True, exist_ok=True)
            write_checkpoint(checkpoint_path, {
                "model": model.net.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                "ema": averaged.state_dict() if averaged is not None else None,
                "history": history, "config": asdict(cfg), "classes": data.classes,
                "input_size": cfg.image_size or int(data.images.shape[-1]),
                "precision_used": "bf16" if bf16 else "fp32", "processes": world, "init_record": init_record})
    if rank == 0:
        final = averaged.module if averaged is not None else model
        _write_model(final, out / "model.safetensors", cfg, history, init_record,
                     cfg.image_size or int(data.images.shape[-1]), "bf16" if bf16 else "fp32", world)
    if world > 1:
        import torch.distributed as dist
        dist.barrier()
        dist.destroy_process_group()
    return {"history": history}


def _network_and_optimizer(cfg: TrainConfig, classes: list[str], device) -> tuple[torch.nn.Module, torch.optim.SGD]:
    model = build_classifier(cfg.arch, classes).to(device)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                                weight_decay=cfg.weight_decay)
    return model, optimizer


def _average_of(model, cfg: TrainConfig) -> AveragedModel | None:
    """With --ema, the moving average, started as a copy of the model's weights (what the run writes as its model)."""
    if cfg.ema is None:
        return None
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
    averaged.update_parameters(model)  # the first update copies; later ones average
    return averaged


def _write_model(final, path: Path, cfg: TrainConfig, history: list, init_record, input_size: int,
                 precision_used: str | None, processes: int | None, snapshot: dict | None = None,
                 option: str = "--out") -> dict:
    """Writes the run's model and its card (recipe, history); `snapshot` marks a model taken before the run ended.
    A figure the run did not record (a checkpoint of older code) is left out of the card, not guessed."""
    final.eval()
    recipe = {k: v for k, v in asdict(cfg).items() if k not in ("out", "device", "max_batches")}
    recipe.update({"attack_step_size": cfg.step_size, "history": history,
                   "wall_time_minutes": round(sum(h["seconds"] for h in history) / 60, 1)})
    recipe.update({k: v for k, v in (("precision_used", precision_used), ("processes", processes)) if v is not None})
    if init_record is not None:
        recipe["init_from"] = init_record
    final.input_size = input_size
    card = {"dataset": Path(cfg.data).name, "robust": cfg.norm != "none",
            "role": "synthesis" if cfg.norm != "none" else "evaluator", "recipe": recipe}
    if snapshot is not None:
        card["snapshot"] = snapshot
    final = final.float().to("cpu").to(memory_format=torch.contiguous_format)
    needed = tensor_bytes(final.net.state_dict()) // (2 if cfg.half_weights else 1)
    with reported_write(path, needed, option, training=snapshot is None):
        return save_model(final, path, card, half=cfg.half_weights)


def snapshot(run: Path, to: Path | None = None) -> Path:
    """The model of an unfinished run as it stands after its last finished epoch (its moving average with --ema,
    as the run would write it), so that it can be tried and measured while training goes on. Written to `to`, by
    default RUN/snapshot-epoch-NN.safetensors, with a card that says which epoch of how many. The checkpoint is
    checked as `--resume` checks it: a damaged one is one line, never a model of NaN."""
    from robustpaint.core.models.checkpoint import card_path, read_card
    from robustpaint.core.train.data import DataError
    from robustpaint.core.train.state import read_checkpoint, run_of
    checkpoint_path = Path(run) / "checkpoint.pt"
    if not checkpoint_path.is_file():
        raise RobustPaintError(f"{checkpoint_path} does not exist: snapshot takes a training run's --out folder "
                               f"after its first epoch")
    state = read_checkpoint(checkpoint_path)
    config, classes = run_of(checkpoint_path, state)
    try:  # the run's own settings, as train() builds them (a value damaged by hand fails here, as one line)
        cfg = TrainConfig(**{k: v for k, v in config.items() if k in TrainConfig.__dataclass_fields__})
        model, optimizer = _network_and_optimizer(cfg, classes, "cpu")
        averaged = _average_of(model, cfg)
    except (TypeError, ValueError) as exc:
        raise RobustPaintError(f"{checkpoint_path} holds settings train would not take ({exc})") from None
    epoch, history = restore(checkpoint_path, cfg.arch, classes, cfg.epochs, model, optimizer, averaged, state)
    path = Path(to) if to is not None else Path(run) / f"snapshot-epoch-{epoch:02d}.safetensors"
    if path.exists():  # a snapshot is written again; any other model (the run's own, an evaluated one) is kept
        try:
            replaceable = "snapshot" in read_card(card_path(path))
        except RobustPaintError:
            replaceable = False
        if not replaceable:
            raise RobustPaintError(f"{path} exists and is not a snapshot: choose another --to")
    input_size = state.get("input_size") or cfg.image_size
    if input_size is None:  # checkpoints written before they recorded it: the data's own size, as training used
        try:
            input_size = int(load_split(cfg.data, "test").images.shape[-1])
        except DataError as exc:
            raise RobustPaintError(f"{checkpoint_path} was written by an older version that did not record the "
                                   f"model's input size, and its data cannot be read to find it ({exc}); run "
                                   f"snapshot from the folder the training ran in") from None
    _write_model(averaged.module if averaged is not None else model, path, cfg, history, state.get("init_record"),
                 int(input_size), state.get("precision_used"), state.get("processes"),
                 snapshot={"after_epoch": epoch, "of_epochs": cfg.epochs}, option="--to")
    return path
