"""Generation presets side by side on a model: its own accuracy on the samples, within-class pixel diversity
against real test images, and a grid per setting.

    python benchmarks/generation_presets.py --data DIR_OR_TAR_GZ --out DIR EPS:STEP:STEPS [...]
"""
import argparse
import torch, time
from robustpaint.core.models.bundle import load_model_bundle
from robustpaint.core.train.data import load_split
from robustpaint.core.tasks import TaskRequest, build_task
from robustpaint.core.imageio import save_grid
parser = argparse.ArgumentParser()
parser.add_argument('--model', default='resnet18')
parser.add_argument('--data', required=True)
parser.add_argument('--out', default='.')
parser.add_argument('settings', nargs='+', help='EPS:STEP:STEPS')
args = parser.parse_args()
bundle = load_model_bundle(args.model)
m, card, seeds = bundle.model, bundle.card, bundle.seeds
test = load_split(args.data, 'test')
real = torch.stack([torch.pdist(test.images[test.labels == k][:8].float().div(255).flatten(1)).mean() for k in range(10)]).mean().item()
print(f'real test images: diversity {real:.2f}', flush=True)
targets = tuple(k for k in range(10) for _ in range(8))
for eps, step, steps in [(float(a), float(b), int(c)) for a,b,c in (s.split(':') for s in args.settings)]:
    t=time.time()
    req = TaskRequest('generate', targets=targets, candidates=80, eps=eps, step_size=step, steps=steps, seed=0, bf16=True)
    opt = build_task(m, req, seeds).optimizer(m)
    for _ in opt.run(): pass
    x = opt.result()
    with torch.no_grad(): acc = (m(x).argmax(1) == torch.tensor(targets)).float().mean().item()
    div = torch.stack([torch.pdist(x[k*8:(k+1)*8].flatten(1)).mean() for k in range(10)]).mean().item()
    save_grid(x, f'{args.out}/grid_eps{eps:g}_step{step:g}_n{steps}.png', columns=8, scale=3)
    print(f'eps {eps} step {step} steps {steps}: self-acc {acc:.2f} diversity {div:.2f} time {time.time()-t:.0f}s', flush=True)
