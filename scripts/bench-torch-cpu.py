"""CPU time per step of the PyTorch references, for `npm run bench:speed` and `bench:kernels`.

The workloads are the ones of ../shared/bench (ref_cake_torch.py: LeNet-5 synthesis at batch 500 and the LeNet-5-half
student step at batch 256; ref_resnet8_torch.py: the CIFAR ResNet-8 synthesis step at batch 500), with the same
networks, losses and batch sizes, plus a MobileNet v1 0.25 at 224x224 (keras.applications' layout, BatchNorm in eval
mode, ReLU6) synthesising 1000-class inputs at batch 50. Weights are random: speed does not depend on them.

Wall time on a shared machine measures the other processes as much as this one, so this script reports process CPU
time per step (time.process_time: all of this process's threads), median of the timed steps after warm-up, next
to the wall time. With --profile it also prints each op's self CPU time per step (torch.autograd.profiler), by op
and input shapes, the counterpart of scripts/bench-kernels.ts.

usage: /usr/bin/python3 scripts/bench-torch-cpu.py WORKLOAD [--threads N] [--steps N] [--warmup N] [--profile]
WORKLOAD: lenet5-synth | lenet5-half-student | resnet8-synth | mobilenet-synth   -> one JSON line
"""
import argparse, json, statistics, time
import torch, torch.nn as nn, torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument('workload')
p.add_argument('--threads', type=int, default=1)
p.add_argument('--steps', type=int, default=10)
p.add_argument('--warmup', type=int, default=3)
p.add_argument('--profile', action='store_true')
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


def lenet(half=False):  # ref_cake_torch.py
    c1, c2, c3, f = (3, 8, 60, 42) if half else (6, 16, 120, 84)
    return nn.Sequential(nn.Conv2d(1, c1, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(c1, c2, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(c2, c3, 5), nn.ReLU(), nn.Flatten(), nn.Linear(c3, f), nn.ReLU(), nn.Linear(f, 10))


class Block(nn.Module):  # ref_resnet8_torch.py
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout)
        self.sc = nn.Conv2d(cin, cout, 1, stride) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (self.sc(x) if self.sc is not None else x))


def resnet8():
    return nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU(), Block(16, 16, 1), Block(16, 32, 2),
                         Block(32, 64, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def mobilenet_v1(alpha=0.25, classes=1000):
    def cbr(cin, cout, k, s, groups=1):
        return [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU6()]
    c = lambda n: int(n * alpha)
    layers = cbr(3, c(32), 3, 2)
    cfg = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    cin = c(32)
    for cout, s in cfg:
        layers += cbr(cin, cin, 3, s, groups=cin) + cbr(cin, c(cout), 1, 1)
        cin = c(cout)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, classes, 1), nn.Flatten()]
    return nn.Sequential(*layers)


def tv(x):
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def synth(net, shape, batch, classes, w_cls, w_contr, w_tv):
    net.eval()
    for q in net.parameters():
        q.requires_grad_(False)
    K = 10
    x = torch.randn(batch, *shape, requires_grad=True)
    y = torch.stack([torch.randperm(classes)[:K] for _ in range(batch // K)]).reshape(-1)
    opt = torch.optim.SGD([x], lr=1e-3)

    def step():
        opt.zero_grad()
        z = net(x)
        zg = z.reshape(batch // K, K, classes)
        contr = (zg.unsqueeze(1) - zg.unsqueeze(2)).pow(2).mean() * 0.5 * K * K
        loss = w_cls * F.cross_entropy(z, y) * K + w_contr * contr + w_tv * tv(x)
        loss.backward()
        opt.step()
    return step


def student():
    net = lenet(half=True).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    xs = torch.randn(256, 1, 32, 32)
    ps = torch.softmax(torch.randn(256, 10), -1)

    def step():
        opt.zero_grad()
        loss = torch.sum(-ps * F.log_softmax(net(xs), -1), -1).mean()
        loss.backward()
        opt.step()
    return step


workloads = {
    'lenet5-synth': lambda: synth(lenet(), (1, 32, 32), 500, 10, 1e3, 1e-3, 1e7),
    'lenet5-half-student': student,
    'resnet8-synth': lambda: synth(resnet8(), (3, 32, 32), 500, 10, 1e3, 10, 1e5),
    'mobilenet-synth': lambda: synth(mobilenet_v1(), (3, 224, 224), 50, 1000, 1e3, 10, 1e5),
}
step = workloads[a.workload]()
for _ in range(a.warmup):
    step()
cpu, wall = [], []
for _ in range(a.steps):
    c0, w0 = time.process_time(), time.perf_counter()
    step()
    cpu.append((time.process_time() - c0) * 1e3)
    wall.append((time.perf_counter() - w0) * 1e3)
out = {'workload': a.workload, 'torch': torch.__version__, 'threads': a.threads, 'steps': a.steps,
       'cpu_ms': round(statistics.median(cpu), 2), 'cpu_ms_min': round(min(cpu), 2), 'wall_ms': round(statistics.median(wall), 2)}
if a.profile:
    with torch.autograd.profiler.profile(record_shapes=True) as prof:
        for _ in range(a.steps):
            step()
    rows = [{'op': e.key, 'shapes': str(e.input_shapes), 'cpu_ms_per_step': round(e.self_cpu_time_total / 1e3 / a.steps, 2),
             'calls_per_step': e.count / a.steps} for e in prof.key_averages(group_by_input_shape=True)]
    out['profile'] = sorted([r for r in rows if r['cpu_ms_per_step'] >= 0.05], key=lambda r: -r['cpu_ms_per_step'])
print(json.dumps(out))
