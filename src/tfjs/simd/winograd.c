// 3x3, stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016), NHWC, for the frozen
// teacher (../winograd-conv.ts). Each 2x2 block of outputs is computed from a 4x4 block of inputs with 16 multiply-
// adds per (input, output) channel pair instead of 36: the input block is transformed (V = Bt d B, additions only),
// multiplied element-wise by the transformed filter (U = G g Gt, computed once per filter), summed over input
// channels (16 small matrix products), and transformed back (Y = At M A, additions only). XNNPACK has no Winograd
// path; on wasm SIMD (4 lanes, no fused multiply-add) its direct convolution runs near the core's peak, so doing
// fewer multiply-adds is the one way left to go faster.
//
// Tiles are processed in blocks of TB so that a block's transformed inputs (16 x TB x ci) and products (16 x TB x co)
// stay in cache between the three phases. Channel counts must be multiples of 4.

#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define TB 64
// Floats between the blocks of consecutive positions: TB * channels plus a pad, so that the 16 positions of one tile
// (written and read together) do not fall 4 KiB apart, into the same L1 cache set.
#define STRIDE(ch) (TB * (ch) + 32)

static inline v128_t ld(const float *p) { return wasm_v128_load(p); }
static inline void st(float *p, v128_t v) { wasm_v128_store(p, v); }
#define ADD wasm_f32x4_add
#define SUB wasm_f32x4_sub
#define MUL wasm_f32x4_mul

// Transforms the 4x4 input block at (b, y0, x0) of x [n, h, w, ci] (zero outside) into V[p][t][ci], p = 0..15, with
// tstride = TB * ci between the 16 positions.
static void input_tile(const float *restrict x, float *restrict V, int tstride, int b, int y0, int x0, int h, int w,
                       int ci) {
  const int inside = y0 >= 0 && x0 >= 0 && y0 + 4 <= h && x0 + 4 <= w;
  for (int c = 0; c < ci; c += 4) {
    v128_t d[4][4];
    if (inside) {
      const float *base = x + (((long)b * h + y0) * w + x0) * ci + c;
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) d[i][j] = ld(base + ((long)i * w + j) * ci);
    } else {
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
          const int r = y0 + i, q = x0 + j;
          d[i][j] = (r >= 0 && r < h && q >= 0 && q < w) ? ld(x + (((long)b * h + r) * w + q) * ci + c)
                                                       : wasm_f32x4_splat(0.0f);
        }
    }
    // Bt = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], applied to the columns, then to the rows.
    v128_t e[4][4];
    for (int j = 0; j < 4; j++) {
      e[0][j] = SUB(d[0][j], d[2][j]);
      e[1][j] = ADD(d[1][j], d[2][j]);
      e[2][j] = SUB(d[2][j], d[1][j]);
      e[3][j] = SUB(d[1][j], d[3][j]);
    }
    float *o = V + c;
    for (int i = 0; i < 4; i++) {
      st(o + (i * 4 + 0) * tstride, SUB(e[i][0], e[i][2]));
      st(o + (i * 4 + 1) * tstride, ADD(e[i][1], e[i][2]));
      st(o + (i * 4 + 2) * tstride, SUB(e[i][2], e[i][1]));
      st(o + (i * 4 + 3) * tstride, SUB(e[i][1], e[i][3]));
    }
  }
}

// M[t][co] = sum_c V[t][c] * U[c][co] for t < nt: one of the 16 products, 4 rows by 8 columns at a time.
static void gemm(const float *restrict V, const float *restrict U, float *restrict M, int nt, int ci, int co) {
  int t = 0;
  for (; t + 4 <= nt; t += 4) {
    const float *v0 = V + t * ci, *v1 = v0 + ci, *v2 = v1 + ci, *v3 = v2 + ci;
    int o = 0;
    for (; o + 8 <= co; o += 8) {
      v128_t a00 = wasm_f32x4_splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
      const float *u = U + o;
      for (int c = 0; c < ci; c++, u += co) {
        const v128_t u0 = ld(u), u1 = ld(u + 4);
        v128_t s = wasm_f32x4_splat(v0[c]);
        a00 = ADD(a00, MUL(s, u0));
        a01 = ADD(a01, MUL(s, u1));
        s = wasm_f32x4_splat(v1[c]);
        a10 = ADD(a10, MUL(s, u0));
        a11 = ADD(a11, MUL(s, u1));
        s = wasm_f32x4_splat(v2[c]);
        a20 = ADD(a20, MUL(s, u0));
        a21 = ADD(a21, MUL(s, u1));
        s = wasm_f32x4_splat(v3[c]);
        a30 = ADD(a30, MUL(s, u0));
        a31 = ADD(a31, MUL(s, u1));
      }
      float *m = M + t * co + o;
      st(m, a00);
      st(m + 4, a01);
      st(m + co, a10);
      st(m + co + 4, a11);
      st(m + 2 * co, a20);
      st(m + 2 * co + 4, a21);
      st(m + 3 * co, a30);
      st(m + 3 * co + 4, a31);
    }
    for (; o < co; o += 4) {
      v128_t a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
      const float *u = U + o;
      for (int c = 0; c < ci; c++, u += co) {
        const v128_t u0 = ld(u);
        a0 = ADD(a0, MUL(wasm_f32x4_splat(v0[c]), u0));
        a1 = ADD(a1, MUL(wasm_f32x4_splat(v1[c]), u0));
        a2 = ADD(a2, MUL(wasm_f32x4_splat(v2[c]), u0));
        a3 = ADD(a3, MUL(wasm_f32x4_splat(v3[c]), u0));
      }
      float *m = M + t * co + o;
      st(m, a0);
      st(m + co, a1);
      st(m + 2 * co, a2);
      st(m + 3 * co, a3);
    }
  }
  for (; t < nt; t++) {
    const float *v0 = V + t * ci;
    for (int o = 0; o < co; o += 4) {
      v128_t a0 = wasm_f32x4_splat(0);
      const float *u = U + o;
      for (int c = 0; c < ci; c++, u += co) a0 = ADD(a0, MUL(wasm_f32x4_splat(v0[c]), ld(u)));
      st(M + t * co + o, a0);
    }
  }
}

static inline void put(float *restrict y, const float *restrict res, long at, v128_t v, v128_t lo, v128_t hi) {
  if (res) v = ADD(v, ld(res + at));
  st(y + at, wasm_f32x4_pmin(wasm_f32x4_pmax(v, lo), hi));
}

// Transforms the products of one tile back into its 2x2 outputs at (b, y0, x0) of y [n, oh, ow, co] (cropped at the
// edges), adding the bias and a residual and clamping to [lo, hi] (the activation).
static void output_tile(const float *restrict M, int tstride, const float *restrict bias, const float *restrict res,
                        float *restrict y, int b, int y0, int x0, int oh, int ow, int co, float lo, float hi) {
  const v128_t vlo = wasm_f32x4_splat(lo), vhi = wasm_f32x4_splat(hi);
  const int rows = y0 + 2 <= oh ? 2 : 1, cols = x0 + 2 <= ow ? 2 : 1;
  for (int c = 0; c < co; c += 4) {
    v128_t m[16];
    for (int p = 0; p < 16; p++) m[p] = ld(M + p * tstride + c);
    // At = [1 1 1 0; 0 1 -1 -1], applied to the columns, then to the rows.
    v128_t s0[4], s1[4];
    for (int j = 0; j < 4; j++) {
      s0[j] = ADD(ADD(m[j], m[4 + j]), m[8 + j]);
      s1[j] = SUB(SUB(m[4 + j], m[8 + j]), m[12 + j]);
    }
    const v128_t bv = bias ? ld(bias + c) : wasm_f32x4_splat(0);
    const v128_t o00 = ADD(ADD(ADD(s0[0], s0[1]), s0[2]), bv), o01 = ADD(SUB(SUB(s0[1], s0[2]), s0[3]), bv);
    const v128_t o10 = ADD(ADD(ADD(s1[0], s1[1]), s1[2]), bv), o11 = ADD(SUB(SUB(s1[1], s1[2]), s1[3]), bv);
    const long at = (((long)b * oh + y0) * ow + x0) * co + c, down = (long)ow * co;
    put(y, res, at, o00, vlo, vhi);
    if (cols == 2) put(y, res, at + co, o01, vlo, vhi);
    if (rows == 2) {
      put(y, res, at + down, o10, vlo, vhi);
      if (cols == 2) put(y, res, at + down + co, o11, vlo, vhi);
    }
  }
}

// y = clamp(conv(x, g) + bias + res, lo, hi) for a 3x3 filter g given as U = G g Gt, laid out [16][ci][co]; x is
// [n, h, w, ci] read with padT rows and padL columns of zeros before it, y is [n, oh, ow, co]. bias and res may be 0
// (none). scratch holds 16 * (STRIDE(ci) + STRIDE(co)) floats.
EXPORT(winograd_f2k3)
void winograd_f2k3(const float *restrict x, const float *restrict U, const float *restrict bias,
                   const float *restrict res, float *restrict y, float *restrict scratch, int n, int h, int w, int ci,
                   int co, int oh, int ow, int padT, int padL, float lo, float hi) {
  const int th = (oh + 1) / 2, tw = (ow + 1) / 2, per = th * tw, tiles = n * per;
  const int vs = STRIDE(ci), ms = STRIDE(co);
  float *V = scratch, *M = scratch + 16 * vs;
  for (int t0 = 0; t0 < tiles; t0 += TB) {
    const int nt = tiles - t0 < TB ? tiles - t0 : TB;
    for (int t = 0; t < nt; t++) {
      const int k = t0 + t, b = k / per, r = k % per;
      input_tile(x, V + t * ci, vs, b, 2 * (r / tw) - padT, 2 * (r % tw) - padL, h, w, ci);
    }
    for (int p = 0; p < 16; p++) gemm(V + p * vs, U + p * ci * co, M + p * ms, nt, ci, co);
    for (int t = 0; t < nt; t++) {
      const int k = t0 + t, b = k / per, r = k % per;
      output_tile(M + t * co, ms, bias, res, y, b, 2 * (r / tw), 2 * (r % tw), oh, ow, co, lo, hi);
    }
  }
}
