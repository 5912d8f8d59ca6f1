"""Train a LeNet-5 teacher in PyTorch the way people outside this project usually do, and write it as a user's file
comes: a TensorFlow.js LayersModel (NHWC) with no metadata.json unless asked. It makes the teacher panel's members
(scripts/build-panel.ts), which must differ as real teachers do: augmentation, head, declared input range.

usage: /usr/bin/python3 scripts/train-teacher-torch.py --data DIR --dataset mnist|fashion-mnist --out DIR
         [--aug none|shift|crop|rotate|erase] [--head logits|softmax] [--metadata] [--seed 1] [--epochs 15]
         [--lr 0.05] [--batch 128]

Images are padded from 28 to 32 pixels, scaled to [0, 1] and normalised by the usual mean/std (MNIST 0.1307/0.3081,
Fashion-MNIST 0.5/0.5), as the CAKE paper's LeNet-5 teachers are. Augmentations, per batch:
  shift  : random translation of up to 2 pixels (torch.roll of the padded image);
  crop   : random crop of 32 from the image zero-padded by 4 (torchvision's RandomCrop(32, padding=4));
  rotate : random rotation of up to 15 degrees;
  erase  : random erasing (one rectangle of 2-20 % of the area set to the background, p = 0.5).
Training: SGD momentum 0.9, weight decay 5e-4, one-cycle to --lr, cross-entropy. Needs Debian's python3-torch.
"""
import argparse, gzip, json, math, os, struct, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument('--data', required=True)
p.add_argument('--dataset', required=True, choices=['mnist', 'fashion-mnist'])
p.add_argument('--out', required=True)
p.add_argument('--aug', default='none', choices=['none', 'shift', 'crop', 'rotate', 'erase'])
p.add_argument('--head', default='logits', choices=['logits', 'softmax'])
p.add_argument('--metadata', action='store_true', help='write a metadata.json that declares the input range')
p.add_argument('--seed', type=int, default=1)
p.add_argument('--epochs', type=int, default=15)
p.add_argument('--lr', type=float, default=0.05)
p.add_argument('--batch', type=int, default=128)
a = p.parse_args()

torch.manual_seed(a.seed)
rng = np.random.default_rng(a.seed)
torch.set_num_threads(int(os.environ.get('THREADS', '2')))
MEAN, STD = {'mnist': (0.1307, 0.3081), 'fashion-mnist': (0.5, 0.5)}[a.dataset]
CLASSES = {
    'mnist': [str(i) for i in range(10)],
    'fashion-mnist': ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
}[a.dataset]
BACKGROUND = (0 - MEAN) / STD


def read_idx(path):
    with gzip.open(path) as f:
        magic = struct.unpack('>I', f.read(4))[0]
        dims = [struct.unpack('>I', f.read(4))[0] for _ in range(magic & 0xFF)]
        return np.frombuffer(f.read(), np.uint8).reshape(dims)


def split(name):
    x = read_idx(os.path.join(a.data, f'{name}-images-idx3-ubyte.gz')).astype(np.float32) / 255.0
    y = read_idx(os.path.join(a.data, f'{name}-labels-idx1-ubyte.gz')).astype(np.int64)
    x = (np.pad(x, ((0, 0), (2, 2), (2, 2))) - MEAN) / STD
    return torch.from_numpy(x[:, None].astype(np.float32)), torch.from_numpy(y)


def augment(x):
    if a.aug == 'shift':
        dy, dx = (int(v) for v in rng.integers(-2, 3, 2))
        return torch.roll(x, shifts=(dy, dx), dims=(2, 3))
    if a.aug == 'crop':
        big = F.pad(x, (4, 4, 4, 4), value=BACKGROUND)
        n = x.shape[0]
        oy, ox = rng.integers(0, 9, n), rng.integers(0, 9, n)
        return torch.stack([big[i, :, oy[i]:oy[i] + 32, ox[i]:ox[i] + 32] for i in range(n)])
    if a.aug == 'rotate':
        n = x.shape[0]
        t = torch.from_numpy(rng.uniform(-15, 15, n).astype(np.float32)) * math.pi / 180
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = t.cos(), -t.sin(), t.sin(), t.cos()
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        # Rotate the image's offset from the background, so corners rotated in are background.
        return F.grid_sample(x - BACKGROUND, grid, align_corners=False) + BACKGROUND
    if a.aug == 'erase':
        x = x.clone()
        for i in range(x.shape[0]):
            if rng.random() < 0.5:
                area = rng.uniform(0.02, 0.2) * 32 * 32
                ratio = math.exp(rng.uniform(math.log(0.3), math.log(3.3)))
                h, w = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
                if 0 < h < 32 and 0 < w < 32:
                    y0, x0 = rng.integers(0, 32 - h), rng.integers(0, 32 - w)
                    x[i, :, y0:y0 + h, x0:x0 + w] = BACKGROUND
        return x
    return x


xtr, ytr = split('train')
xte, yte = split('t10k')
net = nn.Sequential(
    nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 120, 5), nn.ReLU(), nn.Flatten(),
    nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
steps = a.epochs * math.ceil(len(xtr) / a.batch)
opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps)
start = time.time()
for epoch in range(a.epochs):
    net.train()
    order = torch.randperm(len(xtr))
    for i in range(0, len(xtr), a.batch):
        idx = order[i:i + a.batch]
        loss = F.cross_entropy(net(augment(xtr[idx])), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean().item()
    print(f'epoch {epoch + 1}/{a.epochs} loss {loss.item():.4f} test {100 * acc:.2f}% ({time.time() - start:.0f}s)', flush=True)

# --- the tfjs LayersModel, NHWC, as hand exports write it ---
def layer(cls, name, **cfg):
    return {'class_name': cls, 'config': {'name': name, 'trainable': True, 'dtype': 'float32', **cfg}}


def conv(name, filters):
    return layer('Conv2D', name, filters=filters, kernel_size=[5, 5], strides=[1, 1], padding='valid',
                 data_format='channels_last', dilation_rate=[1, 1], activation='relu', use_bias=True)


def pool(name):
    return layer('MaxPooling2D', name, pool_size=[2, 2], strides=[2, 2], padding='valid', data_format='channels_last')


def dense(name, units, activation):
    return layer('Dense', name, units=units, activation=activation, use_bias=True)


layers = [
    {'class_name': 'InputLayer', 'config': {'name': 'input', 'batch_input_shape': [None, 32, 32, 1], 'dtype': 'float32', 'sparse': False}},
    conv('conv1', 6), pool('pool1'), conv('conv2', 16), pool('pool2'), conv('conv3', 120),
    layer('Flatten', 'flatten', data_format='channels_last'),
    dense('fc1', 84, 'relu'), dense('fc2', 10, 'softmax' if a.head == 'softmax' else 'linear'),
]
specs, blobs = [], []


def weight(name, arr):
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    specs.append({'name': name, 'shape': list(arr.shape), 'dtype': 'float32'})
    blobs.append(arr.tobytes())


convs = [m for m in net if isinstance(m, nn.Conv2d)]
linears = [m for m in net if isinstance(m, nn.Linear)]
for name, m in zip(['conv1', 'conv2', 'conv3'], convs):
    weight(f'{name}/kernel', m.weight.detach().numpy().transpose(2, 3, 1, 0))  # OIHW -> HWIO
    weight(f'{name}/bias', m.bias.detach().numpy())
for name, m in zip(['fc1', 'fc2'], linears):
    weight(f'{name}/kernel', m.weight.detach().numpy().T)
    weight(f'{name}/bias', m.bias.detach().numpy())
os.makedirs(a.out, exist_ok=True)
with open(os.path.join(a.out, 'weights.bin'), 'wb') as f:
    f.write(b''.join(blobs))
topology = {'class_name': 'Sequential', 'config': {'name': 'lenet5', 'layers': layers}, 'keras_version': 'tfjs-layers 4.22.0', 'backend': 'tensor_flow.js'}
with open(os.path.join(a.out, 'model.json'), 'w') as f:
    json.dump({'format': 'layers-model', 'generatedBy': 'PyTorch (hand export)', 'convertedBy': None, 'modelTopology': topology,
               'weightsManifest': [{'paths': ['./weights.bin'], 'weights': specs}]}, f)
if a.metadata:
    meta = {'dataset': a.dataset, 'classNames': CLASSES,
            'preprocessing': {'pad': 2, 'scale': 1 / 255, 'mean': MEAN, 'std': STD},
            'inputRange': [(0 - MEAN) / STD, (1 - MEAN) / STD], 'testAccuracy': acc}
    with open(os.path.join(a.out, 'metadata.json'), 'w') as f:
        json.dump(meta, f, indent=2)
print(json.dumps({'out': a.out, 'dataset': a.dataset, 'aug': a.aug, 'head': a.head, 'metadata': a.metadata,
                  'seed': a.seed, 'testAccuracy': round(acc, 4), 'seconds': round(time.time() - start)}))
