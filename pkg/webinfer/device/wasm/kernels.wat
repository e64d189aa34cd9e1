;; The NumPy device's WebAssembly SIMD kernels, in one side module.
;;
;; What it is: the source of kernels.wasm and kernels_fused.wasm, which blas.py links into Pyodide's
;; own memory (Emscripten's loadWebAssemblyModule) so the kernels read and write numpy buffers in
;; place. A side module: the dylink.0 section first (no data, no table), memory imported as
;; env.memory. What it is not: the loader, the fallbacks or the choice of kernel (blas.py), nor the
;; model's ops (numpy_device.py).
;;
;; Build: `python3 tools/build_wasm.py` (`make wasm`) assembles both files next to this one;
;; tests/unit/test_wasm_kernels_source.py fails when they are stale. The fused variant is this text
;; with one rule applied to each line marked ";; madd" (the inner loops of mm and mmn):
;;     (f32x4.add (local.get $acc) (f32x4.mul A B))   becomes   (f32x4.relaxed_madd A B (local.get $acc))
;; that is, relaxed SIMD's multiply-add: one FMA instruction where the CPU has it instead of a mul and
;; an add, in loops that the front end limits. Only engines with relaxed SIMD compile that module; mv
;; (memory-bound) and the rest stay plain.
;;
;; Exports are named "webinfer_" + kernel (wasm_kernels.PREFIX): they enter Emscripten's symbol
;; table beside libc's and numpy's, where a bare "exp" would replace libm's.
;;
;; Calling convention: float32, C-contiguous rows, byte addresses in the wasm heap, i32 arguments
;; (but rms_norm's last two). Loads and stores say align=4: numpy's float32 buffers are only 4-byte
;; aligned (the hint never changes a result).
;;
;;   mm(w, x, y, rows, cols, ntok)        y[n, r] = sum_j w[r, j] * x[n, j]   (x @ w.T)
;;       rows % 4 == 0, cols % 4 == 0, ntok % 2 == 0, all > 0.
;;   mv(w, x, y, rows, cols)              the same for one token; cols % 16 == 0.
;;   mmn(w, x, y, k, cols, ntok, ldx)     y[n, c] = sum_{j<k} x[n*ldx + j] * w[j, c]   (x @ w, w (k, cols))
;;       cols % 16 == 0, ntok % 2 == 0, k > 0; x rows are ldx floats apart.
;;   softmax(s, rows, ld, lim0, g)        in place over rows of ld floats (ld % 4 == 0): row r keeps its
;;       first L = min(lim0 + r // g, ld) entries as softmax(s[r, :L]) and zeroes the rest (causal
;;       attention: g query rows share a token, token i sees lim0 + i keys).
;;   swiglu(gu, y, n, d_ff)               y[r, j] = silu(gu[r, j]) * gu[r, d_ff + j] for n rows of 2 * d_ff
;;       floats (SwiGLU of a fused gate|up product); d_ff % 4 == 0, n > 0.
;;   rms_norm(x, w, y, n, d, inv_d, eps)  y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w for n rows of d floats
;;       (inv_d = 1/d and eps are f32 arguments); d % 4 == 0, n > 0.
;;   rope(x, y, c, s, n, nh, hd, ldx, ldyt, ldyh)   RoPE of n tokens x nh heads: head h of token i at
;;       x + i*ldx + h*hd*4 (bytes), rotated into y + i*ldyt + h*ldyh, with tables c, s (hd floats a
;;       token, numpy_device._rope_full's): y = x * c + partner(x) * s, partner swapping the two
;;       elements of each adjacent pair; rope_neox the same with pairs half a head apart. hd % 8 == 0.
;;   mm_b, mmn_b, softmax_b               the same over a batch: the inner arguments, then nb >= 1 and
;;       a byte stride for each pointer (w, x, y; or s) between batch items.
;;   dq_<type>(src, dst, nb)              dequantize nb > 0 ggml blocks of <type> (q8_0, q4_0, q4_1, q5_0,
;;       q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, iq4_xs) at src, any alignment, into nb * block_size
;;       floats at dst, bit for bit as the NumPy dequantizers; dq_f16 and dq_bf16 take nb >= 0 values.
;;
;; Every loop is do-while (`loop` ... `br_if` back), hence the "> 0" conditions above.
(module
  (@dylink.0 (mem-info))
  (import "env" "memory" (memory 0))

  ;; mm, several tokens (prefill). Compute-bound: blocks of 4 weight rows x 2 tokens in 8
  ;; accumulators $a<k><t> (row r + k, token n + t), so each w load feeds 2 tokens, each x load 4
  ;; rows, and 8 add chains run side by side; every token pair runs against the 4-row block while it
  ;; sits in cache. 11 v128 locals: the most V8 keeps in registers without spilling.
  (func $mm (export "webinfer_mm")
    (param $w i32) (param $x i32) (param $y i32) (param $rows i32) (param $cols i32) (param $ntok i32)
    (local $r i32) (local $n i32) (local $q i32) (local $px i32) (local $end i32) (local $rb i32)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local $x0 v128) (local $x1 v128) (local $wv v128)
    (local.set $rb (i32.shl (local.get $cols) (i32.const 2)))             ;; bytes a row, of w and of x
    (local.set $r (i32.const 0))
    (loop $by_rows                                                          ;; for r in 0, 4, .. rows
      (local.set $n (i32.const 0))
      (loop $by_tokens                                                      ;; for n in 0, 2, .. ntok
        (local.set $a00 (v128.const i64x2 0 0)) (local.set $a01 (v128.const i64x2 0 0))
        (local.set $a10 (v128.const i64x2 0 0)) (local.set $a11 (v128.const i64x2 0 0))
        (local.set $a20 (v128.const i64x2 0 0)) (local.set $a21 (v128.const i64x2 0 0))
        (local.set $a30 (v128.const i64x2 0 0)) (local.set $a31 (v128.const i64x2 0 0))
        ;; q walks row r of w up to end, px row n of x (row n + 1 is rb bytes further)
        (local.set $end (i32.add (local.tee $q (i32.add (local.get $w) (i32.mul (local.get $r) (local.get $rb))))
                                 (local.get $rb)))
        (local.set $px (i32.add (local.get $x) (i32.mul (local.get $n) (local.get $rb))))
        (loop $by_cols                                                      ;; for j in 0, 4, .. cols
          (local.set $x0 (v128.load align=4 (local.get $px)))
          (local.set $x1 (v128.load align=4 (i32.add (local.get $px) (local.get $rb))))
          ;; a<k><t> += w[r + k, j:j+4] * x[n + t, j:j+4]
          (local.set $wv (v128.load align=4 (local.get $q)))
          (local.set $a00 (f32x4.add (local.get $a00) (f32x4.mul (local.get $wv) (local.get $x0))))   ;; madd
          (local.set $a01 (f32x4.add (local.get $a01) (f32x4.mul (local.get $wv) (local.get $x1))))   ;; madd
          (local.set $wv (v128.load align=4 (i32.add (local.get $q) (i32.mul (local.get $rb) (i32.const 1)))))
          (local.set $a10 (f32x4.add (local.get $a10) (f32x4.mul (local.get $wv) (local.get $x0))))   ;; madd
          (local.set $a11 (f32x4.add (local.get $a11) (f32x4.mul (local.get $wv) (local.get $x1))))   ;; madd
          (local.set $wv (v128.load align=4 (i32.add (local.get $q) (i32.mul (local.get $rb) (i32.const 2)))))
          (local.set $a20 (f32x4.add (local.get $a20) (f32x4.mul (local.get $wv) (local.get $x0))))   ;; madd
          (local.set $a21 (f32x4.add (local.get $a21) (f32x4.mul (local.get $wv) (local.get $x1))))   ;; madd
          (local.set $wv (v128.load align=4 (i32.add (local.get $q) (i32.mul (local.get $rb) (i32.const 3)))))
          (local.set $a30 (f32x4.add (local.get $a30) (f32x4.mul (local.get $wv) (local.get $x0))))   ;; madd
          (local.set $a31 (f32x4.add (local.get $a31) (f32x4.mul (local.get $wv) (local.get $x1))))   ;; madd
          (local.set $px (i32.add (local.get $px) (i32.const 16)))
          (br_if $by_cols (i32.lt_u (local.tee $q (i32.add (local.get $q) (i32.const 16))) (local.get $end))))
        ;; y[n + t, r + k] = the horizontal sum of a<k><t>; q = &y[n, r], row n + 1 of y is 4 * rows bytes on
        (local.set $q (i32.add (local.get $y)
                               (i32.shl (i32.add (i32.mul (local.get $n) (local.get $rows)) (local.get $r))
                                        (i32.const 2))))
        local.get $q
        local.get $a00 f32x4.extract_lane 0  local.get $a00 f32x4.extract_lane 1  f32.add
        local.get $a00 f32x4.extract_lane 2  f32.add  local.get $a00 f32x4.extract_lane 3  f32.add
        f32.store offset=0
        local.get $q
        local.get $a10 f32x4.extract_lane 0  local.get $a10 f32x4.extract_lane 1  f32.add
        local.get $a10 f32x4.extract_lane 2  f32.add  local.get $a10 f32x4.extract_lane 3  f32.add
        f32.store offset=4
        local.get $q
        local.get $a20 f32x4.extract_lane 0  local.get $a20 f32x4.extract_lane 1  f32.add
        local.get $a20 f32x4.extract_lane 2  f32.add  local.get $a20 f32x4.extract_lane 3  f32.add
        f32.store offset=8
        local.get $q
        local.get $a30 f32x4.extract_lane 0  local.get $a30 f32x4.extract_lane 1  f32.add
        local.get $a30 f32x4.extract_lane 2  f32.add  local.get $a30 f32x4.extract_lane 3  f32.add
        f32.store offset=12
        (i32.add (local.get $q) (i32.shl (local.get $rows) (i32.const 2)))
        local.get $a01 f32x4.extract_lane 0  local.get $a01 f32x4.extract_lane 1  f32.add
        local.get $a01 f32x4.extract_lane 2  f32.add  local.get $a01 f32x4.extract_lane 3  f32.add
        f32.store offset=0
        (i32.add (local.get $q) (i32.shl (local.get $rows) (i32.const 2)))
        local.get $a11 f32x4.extract_lane 0  local.get $a11 f32x4.extract_lane 1  f32.add
        local.get $a11 f32x4.extract_lane 2  f32.add  local.get $a11 f32x4.extract_lane 3  f32.add
        f32.store offset=4
        (i32.add (local.get $q) (i32.shl (local.get $rows) (i32.const 2)))
        local.get $a21 f32x4.extract_lane 0  local.get $a21 f32x4.extract_lane 1  f32.add
        local.get $a21 f32x4.extract_lane 2  f32.add  local.get $a21 f32x4.extract_lane 3  f32.add
        f32.store offset=8
        (i32.add (local.get $q) (i32.shl (local.get $rows) (i32.const 2)))
        local.get $a31 f32x4.extract_lane 0  local.get $a31 f32x4.extract_lane 1  f32.add
        local.get $a31 f32x4.extract_lane 2  f32.add  local.get $a31 f32x4.extract_lane 3  f32.add
        f32.store offset=12
        (br_if $by_tokens (i32.lt_u (local.tee $n (i32.add (local.get $n) (i32.const 2))) (local.get $ntok))))
      (br_if $by_rows (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 4))) (local.get $rows)))))

  ;; mv, one token (decode). Memory-bound: one weight row after another, so w advances through the
  ;; whole matrix as ONE sequential stream, which the hardware prefetcher follows (kernels reading
  ;; several rows side by side run at about half the bandwidth); 16 floats a step into 4 accumulators.
  (func $mv (export "webinfer_mv")
    (param $w i32) (param $x i32) (param $y i32) (param $rows i32) (param $cols i32)
    (local $px i32) (local $end i32) (local $yend i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $yend (i32.add (local.get $y) (i32.shl (local.get $rows) (i32.const 2))))
    (loop $by_rows                                                          ;; for each row r (w walks on)
      (local.set $a0 (v128.const i64x2 0 0)) (local.set $a1 (v128.const i64x2 0 0))
      (local.set $a2 (v128.const i64x2 0 0)) (local.set $a3 (v128.const i64x2 0 0))
      (local.set $px (local.get $x))
      (local.set $end (i32.add (local.get $w) (i32.shl (local.get $cols) (i32.const 2))))
      (loop $by_cols                                                        ;; for j in 0, 16, .. cols
        ;; a<k> += w[r, j+4k : +4] * x[j+4k : +4]
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load offset=0 align=4 (local.get $w))
                                                             (v128.load offset=0 align=4 (local.get $px)))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load offset=16 align=4 (local.get $w))
                                                             (v128.load offset=16 align=4 (local.get $px)))))
        (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load offset=32 align=4 (local.get $w))
                                                             (v128.load offset=32 align=4 (local.get $px)))))
        (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load offset=48 align=4 (local.get $w))
                                                             (v128.load offset=48 align=4 (local.get $px)))))
        (local.set $px (i32.add (local.get $px) (i32.const 64)))
        (br_if $by_cols (i32.lt_u (local.tee $w (i32.add (local.get $w) (i32.const 64))) (local.get $end))))
      ;; y[r] = the horizontal sum of a0 + a1 + a2 + a3
      (local.set $a0 (f32x4.add (f32x4.add (local.get $a0) (local.get $a1))
                                (f32x4.add (local.get $a2) (local.get $a3))))
      local.get $y
      local.get $a0 f32x4.extract_lane 0  local.get $a0 f32x4.extract_lane 1  f32.add
      local.get $a0 f32x4.extract_lane 2  f32.add  local.get $a0 f32x4.extract_lane 3  f32.add
      f32.store offset=0
      (br_if $by_rows (i32.lt_u (local.tee $y (i32.add (local.get $y) (i32.const 4))) (local.get $yend)))))

  ;; mmn (probabilities @ V in attention): blocks of 2 x rows x 16 output columns in 8 accumulators
  ;; $a<t><v> (row n + t, columns c + 4v); per step j, one float of each x row (broadcast) times 4
  ;; vectors of w's row j, w (k, cols) walked down a 16-column stripe. The same 11 v128 locals as mm.
  (func $mmn (export "webinfer_mmn")
    (param $w i32) (param $x i32) (param $y i32) (param $k i32) (param $cols i32) (param $ntok i32)
    (param $ldx i32)
    (local $c i32) (local $n i32) (local $pw i32) (local $px i32) (local $pxend i32) (local $rb i32)
    (local $xb i32) (local $py i32)
    (local $a00 v128) (local $a01 v128) (local $a02 v128) (local $a03 v128)
    (local $a10 v128) (local $a11 v128) (local $a12 v128) (local $a13 v128)
    (local $x0 v128) (local $x1 v128) (local $wv v128)
    (local.set $rb (i32.shl (local.get $cols) (i32.const 2)))             ;; bytes a row of w and of y
    (local.set $xb (i32.shl (local.get $ldx) (i32.const 2)))              ;; bytes a row of x
    (local.set $c (i32.const 0))
    (loop $by_stripes                                                       ;; for c in 0, 64, .. rb (bytes)
      (local.set $n (i32.const 0))
      (loop $by_tokens                                                      ;; for n in 0, 2, .. ntok
        (local.set $a00 (v128.const i64x2 0 0)) (local.set $a01 (v128.const i64x2 0 0))
        (local.set $a02 (v128.const i64x2 0 0)) (local.set $a03 (v128.const i64x2 0 0))
        (local.set $a10 (v128.const i64x2 0 0)) (local.set $a11 (v128.const i64x2 0 0))
        (local.set $a12 (v128.const i64x2 0 0)) (local.set $a13 (v128.const i64x2 0 0))
        ;; px walks x[n, :k] up to pxend, pw down the stripe of w
        (local.set $pxend (i32.add (local.tee $px (i32.add (local.get $x) (i32.mul (local.get $n) (local.get $xb))))
                                   (i32.shl (local.get $k) (i32.const 2))))
        (local.set $pw (i32.add (local.get $w) (local.get $c)))
        (loop $by_k                                                         ;; for j in 0 .. k
          (local.set $x0 (v128.load32_splat (local.get $px)))
          (local.set $x1 (v128.load32_splat (i32.add (local.get $px) (local.get $xb))))
          ;; a<t><v> += w[j, c+4v : +4] * x[n + t, j]
          (local.set $wv (v128.load offset=0 align=4 (local.get $pw)))
          (local.set $a00 (f32x4.add (local.get $a00) (f32x4.mul (local.get $wv) (local.get $x0))))   ;; madd
          (local.set $a10 (f32x4.add (local.get $a10) (f32x4.mul (local.get $wv) (local.get $x1))))   ;; madd
          (local.set $wv (v128.load offset=16 align=4 (local.get $pw)))
          (local.set $a01 (f32x4.add (local.get $a01) (f32x4.mul (local.get $wv) (local.get $x0))))   ;; madd
          (local.set $a11 (f32x4.add (local.get $a11) (f32x4.mul (local.get $wv) (local.get $x1))))   ;; madd
          (local.set $wv (v128.load offset=32 align=4 (local.get $pw)))
          (local.set $a02 (f32x4.add (local.get $a02) (f32x4.mul (local.get $wv) (local.get $x0))))   ;; madd
          (local.set $a12 (f32x4.add (local.get $a12) (f32x4.mul (local.get $wv) (local.get $x1))))   ;; madd
          (local.set $wv (v128.load offset=48 align=4 (local.get $pw)))
          (local.set $a03 (f32x4.add (local.get $a03) (f32x4.mul (local.get $wv) (local.get $x0))))   ;; madd
          (local.set $a13 (f32x4.add (local.get $a13) (f32x4.mul (local.get $wv) (local.get $x1))))   ;; madd
          (local.set $pw (i32.add (local.get $pw) (local.get $rb)))
          (br_if $by_k (i32.lt_u (local.tee $px (i32.add (local.get $px) (i32.const 4))) (local.get $pxend))))
        ;; y[n + t, c + 4v : +4] = a<t><v>; py = &y[n, c]
        (local.set $py (i32.add (i32.add (local.get $y) (i32.mul (local.get $n) (local.get $rb))) (local.get $c)))
        (v128.store offset=0 align=4 (local.get $py) (local.get $a00))
        (v128.store offset=16 align=4 (local.get $py) (local.get $a01))
        (v128.store offset=32 align=4 (local.get $py) (local.get $a02))
        (v128.store offset=48 align=4 (local.get $py) (local.get $a03))
        (v128.store offset=0 align=4 (i32.add (local.get $py) (local.get $rb)) (local.get $a10))
        (v128.store offset=16 align=4 (i32.add (local.get $py) (local.get $rb)) (local.get $a11))
        (v128.store offset=32 align=4 (i32.add (local.get $py) (local.get $rb)) (local.get $a12))
        (v128.store offset=48 align=4 (i32.add (local.get $py) (local.get $rb)) (local.get $a13))
        (br_if $by_tokens (i32.lt_u (local.tee $n (i32.add (local.get $n) (i32.const 2))) (local.get $ntok))))
      (br_if $by_stripes (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 64))) (local.get $rb)))))

  ;; softmax: three passes over each row, 4 floats a step, with $idx the 4 column indices (every pass
  ;; steps it alike): the max over the first L entries (the rest masked to -inf by comparing idx with
  ;; L); exp(s - max), the rest zeroed, stored and summed; a scale by 1 / sum.
  ;; exp is Cephes' expf: x = n ln2 + r with |r| <= ln2 / 2 (Cody-Waite: ln2 in two parts), e^r by a
  ;; degree-6 polynomial, 2^n put in the exponent bits; inputs kept >= -87 so 2^n stays a normal float
  ;; (they are <= 0 here). Within 0.98 ulp of float64 exp on [-87, 88].
  (func $softmax (export "webinfer_softmax")
    (param $s i32) (param $rows i32) (param $ld i32) (param $lim0 i32) (param $g i32)
    (local $r i32) (local $p i32) (local $pend i32) (local $prow i32) (local $l i32) (local $rb i32)
    (local $idx v128) (local $lv v128) (local $m v128) (local $sum v128)
    (local $a v128) (local $fx v128) (local $rr v128) (local $e v128)
    (local.set $rb (i32.shl (local.get $ld) (i32.const 2)))               ;; bytes a row
    (local.set $prow (local.get $s))
    (local.set $r (i32.const 0))
    (loop $by_rows                                                          ;; for each row r at prow
      ;; L = min(lim0 + r / g, ld), in all 4 lanes of lv
      (local.set $l (i32.add (local.get $lim0) (i32.div_u (local.get $r) (local.get $g))))
      (local.set $lv (i32x4.splat (local.tee $l (select (local.get $ld) (local.get $l)
                                                        (i32.gt_u (local.get $l) (local.get $ld))))))
      (local.set $pend (i32.add (local.get $prow) (local.get $rb)))
      ;; pass 1: m = the max of s[r, :L]
      (local.set $m (v128.const f32x4 -inf -inf -inf -inf))
      (local.set $idx (v128.const i32x4 0 1 2 3))
      (local.set $p (local.get $prow))
      (loop $max_pass
        (local.set $m (f32x4.pmax (local.get $m)
                                  (v128.bitselect (v128.load align=4 (local.get $p))
                                                  (v128.const f32x4 -inf -inf -inf -inf)
                                                  (i32x4.lt_s (local.get $idx) (local.get $lv)))))
        (local.set $idx (i32x4.add (local.get $idx) (v128.const i32x4 4 4 4 4)))
        (br_if $max_pass (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $pend))))
      local.get $m f32x4.extract_lane 0  local.get $m f32x4.extract_lane 1  f32.max
      local.get $m f32x4.extract_lane 2  f32.max  local.get $m f32x4.extract_lane 3  f32.max
      f32x4.splat
      local.set $m
      (local.set $sum (v128.const i64x2 0 0))
      ;; pass 2: s = exp(s - m) on the first L columns, 0 after; sum += s
      (local.set $idx (v128.const i32x4 0 1 2 3))
      (local.set $p (local.get $prow))
      (loop $exp_pass
        (local.set $a (f32x4.sub (v128.load align=4 (local.get $p)) (local.get $m)))
        ;; a = exp(a): clamp, n = round(a / ln2) in fx, r = a - n ln2 in rr
        (local.set $a (f32x4.pmax (local.get $a) (v128.const f32x4 -87 -87 -87 -87)))
        (local.set $fx (f32x4.nearest (f32x4.mul (local.get $a) (v128.const f32x4 1.44269504088896341
                                                  1.44269504088896341 1.44269504088896341 1.44269504088896341))))
        (local.set $rr (f32x4.sub
          (f32x4.sub (local.get $a)
                     (f32x4.mul (local.get $fx) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375)))
          (f32x4.mul (local.get $fx) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
        ;; e = 1 + r + r^2 p(r), p by Horner from the highest power
        v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4
        local.get $rr f32x4.mul
        v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3  f32x4.add
        local.get $rr f32x4.mul
        v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3  f32x4.add
        local.get $rr f32x4.mul
        v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2  f32x4.add
        local.get $rr f32x4.mul
        v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1  f32x4.add
        local.get $rr f32x4.mul
        v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1  f32x4.add
        local.get $rr local.get $rr f32x4.mul  f32x4.mul  local.get $rr f32x4.add
        v128.const f32x4 1 1 1 1  f32x4.add
        local.set $e
        ;; a = e * 2^n: n + 127 shifted into the exponent bits
        (local.set $a (f32x4.mul (local.get $e)
                                 (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $fx))
                                                       (v128.const i32x4 127 127 127 127))
                                            (i32.const 23))))
        (local.set $a (v128.and (local.get $a) (i32x4.lt_s (local.get $idx) (local.get $lv))))
        (v128.store align=4 (local.get $p) (local.get $a))
        (local.set $sum (f32x4.add (local.get $sum) (local.get $a)))
        (local.set $idx (i32x4.add (local.get $idx) (v128.const i32x4 4 4 4 4)))
        (br_if $exp_pass (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $pend))))
      ;; pass 3: s *= 1 / (the horizontal sum of sum)
      f32.const 1
      local.get $sum f32x4.extract_lane 0  local.get $sum f32x4.extract_lane 1  f32.add
      local.get $sum f32x4.extract_lane 2  f32.add  local.get $sum f32x4.extract_lane 3  f32.add
      f32.div
      f32x4.splat
      local.set $m
      (local.set $idx (v128.const i32x4 0 1 2 3))
      (local.set $p (local.get $prow))
      (loop $scale_pass
        (v128.store align=4 (local.get $p) (f32x4.mul (v128.load align=4 (local.get $p)) (local.get $m)))
        (local.set $idx (i32x4.add (local.get $idx) (v128.const i32x4 4 4 4 4)))
        (br_if $scale_pass (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $pend))))
      (local.set $prow (i32.add (local.get $prow) (local.get $rb)))
      (br_if $by_rows (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (local.get $rows)))))

  ;; swiglu, row by row: y[r, j] = g / (1 + exp(-g)) * u with g = gu[r, j], u = gu[r, d_ff + j];
  ;; exp as in softmax, its input clamped to [-87, 88] (-g has either sign here).
  (func $swiglu (export "webinfer_swiglu")
    (param $gu i32) (param $y i32) (param $n i32) (param $d_ff i32)
    (local $pg i32) (local $end i32) (local $db i32) (local $r i32)
    (local $a v128) (local $g v128) (local $fx v128) (local $rr v128) (local $e v128)
    (local.set $db (i32.shl (local.get $d_ff) (i32.const 2)))             ;; bytes of a half row
    (local.set $r (i32.const 0))
    (local.set $pg (local.get $gu))
    (loop $by_rows                                                          ;; for each row r (pg walks on)
      (local.set $end (i32.add (local.get $pg) (local.get $db)))
      (loop $by_cols                                                        ;; for j in 0, 4, .. d_ff
        (local.set $a (f32x4.neg (local.tee $g (v128.load align=4 (local.get $pg)))))
        ;; a = exp(a): clamp, n = round(a / ln2) in fx, r = a - n ln2 in rr
        (local.set $a (f32x4.pmin (f32x4.pmax (local.get $a) (v128.const f32x4 -87 -87 -87 -87))
                                  (v128.const f32x4 88 88 88 88)))
        (local.set $fx (f32x4.nearest (f32x4.mul (local.get $a) (v128.const f32x4 1.44269504088896341
                                                  1.44269504088896341 1.44269504088896341 1.44269504088896341))))
        (local.set $rr (f32x4.sub
          (f32x4.sub (local.get $a)
                     (f32x4.mul (local.get $fx) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375)))
          (f32x4.mul (local.get $fx) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
        ;; e = 1 + r + r^2 p(r), p by Horner from the highest power
        v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4
        local.get $rr f32x4.mul
        v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3  f32x4.add
        local.get $rr f32x4.mul
        v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3  f32x4.add
        local.get $rr f32x4.mul
        v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2  f32x4.add
        local.get $rr f32x4.mul
        v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1  f32x4.add
        local.get $rr f32x4.mul
        v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1  f32x4.add
        local.get $rr local.get $rr f32x4.mul  f32x4.mul  local.get $rr f32x4.add
        v128.const f32x4 1 1 1 1  f32x4.add
        local.set $e
        ;; a = e * 2^n: n + 127 shifted into the exponent bits
        (local.set $a (f32x4.mul (local.get $e)
                                 (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $fx))
                                                       (v128.const i32x4 127 127 127 127))
                                            (i32.const 23))))
        ;; y = g / (1 + exp(-g)) * u
        (v128.store align=4 (local.get $y)
          (f32x4.mul (f32x4.div (local.get $g) (f32x4.add (local.get $a) (v128.const f32x4 1 1 1 1)))
                     (v128.load align=4 (i32.add (local.get $pg) (local.get $db)))))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br_if $by_cols (i32.lt_u (local.tee $pg (i32.add (local.get $pg) (i32.const 16))) (local.get $end))))
      (local.set $pg (i32.add (local.get $pg) (local.get $db)))           ;; skip the row's u half
      (br_if $by_rows (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (local.get $n)))))

  ;; rms_norm, row by row: acc = x^2 summed 4 lanes at a time, then across; acc = 1 / sqrt(sum * inv_d
  ;; + eps) in every lane; y = x * acc * w.
  (func $rms_norm (export "webinfer_rms_norm")
    (param $x i32) (param $w i32) (param $y i32) (param $n i32) (param $d i32) (param $inv_d f32) (param $eps f32)
    (local $r i32) (local $p i32) (local $end i32) (local $pw i32) (local $db i32)
    (local $acc v128) (local $v v128)
    (local.set $db (i32.shl (local.get $d) (i32.const 2)))                ;; bytes a row
    (local.set $r (i32.const 0))
    (loop $by_rows                                                          ;; for each row r (x walks on)
      (local.set $end (i32.add (local.get $x) (local.get $db)))
      (local.set $acc (v128.const i64x2 0 0))
      (local.set $p (local.get $x))
      (loop $sum_squares
        (local.set $acc (f32x4.add (local.get $acc)
                                   (f32x4.mul (local.tee $v (v128.load align=4 (local.get $p))) (local.get $v))))
        (br_if $sum_squares (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end))))
      f32.const 1
      local.get $acc f32x4.extract_lane 0  local.get $acc f32x4.extract_lane 1  f32.add
      local.get $acc f32x4.extract_lane 2  f32.add  local.get $acc f32x4.extract_lane 3  f32.add
      local.get $inv_d f32.mul  local.get $eps f32.add  f32.sqrt  f32.div
      f32x4.splat
      local.set $acc
      (local.set $p (local.get $x))
      (local.set $pw (local.get $w))
      (loop $scale
        (v128.store align=4 (local.get $y) (f32x4.mul (f32x4.mul (v128.load align=4 (local.get $p)) (local.get $acc))
                                                      (v128.load align=4 (local.get $pw))))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (local.set $pw (i32.add (local.get $pw) (i32.const 16)))
        (br_if $scale (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end))))
      (local.set $x (local.get $end))
      (br_if $by_rows (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (local.get $n)))))

  ;; rope: y = x * c + partner(x) * s over n tokens x nh heads of hd floats, with full-width tables
  ;; c, s (numpy_device._rope_full, one row a token); partner swaps the two elements of each adjacent
  ;; pair, by a lane shuffle. rope_neox below differs only in the partner.
  (func $rope (export "webinfer_rope")
    (param $x i32) (param $y i32) (param $c i32) (param $s i32) (param $n i32) (param $nh i32) (param $hd i32)
    (param $ldx i32) (param $ldyt i32) (param $ldyh i32)
    (local $i i32) (local $h i32) (local $j i32) (local $src i32) (local $dst i32) (local $ct i32) (local $st i32)
    (local $hb i32) (local $half i32)
    (local $a v128) (local $p v128)
    (local.set $half (i32.shr_u (local.tee $hb (i32.shl (local.get $hd) (i32.const 2))) (i32.const 1)))  ;; bytes
    (local.set $i (i32.const 0))
    (loop $by_tokens                                                        ;; for each token i
      (local.set $h (i32.const 0))
      (loop $by_heads                                                       ;; for each head h
        (local.set $src (i32.add (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $ldx)))
                                 (i32.mul (local.get $h) (local.get $hb))))
        (local.set $dst (i32.add (i32.add (local.get $y) (i32.mul (local.get $i) (local.get $ldyt)))
                                 (i32.mul (local.get $h) (local.get $ldyh))))
        (local.set $ct (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $hb))))
        (local.set $st (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $hb))))
        (local.set $j (i32.const 0))
        (loop $by_cols                                                      ;; for j in 0, 16, .. hb (bytes)
          (local.set $a (v128.load align=4 (i32.add (local.get $src) (local.get $j))))
          ;; p = the lanes of a in the order 1 0 3 2
          (local.set $p (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $a) (local.get $a)))
          (v128.store align=4 (i32.add (local.get $dst) (local.get $j))
            (f32x4.add (f32x4.mul (local.get $a) (v128.load align=4 (i32.add (local.get $ct) (local.get $j))))
                       (f32x4.mul (local.get $p) (v128.load align=4 (i32.add (local.get $st) (local.get $j))))))
          (br_if $by_cols (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 16))) (local.get $hb))))
        (br_if $by_heads (i32.lt_u (local.tee $h (i32.add (local.get $h) (i32.const 1))) (local.get $nh))))
      (br_if $by_tokens (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n)))))

  ;; rope_neox: as rope, the partner of element j sitting half a head away (j + half in the first
  ;; half, j - half in the second), loaded from there.
  (func $rope_neox (export "webinfer_rope_neox")
    (param $x i32) (param $y i32) (param $c i32) (param $s i32) (param $n i32) (param $nh i32) (param $hd i32)
    (param $ldx i32) (param $ldyt i32) (param $ldyh i32)
    (local $i i32) (local $h i32) (local $j i32) (local $src i32) (local $dst i32) (local $ct i32) (local $st i32)
    (local $hb i32) (local $half i32)
    (local $a v128) (local $p v128)
    (local.set $half (i32.shr_u (local.tee $hb (i32.shl (local.get $hd) (i32.const 2))) (i32.const 1)))  ;; bytes
    (local.set $i (i32.const 0))
    (loop $by_tokens                                                        ;; for each token i
      (local.set $h (i32.const 0))
      (loop $by_heads                                                       ;; for each head h
        (local.set $src (i32.add (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $ldx)))
                                 (i32.mul (local.get $h) (local.get $hb))))
        (local.set $dst (i32.add (i32.add (local.get $y) (i32.mul (local.get $i) (local.get $ldyt)))
                                 (i32.mul (local.get $h) (local.get $ldyh))))
        (local.set $ct (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $hb))))
        (local.set $st (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $hb))))
        (local.set $j (i32.const 0))
        (loop $by_cols                                                      ;; for j in 0, 16, .. hb (bytes)
          (local.set $a (v128.load align=4 (i32.add (local.get $src) (local.get $j))))
          (local.set $p (v128.load align=4 (i32.add (local.get $src)
                                                    (select (i32.add (local.get $j) (local.get $half))
                                                            (i32.sub (local.get $j) (local.get $half))
                                                            (i32.lt_u (local.get $j) (local.get $half))))))
          (v128.store align=4 (i32.add (local.get $dst) (local.get $j))
            (f32x4.add (f32x4.mul (local.get $a) (v128.load align=4 (i32.add (local.get $ct) (local.get $j))))
                       (f32x4.mul (local.get $p) (v128.load align=4 (i32.add (local.get $st) (local.get $j))))))
          (br_if $by_cols (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 16))) (local.get $hb))))
        (br_if $by_heads (i32.lt_u (local.tee $h (i32.add (local.get $h) (i32.const 1))) (local.get $nh))))
      (br_if $by_tokens (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n)))))

  ;; The batched kernels: call the inner one nb times, each pointer advanced by its byte stride after
  ;; each call, so Python crosses into wasm once for a whole batch (every kv head of attention).
  (func $mm_b (export "webinfer_mm_b")
    (param $w i32) (param $x i32) (param $y i32) (param $rows i32) (param $cols i32) (param $ntok i32)
    (param $nb i32) (param $sw i32) (param $sx i32) (param $sy i32)
    (loop $items
      (call $mm (local.get $w) (local.get $x) (local.get $y) (local.get $rows) (local.get $cols) (local.get $ntok))
      (local.set $w (i32.add (local.get $w) (local.get $sw)))
      (local.set $x (i32.add (local.get $x) (local.get $sx)))
      (local.set $y (i32.add (local.get $y) (local.get $sy)))
      (br_if $items (local.tee $nb (i32.sub (local.get $nb) (i32.const 1))))))

  (func $mmn_b (export "webinfer_mmn_b")
    (param $w i32) (param $x i32) (param $y i32) (param $k i32) (param $cols i32) (param $ntok i32)
    (param $ldx i32) (param $nb i32) (param $sw i32) (param $sx i32) (param $sy i32)
    (loop $items
      (call $mmn (local.get $w) (local.get $x) (local.get $y) (local.get $k) (local.get $cols) (local.get $ntok)
                 (local.get $ldx))
      (local.set $w (i32.add (local.get $w) (local.get $sw)))
      (local.set $x (i32.add (local.get $x) (local.get $sx)))
      (local.set $y (i32.add (local.get $y) (local.get $sy)))
      (br_if $items (local.tee $nb (i32.sub (local.get $nb) (i32.const 1))))))

  (func $softmax_b (export "webinfer_softmax_b")
    (param $s i32) (param $rows i32) (param $ld i32) (param $lim0 i32) (param $g i32)
    (param $nb i32) (param $ss i32)
    (loop $items
      (call $softmax (local.get $s) (local.get $rows) (local.get $ld) (local.get $lim0) (local.get $g))
      (local.set $s (i32.add (local.get $s) (local.get $ss)))
      (br_if $items (local.tee $nb (i32.sub (local.get $nb) (i32.const 1))))))

  ;; ---- dequantizers: ggml blocks -> float32 ------------------------------------------------------
  ;;
  ;; dq_<type>(src, dst, nb) writes the nb * block_size values of nb consecutive blocks at src (the
  ;; file's bytes, any alignment) to dst, bit for bit what formats/quants.py and formats/kquants.py's
  ;; NumPy dequantizers give: f16 scales widened exactly ($f16), then the same float32 products,
  ;; rounded in the same order (a sub-block scale d * sc first, then times the code, then minus or
  ;; plus the min term). Codes are built as 16 signed bytes (offsets such as -8 or -32 applied in
  ;; i8, exact) and widened to f32 by $put16 and its two siblings. QMat (qmat.py) calls them through
  ;; blas.dequantize on a tile of rows at a time, just before the tile's product.

  ;; $f16: the IEEE half in the low 16 bits of h as f32, exactly as numpy's float16 -> float32 cast.
  ;; The exponent and mantissa bits move up 13 places and the exponent is rebiased by adding 112 << 23
  ;; (127 - 15), or 224 << 23 for Inf and NaN (exponent 31 becomes 255), which keeps a NaN's payload
  ;; (a signalling NaN stays signalling, as in numpy's cast). A zero or subnormal half (exponent 0) is
  ;; its 10-bit mantissa times 2^-24, exact in f32 and computed from normal operands only (a
  ;; subnormal operand costs x86 cores a microcode assist). The sign bit goes on last.
  (func $f16 (param $h i32) (result f32)
    (local $e i32)
    (local.set $e (i32.and (local.get $h) (i32.const 0x7c00)))
    (f32.reinterpret_i32
      (i32.or (i32.shl (i32.and (local.get $h) (i32.const 0x8000)) (i32.const 16))
              (if (result i32) (i32.eqz (local.get $e))
                (then (i32.reinterpret_f32 (f32.mul (f32.convert_i32_s (i32.and (local.get $h) (i32.const 0x3ff)))
                                                    (f32.const 0x1p-24))))
                (else (i32.add (i32.shl (i32.and (local.get $h) (i32.const 0x7fff)) (i32.const 13))
                               (select (i32.const 0x70000000) (i32.const 0x38000000)
                                       (i32.eq (local.get $e) (i32.const 0x7c00)))))))))

  ;; $f16x4: $f16 on four halves, each in the low 16 bits of an i32 lane whose high bits are zero;
  ;; m = the half without its sign, compared as a signed i32 to pick the exponent's case.
  (func $f16x4 (param $h v128) (result v128)
    (local $m v128)
    (local.set $m (v128.and (local.get $h) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)))
    (v128.or
      (i32x4.shl (v128.xor (local.get $h) (local.get $m)) (i32.const 16))                     ;; the sign
      (v128.bitselect
        (f32x4.mul (f32x4.convert_i32x4_s (local.get $m)) (v128.const f32x4 0x1p-24 0x1p-24 0x1p-24 0x1p-24))
        (i32x4.add (i32x4.add (i32x4.shl (local.get $m) (i32.const 13))
                              (v128.const i32x4 0x38000000 0x38000000 0x38000000 0x38000000))
                   (v128.and (i32x4.gt_s (local.get $m) (v128.const i32x4 0x7bff 0x7bff 0x7bff 0x7bff))   ;; exponent 31
                             (v128.const i32x4 0x38000000 0x38000000 0x38000000 0x38000000)))
        (i32x4.lt_s (local.get $m) (v128.const i32x4 0x400 0x400 0x400 0x400)))))                ;; exponent 0

  ;; $put16: dst[i] = a * q[i] for the 16 signed bytes q (codes, offset already applied): 16 floats.
  (func $put16 (param $dst i32) (param $q v128) (param $a f32)
    (local $av v128) (local $h v128)
    (local.set $av (f32x4.splat (local.get $a)))
    (local.set $h (i16x8.extend_low_i8x16_s (local.get $q)))                ;; lanes 0..7
    (v128.store offset=0 align=4 (local.get $dst)
      (f32x4.mul (local.get $av) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (local.get $h)))))
    (v128.store offset=16 align=4 (local.get $dst)
      (f32x4.mul (local.get $av) (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (local.get $h)))))
    (local.set $h (i16x8.extend_high_i8x16_s (local.get $q)))               ;; lanes 8..15
    (v128.store offset=32 align=4 (local.get $dst)
      (f32x4.mul (local.get $av) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (local.get $h)))))
    (v128.store offset=48 align=4 (local.get $dst)
      (f32x4.mul (local.get $av) (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (local.get $h))))))

  ;; $put16_add: dst[i] = a * q[i] + b, the product rounded before the sum (Q4_1, Q5_1: d * q + m).
  (func $put16_add (param $dst i32) (param $q v128) (param $a f32) (param $b f32)
    (local $av v128) (local $bv v128) (local $h v128)
    (local.set $av (f32x4.splat (local.get $a)))
    (local.set $bv (f32x4.splat (local.get $b)))
    (local.set $h (i16x8.extend_low_i8x16_s (local.get $q)))
    (v128.store offset=0 align=4 (local.get $dst)
      (f32x4.add (f32x4.mul (local.get $av) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (local.get $h))))
                 (local.get $bv)))
    (v128.store offset=16 align=4 (local.get $dst)
      (f32x4.add (f32x4.mul (local.get $av) (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (local.get $h))))
                 (local.get $bv)))
    (local.set $h (i16x8.extend_high_i8x16_s (local.get $q)))
    (v128.store offset=32 align=4 (local.get $dst)
      (f32x4.add (f32x4.mul (local.get $av) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (local.get $h))))
                 (local.get $bv)))
    (v128.store offset=48 align=4 (local.get $dst)
      (f32x4.add (f32x4.mul (local.get $av) (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (local.get $h))))
                 (local.get $bv))))

  ;; $put16_sub: dst[i] = a * q[i] - b, the product rounded before the difference (Q2_K, Q4_K, Q5_K:
  ;; (d * sc) * q - dmin * m). Not $put16_add with -b: the two differ when b is a NaN (its sign).
  (func $put16_sub (param $dst i32) (param $q v128) (param $a f32) (param $b f32)
    (local $av v128) (local $bv v128) (local $h v128)
    (local.set $av (f32x4.splat (local.get $a)))
    (local.set $bv (f32x4.splat (local.get $b)))
    (local.set $h (i16x8.extend_low_i8x16_s (local.get $q)))
    (v128.store offset=0 align=4 (local.get $dst)
      (f32x4.sub (f32x4.mul (local.get $av) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (local.get $h))))
                 (local.get $bv)))
    (v128.store offset=16 align=4 (local.get $dst)
      (f32x4.sub (f32x4.mul (local.get $av) (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (local.get $h))))
                 (local.get $bv)))
    (local.set $h (i16x8.extend_high_i8x16_s (local.get $q)))
    (v128.store offset=32 align=4 (local.get $dst)
      (f32x4.sub (f32x4.mul (local.get $av) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (local.get $h))))
                 (local.get $bv)))
    (v128.store offset=48 align=4 (local.get $dst)
      (f32x4.sub (f32x4.mul (local.get $av) (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (local.get $h))))
                 (local.get $bv))))

  ;; $qh16: bit 4 of 16 Q5_0/Q5_1 codes from 16 bits of their qh: lane i becomes 16 where bit i
  ;; of bits is set, else 0 (bits' low byte spread over lanes 0..7, its high byte over 8..15).
  (func $qh16 (param $bits i32) (result v128)
    (local $b v128)
    (local.set $b (i16x8.splat (local.get $bits)))
    (local.set $b (i8x16.shuffle 0 0 0 0 0 0 0 0 1 1 1 1 1 1 1 1 (local.get $b) (local.get $b)))
    (v128.and (i8x16.eq (v128.and (local.get $b) (v128.const i8x16 1 2 4 8 16 32 64 0x80 1 2 4 8 16 32 64 0x80))
                        (v128.const i8x16 1 2 4 8 16 32 64 0x80 1 2 4 8 16 32 64 0x80))
              (v128.const i8x16 16 16 16 16 16 16 16 16 16 16 16 16 16 16 16 16)))

  ;; Q8_0, 34 bytes: f16 d | i8 q[32]; x = q * d.
  (func $dq_q8_0 (export "webinfer_dq_q8_0") (param $src i32) (param $dst i32) (param $nb i32)
    (local $d f32)
    (loop $blocks
      (local.set $d (call $f16 (i32.load16_u align=1 (local.get $src))))
      (call $put16 (local.get $dst) (v128.load offset=2 align=1 (local.get $src)) (local.get $d))
      (call $put16 (i32.add (local.get $dst) (i32.const 64)) (v128.load offset=18 align=1 (local.get $src)) (local.get $d))
      (local.set $src (i32.add (local.get $src) (i32.const 34)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 128)))
      (br_if $blocks (local.tee $nb (i32.sub (local.get $nb) (i32.const 1))))))

  ;; Q4_0, 18 bytes: f16 d | u8 qs[16], element j in the low nibble of qs[j], j + 16 in the high one;
  ;; x = d * (q - 8).
  (func $dq_q4_0 (export "webinfer_dq_q4_0") (param $src i32) (param $dst i32) (param $nb i32)
    (local $d f32) (local $v v128)
    (loop $blocks
      (local.set $d (call $f16 (i32.load16_u align=1 (local.get $src))))
      (local.set $v (v128.load offset=2 align=1 (local.get $src)))
      (call $put16 (local.get $dst)
                   (i8x16.sub (v128.and (local.get $v) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
                              (v128.const i8x16 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8))
                   (local.get $d))
      (call $put16 (i32.add (local.get $dst) (i32.const 64))
                   (i8x16.sub (i8x16.shr_u (local.get $v) (i32.const 4))
                              (v128.const i8x16 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8))
                   (local.get $d))
      (local.set $src (i32.add (local.get $src) (i32.const 18)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 128)))
      (br_if $blocks (local.tee $nb (i32.sub (local.get $nb) (i32.const 1))))))

  ;; Q4_1, 20 bytes: f16 d | f16 m | u8 qs[16] (nibbles as Q4_0); x = d * q + m.
  (func $dq_q4_1 (export "webinfer_dq_q4_1") (param $src i32) (param $dst i32) (param $nb i32)
    (local $d f32) (local $m f32) (local $v v128)
    (loop $blocks
      (local.set $d (call $f16 (i32.load16_u align=1 (local.get $src))))
      (local.set $m (call $f16 (i32.load16_u offset=2 align=1 (local.get $src))))
      (local.set $v (v128.load offset=4 align=1 (local.get $src)))
      (call $put16_add (local.get $dst)
                       (v128.and (local.get $v) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
                       (local.get $d) (local.get $m))
      (call $put16_add (i32.add (local.get $dst) (i32.const 64)) (i8x16.shr_u (local.get $v) (i32.const 4))
                       (local.get $d) (local.get $m))
      (local.set $src (i32.add (local.get $src) (i32.const 20)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 128)))
      (br_if $blocks (local.tee $nb (i32.sub (local.get $nb) (i32.const 1))))))

  ;; Q5_0, 22 bytes: f16 d | u32 qh | u8 qs[16]; q = nibble (as Q4_0) | bit j of qh << 4;
  ;; x = (q - 16) * d.
  (func $dq_q5_0 (export "webinfer_dq_q5_0") (param $src i32) (param $dst i32) (param $nb i32)
    (local $d f32) (local $v v128)
    (loop $blocks
      (local.set $d (call $f16 (i32.load16_u align=1 (local.get $src))))
      (local.set $v (v128.load offset=6 align=1 (local.get $src)))
      (call $put16 (local.get $dst)
                   (i8x16.sub (v128.or (v128.and (local.get $v) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
                                       (call $qh16 (i32.load16_u offset=2 align=1 (local.get $src))))
                              (v128.const i8x16 16 16 16 16 16 16 16 16 16 16 16 16 16 16 16 16))
                   (local.get $d))
      (call $put16 (i32.add (local.get $dst) (i32.const 64))
                   (i8x16.sub (v128.or (i8x16.shr_u (local.get $v) (i32.const 4))
                                       (call $qh16 (i32.load16_u offset=4 align=1 (local.get $src))))
                              (v128.const i8x16 16 16 16 16 16 16 16 16 16 16 16 16 16 16 16 16))
                   (local.get $d))
      (local.set $src (i32.add (local.get $src) (i32.const 22)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 128)))
      (br_if $blocks (local.tee $nb (i32.sub (local.get $nb) (i32.const 1))))))

  ;; Q5_1, 24 bytes: f16 d | f16 m | u32 qh | u8 qs[16]; q as Q5_0; x = d * q + m.
  (func $dq_q5_1 (export "webinfer_dq_q5_1") (param $src i32) (param $dst i32) (param $nb i32)
    (local $d f32) (local $m f32) (local $v v128)
    (loop $blocks
      (local.set $d (call $f16 (i32.load16_u align=1 (local.get $src))))
      (local.set $m (call $f16 (i32.load16_u offset=2 align=1 (local.get $src))))
      (local.set $v (v128.load offset=8 align=1 (local.get $src)))
      (call $put16_add (local.get $dst)
                       (v128.or (v128.and (local.get $v) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
                                (call $qh16 (i32.load16_u offset=4 align=1 (local.get $src))))
                       (local.get $d) (local.get $m))
      (call $put16_add (i32.add (local.get $dst) (i32.const 64))
                       (v128.or (i8x16.shr_u (local.get $v) (i32.const 4))
                                (call $qh16 (i32.load16_u offset=6 align=1 (local.get $src))))
                       (local.get $d) (local.get $m))
      (local.set $src (i32.add (local.get $src) (i32.const 24)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 128)))
      (br_if $blocks (local.tee $nb (i32.sub (local.get $nb) (i32.const 1))))))

  ;; The K-quants: super-blocks of 256 values. Q2_K, Q3_K and Q6_K go by sub-blocks s of 16 values,
  ;; elements 128 h + 32 k + 16 c + i with s = 8 h + 2 k + c (h the half, k the 2-bit crumb or the
  ;; nibble pair, c which 16 of a 32-byte run, i = 0..15): such a sub-block's codes sit in 16
  ;; consecutive bytes and its output at dst + 64 s. Q4_K and Q5_K go by sub-blocks of 32.

  ;; Q6_K, 210 bytes: u8 ql[128] | u8 qh[64] | i8 scales[16] | f16 d; q = nibble k >> 1 of
  ;; ql[64 h + 32 (k & 1) + 16 c + i] | crumb k of qh[32 h + 16 c + i] << 4; x = (d * scales[s]) * (q - 32).
  (func $dq_q6_k (export "webinfer_dq_q6_k") (param $src i32) (param $dst i32) (param $nb i32)
    (local $d f32) (local $s i32) (local $k i32) (local $run i32) (local $ql v128) (local $qh v128)
    (loop $blocks
      (local.set $d (call $f16 (i32.load16_u offset=208 align=1 (local.get $src))))
      (local.set $s (i32.const 0))
      (loop $sub_blocks                                                     ;; for s in 0 .. 16
        (local.set $k (i32.and (i32.shr_u (local.get $s) (i32.const 1)) (i32.const 3)))
        ;; run = src + 32 h + 16 c: qh's 16 bytes are at run + 128, ql's at run + 32 h + 32 (k & 1)
        (local.set $run (i32.add (local.get $src)
                                 (i32.add (i32.shl (i32.shr_u (local.get $s) (i32.const 3)) (i32.const 5))
                                          (i32.shl (i32.and (local.get $s) (i32.const 1)) (i32.const 4)))))
        (local.set $qh (v128.load offset=128 align=1 (local.get $run)))
        (local.set $ql (v128.load align=1
          (i32.add (i32.add (local.get $run) (i32.shl (i32.shr_u (local.get $s) (i32.const 3)) (i32.const 5)))
                   (i32.shl (i32.and (local.get $k) (i32.const 1)) (i32.const 5)))))
        ;; q = (ql >> 4 (k >> 1)) & 15 | ((qh >> 2 k) & 3) << 4, then - 32
        (local.set $ql (v128.and (i8x16.shr_u (local.get $ql) (i32.shl (i32.shr_u (local.get $k) (i32.const 1)) (i32.const 2)))
                                 (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15)))
        (local.set $qh (v128.and (i8x16.shr_u (local.get $qh) (i32.shl (local.get $k) (i32.const 1)))
                                 (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3)))
        (call $put16 (i32.add (local.get $dst) (i32.shl (local.get $s) (i32.const 6)))
                     (i8x16.sub (v128.or (local.get $ql) (i8x16.shl (local.get $qh) (i32.const 4)))
                                (v128.const i8x16 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32))
                     (f32.mul (local.get $d)
                              (f32.convert_i32_s (i32.load8_s offset=192 (i32.add (local.get $src) (local.get $s))))))
        (br_if $sub_blocks (i32.lt_u (local.tee $s (i32.add (local.get $s) (i32.const 1))) (i32.const 16))))
      (local.set $src (i32.add (local.get $src) (i32.const 210)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 1024)))
      (br_if $blocks (local.tee $nb (i32.sub (local.get $nb) (i32.const 1))))))

  ;; Q2_K, 84 bytes: u8 scales[16] | u8 qs[64] | f16 d | f16 dmin; q = crumb k of qs[32 h + 16 c + i];
  ;; x = (d * (scales[s] & 15)) * q - dmin * (scales[s] >> 4).
  (func $dq_q2_k (export "webinfer_dq_q2_k") (param $src i32) (param $dst i32) (param $nb i32)
    (local $d f32) (local $dmin f32) (local $s i32) (local $sc i32) (local $run i32)
    (loop $blocks
      (local.set $d (call $f16 (i32.load16_u offset=80 align=1 (local.get $src))))
      (local.set $dmin (call $f16 (i32.load16_u offset=82 align=1 (local.get $src))))
      (local.set $s (i32.const 0))
      (loop $sub_blocks                                                     ;; for s in 0 .. 16
        (local.set $sc (i32.load8_u (i32.add (local.get $src) (local.get $s))))
        ;; run = src + 32 h + 16 c: the sub-block's 16 bytes of qs are at run + 16
        (local.set $run (i32.add (local.get $src)
                                 (i32.add (i32.shl (i32.shr_u (local.get $s) (i32.const 3)) (i32.const 5))
                                          (i32.shl (i32.and (local.get $s) (i32.const 1)) (i32.const 4)))))
        (call $put16_sub (i32.add (local.get $dst) (i32.shl (local.get $s) (i32.const 6)))
          (v128.and (i8x16.shr_u (v128.load offset=16 align=1 (local.get $run))
                                 (i32.shl (i32.and (i32.shr_u (local.get $s) (i32.const 1)) (i32.const 3)) (i32.const 1)))
                    (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3))
          (f32.mul (local.get $d) (f32.convert_i32_u (i32.and (local.get $sc) (i32.const 15))))
          (f32.mul (local.get $dmin) (f32.convert_i32_u (i32.shr_u (local.get $sc) (i32.const 4)))))
        (br_if $sub_blocks (i32.lt_u (local.tee $s (i32.add (local.get $s) (i32.const 1))) (i32.const 16))))
      (local.set $src (i32.add (local.get $src) (i32.const 84)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 1024)))
      (br_if $blocks (local.tee $nb (i32.sub (local.get $nb) (i32.const 1))))))

  ;; Q3_K, 110 bytes: u8 hmask[32] | u8 qs[64] | u8 scales[12] | f16 d; q = (crumb k of qs[32 h + 16 c + i]
  ;; | bit 4 h + k of hmask[16 c + i] << 2) - 4; the 6-bit scale of s has its low 4 bits from nibble
  ;; s >> 3 of scales[s & 7] and its top 2 from crumb s >> 2 of scales[8 + (s & 3)];
  ;; x = (d * (sc - 32)) * q.
  (func $dq_q3_k (export "webinfer_dq_q3_k") (param $src i32) (param $dst i32) (param $nb i32)
    (local $d f32) (local $s i32) (local $k i32) (local $h i32) (local $sc i32) (local $run i32)
    (loop $blocks
      (local.set $d (call $f16 (i32.load16_u offset=108 align=1 (local.get $src))))
      (local.set $s (i32.const 0))
      (loop $sub_blocks                                                     ;; for s in 0 .. 16
        (local.set $k (i32.and (i32.shr_u (local.get $s) (i32.const 1)) (i32.const 3)))
        (local.set $h (i32.shr_u (local.get $s) (i32.const 3)))
        ;; sc = (scales[s & 7] >> 4 h) & 15 | ((scales[8 + (s & 3)] >> 2 (s >> 2)) & 3) << 4
        (local.set $sc (i32.load8_u offset=96 (i32.add (local.get $src) (i32.and (local.get $s) (i32.const 7)))))
        (local.set $sc (i32.and (i32.shr_u (local.get $sc) (i32.shl (local.get $h) (i32.const 2))) (i32.const 15)))
        (local.set $sc (i32.or (local.get $sc)
          (i32.shl (i32.and (i32.shr_u (i32.load8_u offset=104 (i32.add (local.get $src) (i32.and (local.get $s) (i32.const 3))))
                                       (i32.shl (i32.shr_u (local.get $s) (i32.const 2)) (i32.const 1)))
                            (i32.const 3))
                   (i32.const 4))))
        ;; run = src + 16 c: hmask's 16 bytes are at run, qs's at run + 32 + 32 h
        (local.set $run (i32.add (local.get $src) (i32.shl (i32.and (local.get $s) (i32.const 1)) (i32.const 4))))
        (call $put16 (i32.add (local.get $dst) (i32.shl (local.get $s) (i32.const 6)))
          (i8x16.sub
            (v128.or (v128.and (i8x16.shr_u (v128.load offset=32 align=1
                                              (i32.add (local.get $run) (i32.shl (local.get $h) (i32.const 5))))
                                            (i32.shl (local.get $k) (i32.const 1)))
                               (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3))
                     (i8x16.shl (v128.and (i8x16.shr_u (v128.load align=1 (local.get $run))
                                                       (i32.add (i32.shl (local.get $h) (i32.const 2)) (local.get $k)))
                                          (v128.const i8x16 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1))
                                (i32.const 2)))
            (v128.const i8x16 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4))
          (f32.mul (local.get $d) (f32.sub (f32.convert_i32_u (local.get $sc)) (f32.const 32))))
        (br_if $sub_blocks (i32.lt_u (local.tee $s (i32.add (local.get $s) (i32.const 1))) (i32.const 16))))
      (local.set $src (i32.add (local.get $src) (i32.const 110)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 1024)))
      (br_if $blocks (local.tee $nb (i32.sub (local.get $nb) (i32.const 1))))))

  ;; $dq_k45: Q4_K (qs at 16, size 144, no qh) and Q5_K (qh at 16, qs at 48, size 176), both
  ;; f16 d | f16 dmin | u8 scales[12] | ...; by sub-blocks s of 32 values: q = nibble s & 1 of the 32
  ;; bytes qs[32 (s >> 1) ..] (| bit s of qh[0..32] << 4 for Q5_K); sc and m as ggml's
  ;; get_scale_min_k4; x = (d * sc) * q - dmin * m.
  (func $dq_k45 (param $src i32) (param $dst i32) (param $nb i32) (param $qs i32) (param $size i32) (param $has_qh i32)
    (local $d f32) (local $dmin f32) (local $s i32) (local $sc i32) (local $m i32) (local $p i32) (local $sh i32)
    (local $d1 f32) (local $m1 f32) (local $lo v128) (local $hi v128)
    (loop $blocks
      (local.set $d (call $f16 (i32.load16_u offset=0 align=1 (local.get $src))))
      (local.set $dmin (call $f16 (i32.load16_u offset=2 align=1 (local.get $src))))
      (local.set $s (i32.const 0))
      (loop $sub_blocks                                                     ;; for s in 0 .. 8
        ;; p = src + s: scales[j] is byte 4 + j of the block
        (local.set $p (i32.add (local.get $src) (local.get $s)))
        (if (i32.lt_u (local.get $s) (i32.const 4))
          (then                                                             ;; sc = scales[s] & 63, m = scales[s + 4] & 63
            (local.set $sc (i32.and (i32.load8_u offset=4 (local.get $p)) (i32.const 63)))
            (local.set $m (i32.and (i32.load8_u offset=8 (local.get $p)) (i32.const 63))))
          (else     ;; sc = scales[s + 4] & 15 | (scales[s - 4] >> 6) << 4, m = scales[s + 4] >> 4 | (scales[s] >> 6) << 4
            (local.set $sc (i32.or (i32.and (i32.load8_u offset=8 (local.get $p)) (i32.const 15))
                                   (i32.shl (i32.shr_u (i32.load8_u offset=0 (local.get $p)) (i32.const 6)) (i32.const 4))))
            (local.set $m (i32.or (i32.shr_u (i32.load8_u offset=8 (local.get $p)) (i32.const 4))
                                  (i32.shl (i32.shr_u (i32.load8_u offset=4 (local.get $p)) (i32.const 6)) (i32.const 4))))))
        (local.set $d1 (f32.mul (local.get $d) (f32.convert_i32_u (local.get $sc))))
        (local.set $m1 (f32.mul (local.get $dmin) (f32.convert_i32_u (local.get $m))))
        (local.set $p (i32.add (i32.add (local.get $src) (local.get $qs))
                               (i32.shl (i32.shr_u (local.get $s) (i32.const 1)) (i32.const 5))))
        (local.set $sh (i32.shl (i32.and (local.get $s) (i32.const 1)) (i32.const 2)))
        (local.set $lo (v128.and (i8x16.shr_u (v128.load offset=0 align=1 (local.get $p)) (local.get $sh))
                                 (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15)))
        (local.set $hi (v128.and (i8x16.shr_u (v128.load offset=16 align=1 (local.get $p)) (local.get $sh))
                                 (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15)))
        (if (local.get $has_qh)                                             ;; Q5_K: bit s of qh[l] is bit 4 of code l
          (then
            (local.set $lo (v128.or (local.get $lo)
              (i8x16.shl (v128.and (i8x16.shr_u (v128.load offset=16 align=1 (local.get $src)) (local.get $s))
                                   (v128.const i8x16 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1))
                         (i32.const 4))))
            (local.set $hi (v128.or (local.get $hi)
              (i8x16.shl (v128.and (i8x16.shr_u (v128.load offset=32 align=1 (local.get $src)) (local.get $s))
                                   (v128.const i8x16 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1))
                         (i32.const 4))))))
        (local.set $p (i32.add (local.get $dst) (i32.shl (local.get $s) (i32.const 7))))
        (call $put16_sub (local.get $p) (local.get $lo) (local.get $d1) (local.get $m1))
        (call $put16_sub (i32.add (local.get $p) (i32.const 64)) (local.get $hi) (local.get $d1) (local.get $m1))
        (br_if $sub_blocks (i32.lt_u (local.tee $s (i32.add (local.get $s) (i32.const 1))) (i32.const 8))))
      (local.set $src (i32.add (local.get $src) (local.get $size)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 1024)))
      (br_if $blocks (local.tee $nb (i32.sub (local.get $nb) (i32.const 1))))))

  (func $dq_q4_k (export "webinfer_dq_q4_k") (param $src i32) (param $dst i32) (param $nb i32)
    (call $dq_k45 (local.get $src) (local.get $dst) (local.get $nb) (i32.const 16) (i32.const 144) (i32.const 0)))

  (func $dq_q5_k (export "webinfer_dq_q5_k") (param $src i32) (param $dst i32) (param $nb i32)
    (call $dq_k45 (local.get $src) (local.get $dst) (local.get $nb) (i32.const 48) (i32.const 176) (i32.const 1)))

  ;; IQ4_NL, 18 bytes: f16 d | u8 qs[16] (nibbles as Q4_0); x = d * kvalues[q], the 16 levels of
  ;; ggml's kvalues_iq4nl looked up by a byte swizzle.
  (func $dq_iq4_nl (export "webinfer_dq_iq4_nl") (param $src i32) (param $dst i32) (param $nb i32)
    (local $d f32) (local $v v128)
    (loop $blocks
      (local.set $d (call $f16 (i32.load16_u align=1 (local.get $src))))
      (local.set $v (v128.load offset=2 align=1 (local.get $src)))
      (call $put16 (local.get $dst)
                   (i8x16.swizzle (v128.const i8x16 -127 -104 -83 -65 -49 -35 -22 -10 1 13 25 38 53 69 89 113)
                                  (v128.and (local.get $v) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15)))
                   (local.get $d))
      (call $put16 (i32.add (local.get $dst) (i32.const 64))
                   (i8x16.swizzle (v128.const i8x16 -127 -104 -83 -65 -49 -35 -22 -10 1 13 25 38 53 69 89 113)
                                  (i8x16.shr_u (local.get $v) (i32.const 4)))
                   (local.get $d))
      (local.set $src (i32.add (local.get $src) (i32.const 18)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 128)))
      (br_if $blocks (local.tee $nb (i32.sub (local.get $nb) (i32.const 1))))))

  ;; IQ4_XS, 136 bytes: f16 d | u16 scales_h | u8 scales_l[4] | u8 qs[128]; sub-block s of 32 has
  ;; its codes in qs[16 s ..] (nibbles as Q4_0) and the 6-bit scale ls = nibble s & 1 of
  ;; scales_l[s >> 1] | crumb s of scales_h << 4; x = (d * (ls - 32)) * kvalues[q].
  (func $dq_iq4_xs (export "webinfer_dq_iq4_xs") (param $src i32) (param $dst i32) (param $nb i32)
    (local $d f32) (local $dl f32) (local $s i32) (local $ls i32) (local $p i32) (local $v v128)
    (loop $blocks
      (local.set $d (call $f16 (i32.load16_u align=1 (local.get $src))))
      (local.set $s (i32.const 0))
      (loop $sub_blocks                                                     ;; for s in 0 .. 8
        ;; ls = (scales_l[s >> 1] >> 4 (s & 1)) & 15 | ((scales_h >> 2 s) & 3) << 4
        (local.set $ls (i32.and (i32.shr_u (i32.load8_u offset=4 (i32.add (local.get $src) (i32.shr_u (local.get $s) (i32.const 1))))
                                           (i32.shl (i32.and (local.get $s) (i32.const 1)) (i32.const 2)))
                                (i32.const 15)))
        (local.set $ls (i32.or (local.get $ls)
                               (i32.shl (i32.and (i32.shr_u (i32.load16_u offset=2 align=1 (local.get $src))
                                                            (i32.shl (local.get $s) (i32.const 1)))
                                                 (i32.const 3))
                                        (i32.const 4))))
        (local.set $dl (f32.mul (local.get $d) (f32.sub (f32.convert_i32_u (local.get $ls)) (f32.const 32))))
        (local.set $v (v128.load offset=8 align=1 (i32.add (local.get $src) (i32.shl (local.get $s) (i32.const 4)))))
        (local.set $p (i32.add (local.get $dst) (i32.shl (local.get $s) (i32.const 7))))
        (call $put16 (local.get $p)
                     (i8x16.swizzle (v128.const i8x16 -127 -104 -83 -65 -49 -35 -22 -10 1 13 25 38 53 69 89 113)
                                    (v128.and (local.get $v) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15)))
                     (local.get $dl))
        (call $put16 (i32.add (local.get $p) (i32.const 64))
                     (i8x16.swizzle (v128.const i8x16 -127 -104 -83 -65 -49 -35 -22 -10 1 13 25 38 53 69 89 113)
                                    (i8x16.shr_u (local.get $v) (i32.const 4)))
                     (local.get $dl))
        (br_if $sub_blocks (i32.lt_u (local.tee $s (i32.add (local.get $s) (i32.const 1))) (i32.const 8))))
      (local.set $src (i32.add (local.get $src) (i32.const 136)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 1024)))
      (br_if $blocks (local.tee $nb (i32.sub (local.get $nb) (i32.const 1))))))

  ;; F16 (nb values, nb >= 0): eight at a time through $f16x4, then the rest one by one.
  (func $dq_f16 (export "webinfer_dq_f16") (param $src i32) (param $dst i32) (param $nb i32)
    (local $end i32) (local $h v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $nb) (i32.const -8)) (i32.const 1))))
    (if (i32.lt_u (local.get $src) (local.get $end))
      (then
        (loop $by8
          (local.set $h (v128.load align=1 (local.get $src)))
          (v128.store offset=0 align=4 (local.get $dst) (call $f16x4 (i32x4.extend_low_i16x8_u (local.get $h))))
          (v128.store offset=16 align=4 (local.get $dst) (call $f16x4 (i32x4.extend_high_i16x8_u (local.get $h))))
          (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
          (br_if $by8 (i32.lt_u (local.tee $src (i32.add (local.get $src) (i32.const 16))) (local.get $end))))))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $nb) (i32.const 7)) (i32.const 1))))
    (block $done
      (loop $by1
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (f32.store align=4 (local.get $dst) (call $f16 (i32.load16_u align=1 (local.get $src))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
        (local.set $src (i32.add (local.get $src) (i32.const 2)))
        (br $by1))))

  ;; BF16 (nb values, nb >= 0): the 16 bits become the top half of the f32, eight at a time, then
  ;; the rest one by one.
  (func $dq_bf16 (export "webinfer_dq_bf16") (param $src i32) (param $dst i32) (param $nb i32)
    (local $end i32) (local $h v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $nb) (i32.const -8)) (i32.const 1))))
    (if (i32.lt_u (local.get $src) (local.get $end))
      (then
        (loop $by8
          (local.set $h (v128.load align=1 (local.get $src)))
          (v128.store offset=0 align=4 (local.get $dst) (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $h)) (i32.const 16)))
          (v128.store offset=16 align=4 (local.get $dst) (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $h)) (i32.const 16)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
          (br_if $by8 (i32.lt_u (local.tee $src (i32.add (local.get $src) (i32.const 16))) (local.get $end))))))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $nb) (i32.const 7)) (i32.const 1))))
    (block $done
      (loop $by1
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (i32.store align=4 (local.get $dst) (i32.shl (i32.load16_u align=1 (local.get $src)) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
        (local.set $src (i32.add (local.get $src) (i32.const 2)))
        (br $by1)))))
