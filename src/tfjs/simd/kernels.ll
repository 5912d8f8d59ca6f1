; Hand-written kernels for CAKE Studio's wasm backend, compiled to a small WebAssembly module that shares the
; tfjs-backend-wasm heap (see ../wasm-simd.ts). Written as plain scalar loops; `opt -O3 -mattr=+simd128,+bulk-memory` vectorises
; them. Every pointer is a byte offset into the tfjs heap; every count is in elements. Rebuild with
; `node src/tfjs/simd/build.mjs` (needs LLVM 14's opt and llc) after editing, and commit both files.

target datalayout = "e-m:e-p:32:32-p10:8:8-p20:8:8-i64:64-n32:64-S128-ni:1:10:20"
target triple = "wasm32-unknown-unknown"

; ---------------------------------------------------------------------------------------------------------------
; max_pool_grad_2x2(x, dy, dx, rows, ow, c): MaxPoolGrad of a 2x2, stride-2, unpadded pool over NHWC x whose
; height and width are exactly twice the output's. rows = batch * outHeight, ow = outWidth, c = channels.
; Each window's gradient goes to its first maximum in the order (0,0), (0,1), (1,0), (1,1); the other three
; cells get 0, and a window of -inf only passes nothing. Every dx element is written exactly once.
; ---------------------------------------------------------------------------------------------------------------
define void @max_pool_grad_2x2(float* noalias nocapture readonly %x, float* noalias nocapture readonly %dy,
                               float* noalias nocapture %dx, i32 %rows, i32 %ow, i32 %c) #0 {
entry:
  %twoc = shl i32 %c, 1
  %rowstride = mul i32 %ow, %twoc          ; W * C
  %rowsok = icmp sgt i32 %rows, 0
  %owok = icmp sgt i32 %ow, 0
  %cok = icmp sgt i32 %c, 0
  %ok1 = and i1 %rowsok, %owok
  %ok = and i1 %ok1, %cok
  br i1 %ok, label %row, label %done

row:                                        ; for r in [0, rows)
  %r = phi i32 [ 0, %entry ], [ %r1, %rowend ]
  %r2 = shl i32 %r, 1
  %base0 = mul i32 %r2, %rowstride
  %base1 = add i32 %base0, %rowstride
  %qrow = mul i32 %r, %ow
  %qbase = mul i32 %qrow, %c
  br label %col

col:                                        ; for w in [0, ow)
  %w = phi i32 [ 0, %row ], [ %w1, %colend ]
  %woff = mul i32 %w, %twoc
  %a0 = add i32 %base0, %woff
  %c0 = add i32 %base1, %woff
  %wq = mul i32 %w, %c
  %q0 = add i32 %qbase, %wq
  br label %chan

chan:                                       ; for k in [0, c)
  %k = phi i32 [ 0, %col ], [ %k1, %chan ]
  %pa = add i32 %a0, %k
  %pb = add i32 %pa, %c
  %pc = add i32 %c0, %k
  %pd = add i32 %pc, %c
  %q = add i32 %q0, %k
  %xa.p = getelementptr inbounds float, float* %x, i32 %pa
  %xb.p = getelementptr inbounds float, float* %x, i32 %pb
  %xc.p = getelementptr inbounds float, float* %x, i32 %pc
  %xd.p = getelementptr inbounds float, float* %x, i32 %pd
  %va = load float, float* %xa.p, align 4
  %vb = load float, float* %xb.p, align 4
  %vc = load float, float* %xc.p, align 4
  %vd = load float, float* %xd.p, align 4
  %g.p = getelementptr inbounds float, float* %dy, i32 %q
  %g = load float, float* %g.p, align 4
  ; top = first max of (a, b); bottom = first max of (c, d)
  %bgt = fcmp ogt float %vb, %va
  %top = select i1 %bgt, float %vb, float %va
  %dgt = fcmp ogt float %vd, %vc
  %bot = select i1 %dgt, float %vd, float %vc
  %usebot = fcmp ogt float %bot, %top
  %topfinite = fcmp ogt float %top, 0xFFF0000000000000   ; top > -inf
  %notbot = xor i1 %usebot, true
  %usetop2 = and i1 %notbot, %topfinite
  %nb = xor i1 %bgt, true
  %nd = xor i1 %dgt, true
  %sa = and i1 %usetop2, %nb
  %sb = and i1 %usetop2, %bgt
  %sc = and i1 %usebot, %nd
  %sd = and i1 %usebot, %dgt
  %ga = select i1 %sa, float %g, float 0.0
  %gb = select i1 %sb, float %g, float 0.0
  %gc = select i1 %sc, float %g, float 0.0
  %gd = select i1 %sd, float %g, float 0.0
  %da.p = getelementptr inbounds float, float* %dx, i32 %pa
  %db.p = getelementptr inbounds float, float* %dx, i32 %pb
  %dc.p = getelementptr inbounds float, float* %dx, i32 %pc
  %dd.p = getelementptr inbounds float, float* %dx, i32 %pd
  store float %ga, float* %da.p, align 4
  store float %gb, float* %db.p, align 4
  store float %gc, float* %dc.p, align 4
  store float %gd, float* %dd.p, align 4
  %k1 = add nuw nsw i32 %k, 1
  %kend = icmp eq i32 %k1, %c
  br i1 %kend, label %colend, label %chan

colend:
  %w1 = add nuw nsw i32 %w, 1
  %wend = icmp eq i32 %w1, %ow
  br i1 %wend, label %rowend, label %col

rowend:
  %r1 = add nuw nsw i32 %r, 1
  %rend = icmp eq i32 %r1, %rows
  br i1 %rend, label %done, label %row

done:
  ret void
}

; ---------------------------------------------------------------------------------------------------------------
; sum_abs_diff(x, outer, n, stride) -> f64: x viewed as [outer, n, stride]; the sum over all o, k < n-1, j of
; |x[o, k+1, j] - x[o, k, j]|, accumulated in f64. Along the innermost axis (stride 1) it runs over k.
; ---------------------------------------------------------------------------------------------------------------
define double @sum_abs_diff(float* noalias nocapture readonly %x, i32 %outer, i32 %n, i32 %stride) #1 {
entry:
  %nm1 = add i32 %n, -1
  %span = mul i32 %nm1, %stride               ; elements per outer slice that start a pair
  %block = mul i32 %n, %stride
  %ok1 = icmp sgt i32 %outer, 0
  %ok2 = icmp sgt i32 %span, 0
  %ok = and i1 %ok1, %ok2
  br i1 %ok, label %outerloop, label %exit0

exit0:
  ret double 0.0

outerloop:
  %o = phi i32 [ 0, %entry ], [ %o1, %outerend ]
  %acc.o = phi double [ 0.0, %entry ], [ %acc.i.last, %outerend ]
  %base = mul i32 %o, %block
  br label %inner

inner:                                        ; i in [0, span): pair (base+i, base+i+stride)
  %i = phi i32 [ 0, %outerloop ], [ %i1, %inner ]
  %acc = phi double [ %acc.o, %outerloop ], [ %acc1, %inner ]
  %lo = add i32 %base, %i
  %hi = add i32 %lo, %stride
  %lo.p = getelementptr inbounds float, float* %x, i32 %lo
  %hi.p = getelementptr inbounds float, float* %x, i32 %hi
  %vlo = load float, float* %lo.p, align 4
  %vhi = load float, float* %hi.p, align 4
  %d = fsub float %vhi, %vlo
  %ad = call float @llvm.fabs.f32(float %d)
  %ad64 = fpext float %ad to double
  %acc1 = fadd reassoc double %acc, %ad64
  %i1 = add nuw nsw i32 %i, 1
  %iend = icmp eq i32 %i1, %span
  br i1 %iend, label %outerend, label %inner

outerend:
  %acc.i.last = phi double [ %acc1, %inner ]
  %o1 = add nuw nsw i32 %o, 1
  %oend = icmp eq i32 %o1, %outer
  br i1 %oend, label %exit, label %outerloop

exit:
  %res = phi double [ %acc.i.last, %outerend ]
  ret double %res
}

; ---------------------------------------------------------------------------------------------------------------
; add_abs_diff_grad(x, dx, outer, n, stride, c): dx += c * d/dx sum |x[o, k+1, j] - x[o, k, j]| with tfjs' Abs
; gradient (a zero difference counts as negative): each element gets +c*s(up) - c*s(down), where up is its pair
; with the element before it along the axis and down the pair with the one after it, s(d) = d > 0 ? 1 : -1.
; Written per element (no element is written twice in a loop), so the loops vectorise.
; ---------------------------------------------------------------------------------------------------------------
define void @add_abs_diff_grad(float* noalias nocapture readonly %x, float* noalias nocapture %dx, i32 %outer,
                               i32 %n, i32 %stride, float %c) #2 {
entry:
  %nm1 = add i32 %n, -1
  %span = mul i32 %nm1, %stride
  %block = mul i32 %n, %stride
  %negc = fneg float %c
  %ok1 = icmp sgt i32 %outer, 0
  %ok2 = icmp sgt i32 %span, 0
  %ok = and i1 %ok1, %ok2
  br i1 %ok, label %outerloop, label %done

outerloop:
  %o = phi i32 [ 0, %entry ], [ %o1, %outerend ]
  %base = mul i32 %o, %block
  br label %down

down:                                         ; i in [0, span): element base+i has a pair below it
  %i = phi i32 [ 0, %outerloop ], [ %i1, %down ]
  %p = add i32 %base, %i
  %q = add i32 %p, %stride
  %p.p = getelementptr inbounds float, float* %x, i32 %p
  %q.p = getelementptr inbounds float, float* %x, i32 %q
  %vp = load float, float* %p.p, align 4
  %vq = load float, float* %q.p, align 4
  %d = fsub float %vq, %vp
  %pos = fcmp ogt float %d, 0.0
  %g = select i1 %pos, float %negc, float %c          ; -c * s(d)
  %dx.p = getelementptr inbounds float, float* %dx, i32 %p
  %old = load float, float* %dx.p, align 4
  %new = fadd float %old, %g
  store float %new, float* %dx.p, align 4
  %i1 = add nuw nsw i32 %i, 1
  %iend = icmp eq i32 %i1, %span
  br i1 %iend, label %upstart, label %down

upstart:
  br label %up

up:                                           ; i in [stride, block): element base+i has a pair above it
  %j = phi i32 [ %stride, %upstart ], [ %j1, %up ]
  %p2 = add i32 %base, %j
  %q2 = sub i32 %p2, %stride
  %p2.p = getelementptr inbounds float, float* %x, i32 %p2
  %q2.p = getelementptr inbounds float, float* %x, i32 %q2
  %vp2 = load float, float* %p2.p, align 4
  %vq2 = load float, float* %q2.p, align 4
  %d2 = fsub float %vp2, %vq2
  %pos2 = fcmp ogt float %d2, 0.0
  %g2 = select i1 %pos2, float %c, float %negc         ; +c * s(d)
  %dx2.p = getelementptr inbounds float, float* %dx, i32 %p2
  %old2 = load float, float* %dx2.p, align 4
  %new2 = fadd float %old2, %g2
  store float %new2, float* %dx2.p, align 4
  %j1 = add nuw nsw i32 %j, 1
  %jend = icmp eq i32 %j1, %block
  br i1 %jend, label %outerend, label %up

outerend:
  %o1 = add nuw nsw i32 %o, 1
  %oend = icmp eq i32 %o1, %outer
  br i1 %oend, label %done, label %outerloop

done:
  ret void
}

; ---------------------------------------------------------------------------------------------------------------
; swap_middle(src, dst, a, b, c, d): dst[i, k, j, :] = src[i, j, k, :] for src of shape [a, b, c, d] (row-major),
; i.e. a transpose with perm [0, 2, 1, 3], copying runs of d contiguous elements.
; ---------------------------------------------------------------------------------------------------------------
define void @swap_middle(float* noalias nocapture readonly %src, float* noalias nocapture %dst, i32 %a, i32 %b,
                         i32 %c, i32 %d) #3 {
entry:
  %ok1 = icmp sgt i32 %a, 0
  %ok2 = icmp sgt i32 %b, 0
  %ok3 = icmp sgt i32 %c, 0
  %ok4 = icmp sgt i32 %d, 0
  %ok12 = and i1 %ok1, %ok2
  %ok34 = and i1 %ok3, %ok4
  %ok = and i1 %ok12, %ok34
  br i1 %ok, label %li, label %done

li:
  %i = phi i32 [ 0, %entry ], [ %i1, %liend ]
  %bc = mul i32 %b, %c
  %ibc = mul i32 %i, %bc
  br label %lj

lj:
  %j = phi i32 [ 0, %li ], [ %j1, %ljend ]
  br label %lk

lk:
  %k = phi i32 [ 0, %lj ], [ %k1, %lkend ]
  ; src row (i, j, k) = ((i*b + j)*c + k) * d ; dst row (i, k, j) = ((i*c + k)*b + j) * d
  %jc = mul i32 %j, %c
  %srow0 = add i32 %ibc, %jc
  %srow = add i32 %srow0, %k
  %soff = mul i32 %srow, %d
  %kb = mul i32 %k, %b
  %drow0 = add i32 %ibc, %kb
  %drow = add i32 %drow0, %j
  %doff = mul i32 %drow, %d
  br label %lm

lm:
  %m = phi i32 [ 0, %lk ], [ %m1, %lm ]
  %sp = add i32 %soff, %m
  %dp = add i32 %doff, %m
  %s.p = getelementptr inbounds float, float* %src, i32 %sp
  %d.p = getelementptr inbounds float, float* %dst, i32 %dp
  %v = load float, float* %s.p, align 4
  store float %v, float* %d.p, align 4
  %m1 = add nuw nsw i32 %m, 1
  %mend = icmp eq i32 %m1, %d
  br i1 %mend, label %lkend, label %lm

lkend:
  %k1 = add nuw nsw i32 %k, 1
  %kend = icmp eq i32 %k1, %c
  br i1 %kend, label %ljend, label %lk

ljend:
  %j1 = add nuw nsw i32 %j, 1
  %jend = icmp eq i32 %j1, %b
  br i1 %jend, label %liend, label %lj

liend:
  %i1 = add nuw nsw i32 %i, 1
  %iend = icmp eq i32 %i1, %a
  br i1 %iend, label %done, label %li

done:
  ret void
}

; ---------------------------------------------------------------------------------------------------------------
; filter_grad_1ch(x, dyt, dw, n, h, w, kh, kw, oh, ow, co): the filter gradient of a stride-1 conv with one input
; channel, dw[(i * kw + j) * co + c] += sum over (b, y, z < ow) of x[b, y + i, z + j] * dyt[c, b, y, z], for x
; [n, h, w] (already padded, so h = oh + kh - 1 and w = ow + kw - 1) and dy transposed to [co, n, oh, w] with
; zeros in columns ow..w-1. With dy's rows as long as x's, each sum runs over one contiguous stretch of both
; (t = y * w + z), which vectorises without a reduction per row; the zero columns cancel the x values that the
; stretch picks up from the next row. dw must be zeroed by the caller.
; ---------------------------------------------------------------------------------------------------------------
define void @filter_grad_1ch(float* noalias nocapture readonly %x, float* noalias nocapture readonly %dyt,
                             float* noalias nocapture %dw, i32 %n, i32 %h, i32 %w, i32 %kh, i32 %kw, i32 %oh,
                             i32 %ow, i32 %co) #5 {
entry:
  %ok1 = icmp sgt i32 %n, 0
  %ok2 = icmp sgt i32 %co, 0
  %ok3 = icmp sgt i32 %kh, 0
  %ok4 = icmp sgt i32 %kw, 0
  %ok5 = icmp sgt i32 %oh, 0
  %ok6 = icmp sgt i32 %ow, 0
  %okA = and i1 %ok1, %ok2
  %okB = and i1 %ok3, %ok4
  %okC = and i1 %ok5, %ok6
  %okAB = and i1 %okA, %okB
  %ok = and i1 %okAB, %okC
  %plane = mul i32 %h, %w
  %dplane = mul i32 %oh, %w
  %ohm1 = add i32 %oh, -1
  %len0 = mul i32 %ohm1, %w
  %len = add i32 %len0, %ow                    ; stretch length: the last row stops at ow
  br i1 %ok, label %lb, label %done

lb:
  %b = phi i32 [ 0, %entry ], [ %b1, %lbend ]
  %xb = mul i32 %b, %plane
  br label %lc

lc:
  %c = phi i32 [ 0, %lb ], [ %c1, %lcend ]
  %cn = mul i32 %c, %n
  %cnb = add i32 %cn, %b
  %dbase = mul i32 %cnb, %dplane
  br label %li

li:
  %i = phi i32 [ 0, %lc ], [ %i1, %liend ]
  %iw = mul i32 %i, %w
  %xi = add i32 %xb, %iw
  br label %lj

lj:
  %j = phi i32 [ 0, %li ], [ %j1, %ljend ]
  %xij = add i32 %xi, %j
  br label %lt

lt:
  %t = phi i32 [ 0, %lj ], [ %t1, %lt ]
  %s = phi float [ 0.0, %lj ], [ %s1, %lt ]
  %xp = add i32 %xij, %t
  %dp = add i32 %dbase, %t
  %x.p = getelementptr inbounds float, float* %x, i32 %xp
  %d.p = getelementptr inbounds float, float* %dyt, i32 %dp
  %xv = load float, float* %x.p, align 4
  %dv = load float, float* %d.p, align 4
  %m = fmul float %xv, %dv
  %s1 = fadd reassoc float %s, %m
  %t1 = add nuw nsw i32 %t, 1
  %tend = icmp eq i32 %t1, %len
  br i1 %tend, label %ljend, label %lt

ljend:
  %s.fin = phi float [ %s1, %lt ]
  %t0 = mul i32 %i, %kw
  %ta = add i32 %t0, %j
  %tb = mul i32 %ta, %co
  %tc = add i32 %tb, %c
  %dw.p = getelementptr inbounds float, float* %dw, i32 %tc
  %old = load float, float* %dw.p, align 4
  %new = fadd float %old, %s.fin
  store float %new, float* %dw.p, align 4
  %j1 = add nuw nsw i32 %j, 1
  %jend = icmp eq i32 %j1, %kw
  br i1 %jend, label %liend, label %lj

liend:
  %i1 = add nuw nsw i32 %i, 1
  %iend = icmp eq i32 %i1, %kh
  br i1 %iend, label %lcend, label %li

lcend:
  %c1 = add nuw nsw i32 %c, 1
  %cend = icmp eq i32 %c1, %co
  br i1 %cend, label %lbend, label %lc

lbend:
  %b1 = add nuw nsw i32 %b, 1
  %bend = icmp eq i32 %b1, %n
  br i1 %bend, label %done, label %lb

done:
  ret void
}

; ---------------------------------------------------------------------------------------------------------------
; transpose_pad_rows(src, dst, rows, ow, co, wpad): dst[(c * rows + r) * wpad + z] = src[(r * ow + z) * co + c]
; for z < ow and 0 for ow <= z < wpad: dy [rows * ow, co] to [co, rows, wpad] for filter_grad_1ch.
; ---------------------------------------------------------------------------------------------------------------
define void @transpose_pad_rows(float* noalias nocapture readonly %src, float* noalias nocapture %dst, i32 %rows,
                                i32 %ow, i32 %co, i32 %wpad) #6 {
entry:
  %ok1 = icmp sgt i32 %rows, 0
  %ok2 = icmp sgt i32 %ow, 0
  %ok3 = icmp sgt i32 %co, 0
  %ok4 = icmp sge i32 %wpad, %ow
  %okA = and i1 %ok1, %ok2
  %okB = and i1 %ok3, %ok4
  %ok = and i1 %okA, %okB
  br i1 %ok, label %lc, label %done

lc:
  %c = phi i32 [ 0, %entry ], [ %c1, %lcend ]
  %crows = mul i32 %c, %rows
  br label %lr

lr:
  %r = phi i32 [ 0, %lc ], [ %r1, %lrend ]
  %drow0 = add i32 %crows, %r
  %drow = mul i32 %drow0, %wpad
  %srow = mul i32 %r, %ow
  br label %lz

lz:
  %z = phi i32 [ 0, %lr ], [ %z1, %lz ]
  %sz = add i32 %srow, %z
  %sidx0 = mul i32 %sz, %co
  %sidx = add i32 %sidx0, %c
  %s.p = getelementptr inbounds float, float* %src, i32 %sidx
  %v = load float, float* %s.p, align 4
  %didx = add i32 %drow, %z
  %d.p = getelementptr inbounds float, float* %dst, i32 %didx
  store float %v, float* %d.p, align 4
  %z1 = add nuw nsw i32 %z, 1
  %zend = icmp eq i32 %z1, %ow
  br i1 %zend, label %padstart, label %lz

padstart:
  %haspad = icmp slt i32 %ow, %wpad
  br i1 %haspad, label %lp, label %lrend

lp:
  %q = phi i32 [ %ow, %padstart ], [ %q1, %lp ]
  %pidx = add i32 %drow, %q
  %p.p = getelementptr inbounds float, float* %dst, i32 %pidx
  store float 0.0, float* %p.p, align 4
  %q1 = add nuw nsw i32 %q, 1
  %qend = icmp eq i32 %q1, %wpad
  br i1 %qend, label %lrend, label %lp

lrend:
  %r1 = add nuw nsw i32 %r, 1
  %rend = icmp eq i32 %r1, %rows
  br i1 %rend, label %lcend, label %lr

lcend:
  %c1 = add nuw nsw i32 %c, 1
  %cend = icmp eq i32 %c1, %co
  br i1 %cend, label %done, label %lc

done:
  ret void
}

declare float @llvm.fabs.f32(float)

attributes #0 = { nounwind "wasm-export-name"="max_pool_grad_2x2" "target-features"="+simd128,+bulk-memory" }
attributes #1 = { nounwind "wasm-export-name"="sum_abs_diff" "target-features"="+simd128,+bulk-memory" }
attributes #2 = { nounwind "wasm-export-name"="add_abs_diff_grad" "target-features"="+simd128,+bulk-memory" }
attributes #3 = { nounwind "wasm-export-name"="swap_middle" "target-features"="+simd128,+bulk-memory" }
attributes #5 = { nounwind "wasm-export-name"="filter_grad_1ch" "target-features"="+simd128,+bulk-memory" }
attributes #6 = { nounwind "wasm-export-name"="transpose_pad_rows" "target-features"="+simd128,+bulk-memory" }
