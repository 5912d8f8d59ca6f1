"""PyTorch cross-check of a CAKE run made by `npm run bench:repro -- --pool-cache <file>`.

It answers one question: when a student fails, is it our student training or the synthetic pool? It trains the
method's LeNet-5-half student (random start, soft-target cross-entropy, SGD momentum 0.9, weight decay 5e-4,
one-cycle, 99/1 split, no augmentation) in PyTorch on the same pool file, and it can make single sets with the
method's loss in PyTorch to compare against the pool's sets of the same step size. Diagnostics only: nothing in the
studio or the CLI uses it. Needs the Debian `python3-torch` and `python3-numpy` packages; CPU only.

  /usr/bin/python3 scripts/torch-crosscheck.py student POOL DATA_DIR MEAN STD LR EPOCHS [--seed N] [--threads N]
  /usr/bin/python3 scripts/torch-crosscheck.py sets TEACHER_DIR POOL ETA[,ETA…] [--steps N]

POOL is the cache file (with its `.seedN` suffix); DATA_DIR holds the IDX t10k files; MEAN/STD are the teacher's
input normalisation (MNIST 0.1307/0.3081, Fashion-MNIST 0.5/0.5); TEACHER_DIR holds a LeNet-5 tfjs LayersModel whose
weights are the five Conv2D/Dense kernel-bias pairs in order (as `cake train-teacher` writes them). Prints JSON lines.
"""
import argparse, gzip, json, math, os, struct, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

POOL_HEADER = struct.Struct('<6I')  # magic, version, sample size, classes, samples per set, sets (src/cake/pool.ts)


def read_pool(path):
    """Every set of a pool file: (inputs [N, 1, H, W], soft labels [N, C], per-set η)."""
    raw = np.memmap(path, dtype=np.uint8, mode='r')
    _, _, size, classes, per_set, sets = POOL_HEADER.unpack(bytes(raw[:24]))
    stride = 16 + 4 * per_set * (size + classes)
    side = math.isqrt(size)
    xs = np.empty((sets * per_set, size), np.float32)
    ps = np.empty((sets * per_set, classes), np.float32)
    etas = []
    for k in range(sets):
        at = 24 + stride * k
        etas.append(struct.unpack('<d', bytes(raw[at + 8:at + 16]))[0])
        body = np.frombuffer(raw[at + 16:at + stride], np.float32)
        xs[k * per_set:(k + 1) * per_set] = body[:per_set * size].reshape(per_set, size)
        ps[k * per_set:(k + 1) * per_set] = body[per_set * size:].reshape(per_set, classes)
    # Stored NHWC with one channel: the same numbers as NCHW with one channel.
    return torch.from_numpy(xs).view(-1, 1, side, side), torch.from_numpy(ps), etas


def lenet5(widths):
    """LeNet-5 on 32×32×1 with 'valid' convolutions; (6, 16, 120, 84) is the teacher, half of it the student."""
    a, b, c, d = widths
    return nn.Sequential(
        nn.Conv2d(1, a, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(a, b, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(b, c, 5), nn.ReLU(), nn.Flatten(),
        nn.Linear(c, d), nn.ReLU(), nn.Linear(d, 10))


def load_teacher(folder):
    """The tfjs LayersModel's weights (NHWC kernels, [in, out] dense) into the PyTorch LeNet-5."""
    manifest = json.load(open(os.path.join(folder, 'model.json')))['weightsManifest']
    arrays, blob = [], b''.join(open(os.path.join(folder, p), 'rb').read() for g in manifest for p in g['paths'])
    offset = 0
    for entry in (w for g in manifest for w in g['weights']):
        count = int(np.prod(entry['shape']))
        arrays.append(np.frombuffer(blob, np.float32, count, offset).reshape(entry['shape']))
        offset += 4 * count
    net = lenet5((6, 16, 120, 84))
    layers = [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        for layer, kernel, bias in zip(layers, arrays[0::2], arrays[1::2]):
            kernel = kernel.transpose(3, 2, 0, 1) if kernel.ndim == 4 else kernel.T
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel)))
            layer.bias.copy_(torch.from_numpy(bias.copy()))
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def read_idx(path):
    with gzip.open(path) as f:
        head = f.read(4)
        dims = struct.unpack(f'>{head[3]}I', f.read(4 * head[3]))
        return np.frombuffer(f.read(), np.uint8).reshape(dims)


def test_split(folder, mean, std):
    """t10k padded 28 → 32 and normalised as the teachers were trained (src/cli/datasets.ts)."""
    images = read_idx(os.path.join(folder, 't10k-images-idx3-ubyte.gz')).astype(np.float32) / 255
    images = (np.pad(images, ((0, 0), (2, 2), (2, 2))) - mean) / std
    labels = read_idx(os.path.join(folder, 't10k-labels-idx1-ubyte.gz')).astype(np.int64)
    return torch.from_numpy(images[:, None]), torch.from_numpy(labels)


def train_student(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x, p, etas = read_pool(a.pool)
    print(json.dumps({'pool': os.path.basename(a.pool), 'samples': len(x), 'eta': [etas[0], etas[-1]],
                      'x_std': round(x.std().item(), 4), 'teacher_top_prob': round(p.max(1).values.mean().item(), 4)}), flush=True)
    test_x, test_y = test_split(a.data, a.mean, a.std)
    order = torch.randperm(len(x))
    train = order[len(x) // 100:]  # the method's 99/1 split; the 1 % is only monitored there, unused here
    student = lenet5((3, 8, 60, 42))
    batch = 256
    steps = a.epochs * math.ceil(len(train) / batch)
    opt = torch.optim.SGD(student.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
    # PyTorch's OneCycleLR as the method sets it (div 25, final div 1e4, momentum cycled 0.95 ↔ 0.85).
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps + 1, div_factor=25, final_div_factor=1e4)
    start = time.time()
    for epoch in range(a.epochs):
        student.train()
        total, count = 0.0, 0
        for b in train[torch.randperm(len(train))].split(batch):
            loss = -(p[b] * F.log_softmax(student(x[b]), -1)).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total, count = total + loss.item(), count + 1
        student.eval()
        with torch.no_grad():
            acc = (student(test_x).argmax(1) == test_y).float().mean().item()
        print(json.dumps({'epoch': epoch + 1, 'loss': round(total / count, 4), 'lr': sched.get_last_lr()[0],
                          'test_accuracy': round(100 * acc, 2), 'seconds': round(time.time() - start)}), flush=True)


def total_variation(x):
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def describe(teacher, x, targets=None):
    with torch.no_grad():
        probs = torch.softmax(teacher(x), -1)
    out = {'x_std': round(x.std().item(), 4), 'teacher_top_prob': round(probs.max(1).values.mean().item(), 4),
           'tv': round(total_variation(x).item(), 4), 'top1_histogram': torch.bincount(probs.argmax(1), minlength=10).tolist()}
    if targets is not None:
        out['hit_rate'] = round((probs.argmax(1) == targets).float().mean().item(), 4)
    return out


def compare_sets(a):
    """One set per η with the MNIST row's loss (1e3·CE·K, 1e-3·pairwise logit MSE·K²/2, 1e7·TV; plain SGD on the
    inputs, spec §2.3), next to the pool's set whose η is nearest."""
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    teacher = load_teacher(a.teacher)
    x_pool, _, etas = read_pool(a.pool)
    per_set = len(x_pool) // len(etas)
    batch, group = 500, 10
    for eta in (float(v) for v in a.etas.split(',')):
        x = torch.randn(batch, 1, 32, 32, requires_grad=True)
        targets = torch.cat([torch.randperm(10)[:group] for _ in range(batch // group)])
        opt = torch.optim.SGD([x], lr=eta)
        for _ in range(a.steps):
            logits = teacher(x)
            grouped = logits.view(-1, group, 10)
            pairwise = (grouped[:, :, None] - grouped[:, None]).pow(2).mean() * 0.5 * group * group
            loss = 1e3 * group * F.cross_entropy(logits, targets) + 1e-3 * pairwise + 1e7 * total_variation(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
        nearest = min(range(len(etas)), key=lambda k: abs(math.log(etas[k] / eta)))
        ours = x_pool[nearest * per_set:(nearest + 1) * per_set]
        print(json.dumps({'eta': eta, 'steps': a.steps, 'torch': describe(teacher, x.detach(), targets),
                          'pool_set': nearest, 'pool_eta': etas[nearest], 'pool': describe(teacher, ours)}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('student')
    for name in ('pool', 'data'):
        s.add_argument(name)
    for name in ('mean', 'std', 'lr'):
        s.add_argument(name, type=float)
    s.add_argument('epochs', type=int)
    c = sub.add_parser('sets')
    for name in ('teacher', 'pool', 'etas'):
        c.add_argument(name)
    c.add_argument('--steps', type=int, default=256)
    for p in (s, c):
        p.add_argument('--seed', type=int, default=0)
        p.add_argument('--threads', type=int, default=2)
    a = parser.parse_args()
    (train_student if a.cmd == 'student' else compare_sets)(a)


if __name__ == '__main__':
    main()
