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
      (br_if $items (local.tee $nb (i32.sub (local.get $nb) (i32.const 1)))))))
