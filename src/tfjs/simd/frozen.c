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

// dx = col2im(cols): cols [n, oh, ow, kh, kw, c] (each output pixel's gradient spread over its window, i.e. dy times
// the transposed filter) summed into dx [n, h, w, c], which is zeroed first. Output pixel (i, j) reads input rows
// i*sh + u - top and columns j*sw + v - left; taps outside the input are dropped. For each (pixel, u) the taps that land
// inside form one contiguous run of dx and of cols, so the innermost loop is a vector add.
EXPORT(col2im)
void col2im(const float *restrict cols, float *restrict dx, int n, int oh, int ow, int kh, int kw, int c, int h, int w,
            int sh, int sw, int top, int left) {
  const long total = (long)n * h * w * c;
  for (long i = 0; i < total; i++) dx[i] = 0.0f;
  for (int b = 0; b < n; b++)
    for (int i = 0; i < oh; i++)
      for (int j = 0; j < ow; j++) {
        const float *src = cols + (((long)b * oh + i) * ow + j) * kh * kw * c;
        const int q0 = j * sw - left;
        const int v0 = q0 < 0 ? -q0 : 0, v1 = q0 + kw > w ? w - q0 : kw;
        if (v1 <= v0) continue;
        const int run = (v1 - v0) * c;
        for (int u = 0; u < kh; u++) {
          const int r = i * sh + u - top;
          if (r < 0 || r >= h) continue;
          float *d = dx + (((long)b * h + r) * w + q0 + v0) * c;
          const float *s = src + (u * kw + v0) * c;
          for (int k = 0; k < run; k++) d[k] += s[k];
        }
      }
}

// y[b, i, j, o] = clamp(bias[o] + sum over (u, v) of x[b, i + u, j + v] * f[u, v, o], lo, hi): a stride-1, 'valid'
// convolution of a one-channel image x [n, h, w] (padded by the caller) with f [kh, kw, 1, co], into y [n, oh, ow, co]
// with oh = h - kh + 1, ow = w - kw + 1. XNNPACK vectorises over input channels and so runs an image's first layer
// (one channel) at a fraction of its speed; here the vectors run along each output row instead, one output channel at
// a time, into `row` (co * ow floats), which is then interleaved into y. bias may be 0.
#include <wasm_simd128.h>
EXPORT(conv_1ch)
void conv_1ch(const float *restrict x, const float *restrict f, const float *restrict bias, float *restrict y,
              float *restrict row, int n, int h, int w, int kh, int kw, int co, float lo, float hi) {
  const int oh = h - kh + 1, ow = w - kw + 1;
  const v128_t vlo = wasm_f32x4_splat(lo), vhi = wasm_f32x4_splat(hi);
#define CLAMP(v) wasm_f32x4_pmin(wasm_f32x4_pmax((v), vlo), vhi)
  for (int b = 0; b < n; b++)
    for (int i = 0; i < oh; i++) {
      const float *xr = x + ((long)b * h + i) * w;
      for (int o = 0; o < co; o++) {
        const float b0 = bias ? bias[o] : 0.0f;
        float *out = row + o * ow;
        int j = 0;
        for (; j + 16 <= ow; j += 16) {
          v128_t a0 = wasm_f32x4_splat(b0), a1 = a0, a2 = a0, a3 = a0;
          for (int u = 0; u < kh; u++) {
            const float *xu = xr + u * w + j;
            const float *fu = f + (u * kw) * co + o;
            for (int v = 0; v < kw; v++) {
              const v128_t s = wasm_f32x4_splat(fu[v * co]);
              a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(xu + v), s));
              a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(wasm_v128_load(xu + v + 4), s));
              a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(wasm_v128_load(xu + v + 8), s));
              a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(wasm_v128_load(xu + v + 12), s));
            }
          }
          wasm_v128_store(out + j, CLAMP(a0));
          wasm_v128_store(out + j + 4, CLAMP(a1));
          wasm_v128_store(out + j + 8, CLAMP(a2));
          wasm_v128_store(out + j + 12, CLAMP(a3));
        }
        for (; j + 8 <= ow; j += 8) {
          v128_t a0 = wasm_f32x4_splat(b0), a1 = a0;
          for (int u = 0; u < kh; u++) {
            const float *xu = xr + u * w + j;
            const float *fu = f + (u * kw) * co + o;
            for (int v = 0; v < kw; v++) {
              const v128_t s = wasm_f32x4_splat(fu[v * co]);
              a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(xu + v), s));
              a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(wasm_v128_load(xu + v + 4), s));
            }
          }
          wasm_v128_store(out + j, CLAMP(a0));
          wasm_v128_store(out + j + 4, CLAMP(a1));
        }
        for (; j + 4 <= ow; j += 4) {
          v128_t a0 = wasm_f32x4_splat(b0);
          for (int u = 0; u < kh; u++)
            for (int v = 0; v < kw; v++)
              a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(xr + u * w + j + v), wasm_f32x4_splat(f[(u * kw + v) * co + o])));
          wasm_v128_store(out + j, CLAMP(a0));
        }
        for (; j < ow; j++) {
          float a = b0;
          for (int u = 0; u < kh; u++)
            for (int v = 0; v < kw; v++) a += xr[u * w + j + v] * f[(u * kw + v) * co + o];
          a = a > lo ? a : lo;
          out[j] = a < hi ? a : hi;
        }
      }
      float *yr = y + ((long)b * oh + i) * ow * co;
      for (int j = 0; j < ow; j++)
        for (int o = 0; o < co; o++) yr[j * co + o] = row[o * ow + j];
    }
}
