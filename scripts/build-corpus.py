#!/usr/bin/python3
"""Build the PyTorch half of the import corpus: torchvision models as torch.onnx.export writes them.

    /usr/bin/python3 scripts/build-corpus.py [out_dir]        (default: corpus/, which git ignores)

Debian's python3-torch and python3-torchvision (apt-get install -y python3-torch python3-torchvision python3-onnx).
Every model has random weights (seeded) at a quarter of its width (every channel count divided by 4 while the model
is built, so the architecture, its ops and its export stay those of the real model at a size that loads fast), 10
classes and a 32x32 RGB input. Each is exported at several opsets, with a dynamic batch axis (dynamic_axes) and with
the batch fixed at 1, as people export them. Writes <out>/onnx/*.onnx and appends to <out>/manifest.json.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torchvision

OUT = sys.argv[1] if len(sys.argv) > 1 else 'corpus'
CLASSES = 10
WIDTH = 4  # channel divisor
SIZE = 32


def slim(n):
    """A channel count at a quarter width; the image's 3 channels and the 10 classes stay."""
    if n in (3, CLASSES):
        return n
    return max(1, int(math.ceil(n / WIDTH)))


class Slim:
    """While active, nn.Conv2d/BatchNorm2d/Linear are built with every channel count passed through slim()."""

    def __enter__(self):
        self.saved = (nn.Conv2d.__init__, nn.BatchNorm2d.__init__, nn.Linear.__init__)
        conv, bn, lin = self.saved

        def conv_init(mod, cin, cout, *a, groups=1, **k):
            g = slim(groups) if groups == cin and groups > 1 else groups
            conv(mod, slim(cin), slim(cout), *a, groups=g, **k)

        def bn_init(mod, n, *a, **k):
            bn(mod, slim(n), *a, **k)

        def lin_init(mod, fin, fout, *a, **k):
            lin(mod, slim(fin), slim(fout), *a, **k)

        nn.Conv2d.__init__, nn.BatchNorm2d.__init__, nn.Linear.__init__ = conv_init, bn_init, lin_init
        return self

    def __exit__(self, *exc):
        nn.Conv2d.__init__, nn.BatchNorm2d.__init__, nn.Linear.__init__ = self.saved


class OptionA(nn.Module):
    """akamaster's CIFAR shortcut: subsample, then zero-pad the channels (exports Slice, Pad and its shape arithmetic)."""

    def __init__(self, planes):
        super().__init__()
        self.planes = planes

    def forward(self, x):
        return nn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.planes // 4, self.planes // 4), 'constant', 0)


class CifarBlock(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = OptionA(planes) if stride != 1 or cin != planes else nn.Identity()

    def forward(self, x):
        out = nn.functional.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return nn.functional.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-20 with option-A shortcuts (akamaster/pytorch_resnet_cifar10), at full width: it is small already."""

    def __init__(self, n=3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                blocks.append(CifarBlock(cin, planes, stride if i == 0 else 1))
                cin = planes
        self.layers = nn.Sequential(*blocks)
        self.linear = nn.Linear(64, CLASSES)

    def forward(self, x):
        out = self.layers(nn.functional.relu(self.bn1(self.conv1(x))))
        out = nn.functional.avg_pool2d(out, int(out.size()[3]))
        return self.linear(out.view(out.size(0), -1))


def torchvision_model(name):
    with Slim():
        return getattr(torchvision.models, name)(num_classes=CLASSES)


MODELS = {
    'resnet18': lambda: torchvision_model('resnet18'),
    'mobilenet_v2': lambda: torchvision_model('mobilenet_v2'),
    'mobilenet_v3_small': lambda: torchvision_model('mobilenet_v3_small'),
    'efficientnet_b0': lambda: torchvision_model('efficientnet_b0'),
    'squeezenet1_1': lambda: torchvision_model('squeezenet1_1'),
    'shufflenet_v2_x0_5': lambda: torchvision_model('shufflenet_v2_x0_5'),
    'densenet121': lambda: torchvision_model('densenet121'),
    'cifar_resnet20_option_a': CifarResNet,
}

# (opset, batch) variants per model: dynamic batch at three opsets, a batch-1 export at 13, and opset 9 where torch
# 1.13 can still write the model's ops at 9.
VARIANTS = [(11, 'dynamic'), (13, 'dynamic'), (17, 'dynamic'), (13, 'static')]
OPSET9 = {'resnet18', 'mobilenet_v2', 'squeezenet1_1', 'cifar_resnet20_option_a'}


def randomise(model, seed):
    """Seeded random weights that behave like a trained network's: BatchNorm statistics measured on random images (so
    every layer passes a normalised signal on, as after training; torchvision's initial running statistics would
    shrink it to nothing over tens of layers), random affine BatchNorm parameters, and a classifier head of unit
    gain. Without that the input gradients of the deeper models are ~1e-10 and no gradient check can see them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = None  # a cumulative average over the calibration batches
                m.reset_running_stats()
            if isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / math.sqrt(m.in_features))
        model.train()
        for _ in range(4):
            model(torch.rand(32, 3, SIZE, SIZE, generator=g) * 2 - 1)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) * 0.4 + 0.8)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


def main():
    os.makedirs(os.path.join(OUT, 'onnx'), exist_ok=True)
    manifest_path = os.path.join(OUT, 'manifest.json')
    manifest = json.load(open(manifest_path)) if os.path.exists(manifest_path) else []
    manifest = [e for e in manifest if e.get('toolchain', '').split()[0] != 'PyTorch']
    torch.manual_seed(0)
    for seed, (name, build) in enumerate(MODELS.items()):
        model = randomise(build(), seed)
        variants = VARIANTS + ([(9, 'dynamic')] if name in OPSET9 else [])
        for opset, batch in variants:
            file = f'onnx/{name}-opset{opset}-{batch}.onnx'
            entry = {
                'file': file,
                'model': name,
                'toolchain': f'PyTorch {torch.__version__.split("a")[0]} torch.onnx.export',
                'version': f'opset {opset}, {batch} batch',
                'inputShape': [3, SIZE, SIZE],
                'layout': 'NCHW',
                'classes': CLASSES,
                'outputKind': 'logits',
            }
            x = torch.randn(1, 3, SIZE, SIZE)
            dynamic = {'input': {0: 'batch'}, 'logits': {0: 'batch'}} if batch == 'dynamic' else None
            try:
                torch.onnx.export(model, x, os.path.join(OUT, file), opset_version=opset, input_names=['input'], output_names=['logits'], dynamic_axes=dynamic, do_constant_folding=True)
            except Exception as e:  # the exporter itself refuses some ops at old opsets: recorded, not hidden
                entry['exportError'] = str(e).split('\n')[0].split('  [')[0]
            manifest.append(entry)
            print(f'{file}: {entry.get("exportError", "ok")}', flush=True)
    with open(manifest_path, 'w') as f:
        json.dump(manifest, f, indent=1)


if __name__ == '__main__':
    main()
