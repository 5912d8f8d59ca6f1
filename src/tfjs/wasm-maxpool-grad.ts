import { registerWasmFastMaxPoolGrad } from './wasm-fast-kernels';

// @tensorflow/tfjs-backend-wasm 4.22's MaxPoolGrad is wrong for inputs with several channels whose pooling
// windows hold negative values: some windows send their gradient nowhere (or to the wrong cell). ReLU before the
// pool hides it (windows are then non-negative), which is why most models look fine; a conv with a linear
// activation feeding a MaxPool (Keras' LeNet in TensorSpace's mnist.h5, any BatchNorm → MaxPool) gets input
// gradients that disagree with finite differences, so CAKE's synthesis would follow wrong gradients. The
// replacement lives in ./wasm-fast-kernels (a direct loop on the wasm heap, also ~2.5x faster than the stock
// kernel): each output cell's gradient goes to the first maximum of its window, as in TensorFlow and tfjs' cpu
// backend. registerWasmGradKernels() installs it too; this entry point installs only that kernel.

/** Replaces wasm's MaxPoolGrad with the correct (and faster) one. Safe to call repeatedly, before or after tf.setBackend('wasm'). */
export function registerWasmMaxPoolGradFix(): void {
  registerWasmFastMaxPoolGrad();
}
