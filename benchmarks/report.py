"""Writes the README's Models table and the Performance and Quality tables of docs/performance.md and
docs/quality.md from the model cards and the JSON in benchmarks/results/ (never typed by hand).

    python benchmarks/report.py [--check]

Each table goes between `<!-- report:NAME -->` and `<!-- /report:NAME -->` in its file. `--check` fails when a
file differs from what the JSON says (CI runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def _peer_table(result: dict, intro: str) -> list[str]:
    """A peer_robustness_lib.py result as README lines: what it measured, theirs against ours."""
    return [intro, "", "| measurement | robustness library | RobustPaint | ours / theirs |", "|---|---|---|---|",
            *(f"| {r['what']} | {r['theirs']} {r['unit']} | {r['ours']} {r['unit']} | {r['ratio']} |"
              for r in result["rows"]), ""]


def _table(intro: str, columns: list[str], rows) -> list[str]:
    """README lines: the sentence that says what was measured, then the table."""
    return [intro, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows), ""]


def performance() -> str:
    lines = []
    step = _load("pgd_step.json") or _load("pgd_step_quick.json")
    if step:
        lines += ["PGD step of the engine against a bare eager forward + input-gradient backward of the same model and "
                  "batch (`benchmarks/pgd_step.py`; aim: ratio <= 1.05; with `--fold` the engine runs the model as the "
                  "app and the CLI load it, BatchNorm folded into the convolutions, and the bare step the unfolded "
                  f"model; {step.get('machine', '?')}):", "",
                  "| model | batch | precision | BatchNorm folded | engine | bare | ratio |",
                  "|---|---|---|---|---|---|---|"]
        for r in step["rows"]:
            lines.append(f"| {r['arch']} | {r['batch']} | {r['precision']} | {'yes' if r.get('folded') else 'no'} | "
                         f"{r['engine_ms']} ms | {r['bare_ms']} ms | {r['ratio']} |")
        lines.append("")
    fp32 = [r for name in ("pgd_step_fp32_nobf16.json", "pgd_step_fp32_nobf16_128.json") for r in
            (_load(name) or {}).get("rows", [])]
    if fp32:
        lines += ["fp32 on a CPU without bf16 units (forced with `ONEDNN_MAX_CPU_ISA=AVX512_CORE`): the engine's step as "
                  "shipped (BatchNorm folded), the same under `torch.compile` (inductor, timed after its compile), "
                  "and a bare eager step, interleaved (`benchmarks/pgd_step.py --fold --compile --precisions fp32`; "
                  "aim: bare / engine >= 1.3):", "",
                  "| model | side | batch | engine (folded) | compiled | bare eager | bare / engine | bare / compiled "
                  "| compile time |", "|---|---|---|---|---|---|---|---|---|"]
        for r in fp32:
            compiled = (f"{r['compiled_ms']} ms | " if "compiled_ms" in r else "- | ")
            lines.append(f"| {r['arch']} | {r['side']} px | {r['batch']} | {r['engine_ms']} ms | {compiled}"
                         f"{r['bare_ms']} ms | {r['bare_ms'] / r['engine_ms']:.2f} | "
                         + (f"{r['bare_ms'] / r['compiled_ms']:.2f} | {r['compile_seconds']} s |" if "compiled_ms" in r
                            else "- | - |"))
        lines.append("")
    levers = _load("fp32_levers.json")
    if levers:
        lines += _table(f"Other fp32 levers on the same setting (`ONEDNN_MAX_CPU_ISA={levers['onednn_max_cpu_isa']} "
                        "python benchmarks/fp32_levers.py --compile`): each variant runs the same forward and "
                        "input-gradient backward, interleaved with a bare eager step of the unfolded model:",
                        ["model", "side", "batch", "variant", "step", "bare / this"],
                        [[r["arch"], f"{r['side']} px", r["batch"],
                          r["variant"] + (f" (prepared in {r['prepare_s']} s)" if r.get("prepare_s") else ""),
                          f"{r['step_ms']} ms", r["bare_over_this"]] for r in levers["rows"]])
    peer_fp32 = _load("peer_robustness_lib_fp32.json")
    if peer_fp32:
        lines += _peer_table(peer_fp32, "The same CPU setting against the authors' library (`ONEDNN_MAX_CPU_ISA="
                             "AVX512_CORE python benchmarks/peer_robustness_lib.py --precision fp32 --fold --no-train`; "
                             f"aim: >= 1.5x; ours {peer_fp32['ours_precision']}):")
    threads = _load("threads.json")
    if threads:
        lines += _table(f"The engine's step ({threads['arch']}, batch {threads['batch']}, {threads['side']} px, "
                        "BatchNorm folded) against torch's thread count, on an idle machine and with a second process "
                        "spinning on one core (`benchmarks/threads.py`; torch's default is one thread per core):",
                        ["load", "threads", "precision", "step"],
                        [[r["load"], r["threads"], r["precision"], f"{r['step_ms']} ms"] for r in threads["rows"]])
    peer = _load("peer_robustness_lib.json")
    if peer:
        lines += _peer_table(peer, "Against the authors' robustness library on the same ResNet-18 "
                                   "(`benchmarks/peer_robustness_lib.py`; aims: >= 2x steps/s at batch 8 and 32, >= 3x "
                                   f"training images/s; ours {peer['ours_precision']}, theirs "
                                   f"{peer['theirs_precision']}):")
    train = _load("train_throughput.json")
    if train:
        lines += ["Adversarial training step against a plain fp32 loop (`benchmarks/train_throughput.py`):", "",
                  "| model | batch | attack | ours | plain fp32 | ratio |", "|---|---|---|---|---|---|",
                  f"| {train['arch']} | {train['batch']} | {train['attack']} | {train['ours_images_per_second']} img/s "
                  f"| {train['baseline_images_per_second']} img/s | {train['ratio']} |", ""]
    for name in ("gui_latency.json", "gui_latency_imagenette.json", "gui_latency_224.json", "gui_latency_busy.json",
                 "gui_latency_canvas.json"):  # the last: canvases larger than the model (#34: >= 10 at 256 px)
        gui = _load(name)
        if not gui:
            continue
        lines += ["The app, offscreen, while the worker runs a sketch (`benchmarks/gui_latency.py`; aims: >= 30 "
                  "updates/s at 32 px, >= 10 at 128 px, stalls <= 16 ms):", "",
                  "| model | canvas | precision | live updates/s | GUI stall p50 | p99 | max |",
                  "|---|---|---|---|---|---|---|"]
        for r in gui["rows"]:
            load = f" ({r['load']}, threads {r['threads']})" if "load" in r else ""
            if "readout_every_s" in r:
                load = load[:-1] + (", readouts every step)" if r["readout_every_s"] == 0
                                    else f", readouts every {r['readout_every_s']} s)")
            lines.append(f"| {r['model']}{load} | {r.get('side', 32)} px | {r.get('precision', 'app default')} | "
                         f"{r['updates_per_second']} | {r['stall_p50_ms']} ms | {r['stall_p99_ms']} ms "
                         f"| {r['stall_max_ms']} ms |")
        lines.append("")
    paint, before = _load("paint_latency.json"), _load("paint_latency_before.json")
    if paint:
        was = {r["side"]: r for r in (before or {}).get("rows", [])}
        lines += _table("The brush in the app: the GUI thread's time per mouse move, its paint included, strokes of "
                        "40 real mouse events on chelsea opened as `robustpaint PHOTO` (`benchmarks/paint_latency.py`; "
                        "before #44: every move redrew the whole stroke over the whole canvas; both measured in one "
                        "session, the CPU busy with another benchmark; aim: p99 <= 8 ms at 1024 px):",
                        ["canvas", "before: p50", "before: p99", "now: p50", "now: p99", "now: max",
                         "undo after the strokes"],
                        [[f"{r['side']} px",
                          f"{was[r['side']]['move_ms_p50']} ms" if r["side"] in was else "-",
                          f"{was[r['side']]['move_ms_p99']} ms" if r["side"] in was else "-",
                          f"{r['move_ms_p50']} ms", f"{r['move_ms_p99']} ms", f"{r['move_ms_max']} ms",
                          f"{r['undo_mb']} MB ({r['strokes']} strokes)"] for r in paint["rows"]])
    session = _load("paint_latency_session.json")
    if session:
        lines += _table("A long session (150 strokes of 40 moves at 1024 px, brush 64; the machine otherwise idle):",
                        ["canvas", "moves", "p50", "p99", "max", "process growth", "undo"],
                        [[f"{r['side']} px", r["strokes"] * r["moves"], f"{r['move_ms_p50']} ms",
                          f"{r['move_ms_p99']} ms", f"{r['move_ms_max']} ms", f"{r['memory_growth_mb']} MB",
                          f"{r['undo_mb']} MB"] for r in session["rows"]])
    startup = _load("startup.json")
    if startup and "rows" in startup:
        first = startup["rows"][0]
        lines += _table("Start-up, each a fresh process (`benchmarks/startup.py`; the median of "
                        f"{startup['runs']} runs; aims: `models list` < 1 s, the first image <= 3 s beyond the torch "
                        f"import; {startup['machine']}):", ["model", "command", "seconds", "beyond the torch import"],
                        [[r["model"] or "-", r["command"], f"{r['seconds']:.2f} s",
                          "-" if r is first else f"{r['seconds'] - first['seconds']:+.2f} s"] for r in startup["rows"]])
    soak = _load("soak.json")
    if soak:
        lines += [f"Soak (`benchmarks/soak.py`): {soak['steps']} PGD steps of {soak['model']} in the app's worker with "
                  f"{soak['strokes']} strokes: resident memory {soak['rss_after_warmup_mib']} MiB after warm-up, "
                  f"{soak['rss_end_mib']} MiB at the end ({soak['growth_percent']:+}%; aim < 5%).", ""]
    return "\n".join(lines).strip() or "(no results yet: run the scripts in benchmarks/)"


def quality(name: str = "quality.json") -> str:
    q = _load(name)
    if not q:
        return "(no results yet: run benchmarks/quality.py)"
    lines = [f"`benchmarks/quality.py` on {q['n']} test images ({q['per_class']} generated per class), model "
             f"{q['model']}, scored by the standard evaluator {q['evaluator']} (clean accuracy "
             f"{q['evaluator_clean_accuracy']}); PGD in {q['precision']}.", ""]
    for key, title in (("superres_x2", "Super-resolution x2"), ("superres_x4", "Super-resolution x4"),
                       ("inpaint", f"Inpainting a {q['hole']}x{q['hole']} hole (PSNR/SSIM inside the hole)"),
                       ("translate", "Translation to the next class (evaluator's target-class rate)"),
                       ("generation", "Generation (diversity: mean pairwise distance of evaluator features)")):
        rows = q.get(key)
        if not rows:
            continue
        keys = list(next(iter(rows.values())))
        lines += [f"**{title}**", "", "| method | " + " | ".join(k.replace("_", " ") for k in keys) + " |",
                  "|---" * (len(keys) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(str(r[k]) for k in keys) + " |" for name, r in rows.items()]
        lines.append("")
    inception = q.get("inception")
    if isinstance(inception, dict):
        first = next(iter(inception.values()), "")
        lines.append(first if isinstance(first, str) else json.dumps(inception))
    return "\n".join(lines).strip()


def _training(recipe: dict) -> str:
    if not recipe:
        return "imported"
    step = "FGSM with random start" if recipe.get("attack_steps") == 1 else f"PGD-{recipe.get('attack_steps')}"
    if recipe.get("attack") == "nfgsm":
        step = "N-FGSM"
    minutes = recipe.get("wall_time_minutes")
    took = f", {minutes / 60:.1f} h wall time" if minutes else ""
    averaged = f", moving average of the weights (decay {recipe['ema']:g})" if recipe.get("ema") is not None else ""
    crops = f", random-resized crops at {recipe['image_size']} px" if recipe.get("image_size") else ""
    stage = (f"{recipe.get('epochs')} epochs {recipe.get('schedule', '')}{crops}, {recipe.get('precision_used')}"
             f"{averaged}{took}")
    if recipe.get("norm") == "none":
        kind = "standard training"
    else:
        kind = f"{recipe['norm'].upper()} eps {recipe['eps']:g} adversarial training, {step}"
    earlier = (recipe.get("init_from") or {}).get("recipe")
    if earlier:  # trained from another run's weights (`train --init`): name that stage first
        return f"{_training(earlier)}; then {kind}, {stage} from those weights"
    return f"{kind}, {stage}"


def models() -> str:
    """The shipped models, each row from its card (resources/models/NAME.json), as the eval command left it."""
    lines = ["| name | input | architecture, training | role | clean | robust | card |",
             "|---|---|---|---|---|---|---|"]
    for path in sorted((ROOT / "resources" / "models").glob("*.json")):
        card = json.loads(path.read_text())
        if "arch" not in card:
            continue  # a seeds card
        evaluation = (card.get("evaluations") or [{}])[-1]
        clean = evaluation.get("clean_accuracy")
        robust = evaluation.get("robust_accuracy")
        role = card.get("role", "synthesis")
        lines.append(
            f"| {card['name']} | {card.get('input_size', 32)} px, {card.get('dataset', '?').split(' ')[0]} | "
            f"{card['arch']}: {_training(card.get('recipe', {}))} | {role} | "
            + (f"{clean:.1%} ({evaluation.get('clean_images'):,} images)" if clean is not None else "not measured")
            + " | "
            + (f"{robust:.1%} under {evaluation.get('attack')} ({evaluation.get('robust_images'):,} images)"
               if robust is not None else "not measured")
            + f" | `resources/models/{path.name}` |")
    return "\n".join(lines)


def steps_to_quality() -> str:
    """benchmarks/steps_to_quality.py: each step rule at each step count; generation from steps_to_quality.json,
    sketch to image from steps_to_quality_sketch.json, translation and inpainting from the run of
    steps_to_quality_photos.json (the last two with each preset's own step count)."""
    r, photos = _load("steps_to_quality.json"), _load("steps_to_quality_photos.json")
    sketches = _load("steps_to_quality_sketch.json")
    if not r:
        return "(no results yet: run benchmarks/steps_to_quality.py)"
    st = r["settings"]
    lines = [f"`benchmarks/steps_to_quality.py` on {r['model']}, scored by {r['evaluator']}. Fewer steps keep the "
             "distance the run travels (step x steps fixed). 'Full steps' counts the model's work (a coarse step "
             "sees a quarter of the pixels); seconds are wall time, each table in one run, "
             f"{st['precision']}, {st['threads']} threads.", ""]
    if "generate" in r:
        lines += _table(f"**Generation** ({st['per_class']} pictures for each of {len(st['classes'])} classes, the "
                        "default preset's priors and radius)",
                        ["rule", "steps", "full steps", "seconds", "recognised",
                         "blockiness vs photos", "saturation vs photos", "spread vs photos"],
                        [(name.rsplit(" @ ", 1)[0], row["steps"], row["cost_in_full_steps"], row["seconds"],
                          row["evaluator_recognition"], row["blockiness_vs_photos"], row["saturation_vs_photos"],
                          row["spread_vs_photos"]) for name, row in r["generate"].items()])
    if sketches and "sketch" in sketches:
        lines += _table(f"**Sketch to image** ({sketches['settings']['n']} held-out photos flattened into about 24 "
                        "flat-colour shapes, each run to its own class)",
                        ["rule", "steps", "full steps", "seconds", "recognised", "SSIM to the drawing",
                         "blockiness vs photos", "saturation vs photos"],
                        [(name.rsplit(" @ ", 1)[0], row["steps"], row["cost_in_full_steps"], row["seconds"],
                          row["evaluator_target_rate"], row["ssim_to_source"], row["blockiness_vs_photos"],
                          row["saturation_vs_photos"]) for name, row in sketches["sketch"].items()])
    source = photos if photos and ("translate" in photos or "inpaint" in photos) else r
    n = source["settings"]["n"]
    if "translate" in source:
        lines += _table(f"**Translation (keep the photo)** ({n} held-out photos to the next class)",
                        ["rule", "steps", "full steps", "seconds", "target rate", "SSIM to the source"],
                        [(name.rsplit(" @ ", 1)[0], row["steps"], row["cost_in_full_steps"], row["seconds"],
                          row["evaluator_target_rate"], row["ssim_to_source"])
                         for name, row in source["translate"].items()])
    if "inpaint" in source:
        lines += _table(f"**Inpainting** ({n} held-out photos, a square hole a quarter of the side)",
                        ["rule", "steps", "full steps", "seconds", "evaluator accuracy", "PSNR in the hole (dB)",
                         "SSIM in the hole"],
                        [(name.rsplit(" @ ", 1)[0], row["steps"], row["cost_in_full_steps"], row["seconds"],
                          row["evaluator_target_rate"], row["psnr_hole"], row["ssim_hole"])
                         for name, row in source["inpaint"].items()])
    return "\n".join(lines).rstrip()


def realism(name: str = "realism_imagenette_resnet18.json") -> str:
    """The headline of docs/quality.md (#45): the kernel distance to real photos, beside its landmarks."""
    r = _load(name)
    if not r:
        return "(benchmarks/realism.py has not been run)"
    marks = r["landmarks"]
    lines = [f"`benchmarks/realism.py`: KID (x 1000) between pictures and real test photos of their class in the features "
             f"of {r['evaluator']}, the mean over the classes; model {r['model']}, {r['per_class']} generations a "
             f"class, {r['n']} held-out photos for the photo tasks. Landmarks: real photos against real photos "
             f"{marks['photos'] * 1000:.1f}; those photos blurred and with colour noise "
             f"{marks['photos, noise + blur'] * 1000:.1f}. The last column is the headline: below 1, closer to real "
             "photos than a degraded photo; recognition is the evaluator's, and low-pass recognition reads a 32-px "
             "thumbnail, which PGD's fine pixel pattern does not survive. "
             "Contact sheet: `docs/realism-imagenette_resnet18.png` (rows: generations, drawings, sketch to image, "
             "holes, inpainted, translation sources, translations).", "",
             "| pictures | KID x 1000 | recognised | low-pass recognised | x the noise + blur landmark |",
             "|---|---|---|---|---|"]
    for label, row in r["rows"].items():
        recognised = row.get("recognised", row.get("target_rate", "-"))
        low = row.get("low_pass_recognised", row.get("low_pass_target_rate", "-"))
        lines.append(f"| {label} | {row['kid'] * 1000:.1f} | {recognised} | {low} | {row['vs_noise_blur']} |")
    return "\n".join(lines)


def tables() -> dict[str, list[tuple[str, str]]]:
    """Each file's tables: the README keeps the models; the measurements live in docs/ (linked from the README)."""
    return {"README.md": [("models", models())],
            "docs/performance.md": [("performance", performance())],
            "docs/quality.md": [("realism", realism()), ("quality", quality()), ("quality-imagenette", quality("quality_imagenette.json")),
                                ("steps-to-quality", steps_to_quality())]}


def render(text: str, blocks: list[tuple[str, str]], name_of_file: str = "README.md") -> str:
    for name, table in blocks:
        pattern = re.compile(rf"(<!-- report:{name} -->\n)(?:.*?\n)?(<!-- /report:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{name_of_file} has no <!-- report:{name} --> ... <!-- /report:{name} --> markers")
        text = pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = []
    for name, blocks in tables().items():
        path = ROOT / name
        old = path.read_text()
        new = render(old, blocks, name)
        if args.check:
            if new != old:
                stale.append(name)
            continue
        path.write_text(new)
        print(f"{name}: tables written from benchmarks/results/")
    if stale:
        print(f"{', '.join(stale)}: tables differ from benchmarks/results/*.json: run python benchmarks/report.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
