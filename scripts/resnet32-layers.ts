/**
 * `node --import tsx scripts/resnet32-layers.ts <out_dir>`: a TensorFlow.js Layers model with the layer structure of
 * the shared CIFAR ResNet-32 ONNX teacher (akamaster's: 3×3 convs 16/32/64, five blocks per stage, BatchNorm folded
 * into the convs as the ONNX export has it, a global average pool and a dense head; random weights), to time an
 * imported ONNX graph against the same network as a Layers model with `cake bench`. The two downsampling shortcuts
 * are 1×1 strided convolutions here (option B): tfjs layers cannot zero-pad channels, and two of fifteen shortcuts
 * do not move the timing.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { modelFiles } from '../src/io/test-fixtures';
import { initNodeBackend } from '../src/tfjs/node-backend';

const out = process.argv[2];
if (!out) throw new Error('usage: node --import tsx scripts/resnet32-layers.ts <out_dir>');
await initNodeBackend();
let seed = 1;
const conv = (x: tf.SymbolicTensor, filters: number, kernel: number, strides: number) =>
  tf.layers.conv2d({ filters, kernelSize: kernel, strides, padding: 'same', kernelInitializer: tf.initializers.heNormal({ seed: seed++ }) }).apply(x) as tf.SymbolicTensor;
const relu = (x: tf.SymbolicTensor) => tf.layers.reLU().apply(x) as tf.SymbolicTensor;
const input = tf.input({ shape: [32, 32, 3] });
let x = relu(conv(input, 16, 3, 1));
for (const [planes, stride] of [[16, 1], [32, 2], [64, 2]])
  for (let i = 0; i < 5; i++) {
    const s = i === 0 ? stride : 1;
    const y = conv(relu(conv(x, planes, 3, s)), planes, 3, 1);
    const shortcut = s !== 1 ? conv(x, planes, 1, s) : x;
    x = relu(tf.layers.add().apply([y, shortcut]) as tf.SymbolicTensor);
  }
x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(x) as tf.SymbolicTensor });
await mkdir(out, { recursive: true });
for (const f of await modelFiles(model)) await writeFile(path.join(out, f.name), new Uint8Array(f.data));
process.stdout.write(`${path.join(out, 'model.json')}: ${model.countParams()} parameters\n`);
