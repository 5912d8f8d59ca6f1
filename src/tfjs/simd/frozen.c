// Element-wise kernels of the frozen teacher's fused ops (../frozen-kernels.ts), compiled with clang into the same
// WebAssembly module as kernels.ll (see build.mjs). Plain loops: clang -O3 -msimd128 vectorises them. Every pointer
// is a byte offset into the tfjs-backend-wasm heap; every count is in elements.

#define EXPORT(name) __attribute__((export_name(#name)))

// dx = dy where lo < y < hi, else 0: the gradient through relu (lo 0, hi +inf) or relu6 (hi 6), read from the
// activation's output y.
EXPORT(act_grad)
void act_grad(const float *restrict y, const float *restrict dy, float *restrict dx, int n, float lo, float hi) {
  // Both loads unconditional and & rather than &&: otherwise clang does not vectorise the loop.
  for (int i = 0; i < n; i++) {
    const float v = y[i], g = dy[i];
    dx[i] = ((v > lo) & (v < hi)) ? g : 0.0f;
  }
}

// out = min(max(a + b, lo), hi): a residual sum and the activation after it (lo -inf, hi +inf for none).
EXPORT(add_act)
void add_act(const float *restrict a, const float *restrict b, float *restrict out, int n, float lo, float hi) {
  for (int i = 0; i < n; i++) {
    float s = a[i] + b[i];
    s = s > lo ? s : lo;
    out[i] = s < hi ? s : hi;
  }
}

// dx[b, p, c] = dy[b, c] * scale for p < hw: the gradient of a global average pool over hw positions.
EXPORT(spread_mean)
void spread_mean(const float *restrict dy, float *restrict dx, int batch, int hw, int c, float scale) {
  for (int b = 0; b < batch; b++) {
    const float *g = dy + b * c;
    for (int p = 0; p < hw; p++) {
      float *o = dx + (b * hw + p) * c;
      for (int k = 0; k < c; k++) o[k] = g[k] * scale;
    }
  }
}

// dst[b, r0 + i*sh, c0 + j*sw, :] = src[b, i, j, :] for i < qh, j < qw: one phase of a strided convolution's input
// gradient (computed as a stride-1 convolution on its own grid) put in its place in dx [n, h, w, c].
EXPORT(scatter_phase)
void scatter_phase(const float *restrict src, float *restrict dst, int n, int qh, int qw, int c, int h, int w, int r0,
                   int c0, int sh, int sw) {
  for (int b = 0; b < n; b++)
    for (int i = 0; i < qh; i++) {
      const int r = r0 + i * sh;
      if (r < 0 || r >= h) continue;
      const float *in = src + ((long)(b * qh + i) * qw) * c;
      float *out = dst + ((long)(b * h + r) * w) * c;
      for (int j = 0; j < qw; j++) {
        const int q = c0 + j * sw;
        if (q < 0 || q >= w) continue;
        for (int k = 0; k < c; k++) out[q * c + k] = in[j * c + k];
      }
    }
}
