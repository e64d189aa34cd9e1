"""The NumPy device's WebAssembly SIMD kernels, assembled from Python into one side module.

What it is: the bytes of a small wasm module (dylink.0, memory imported from Pyodide, no data, no
table) and the calling convention of each exported kernel; blas.py loads it into Pyodide's own
memory and calls the kernels on numpy buffers in place. What it is not: the loader, the fallbacks or
the choice of kernel (blas.py), nor the model's ops (numpy_device.py).

Every kernel is float32, C-contiguous rows, byte addresses in the wasm heap, i32 arguments (but
rms_norm's last two):

  mm(w, x, y, rows, cols, ntok)        y[n, r] = sum_j w[r, j] * x[n, j]   (x @ w.T)
      rows % 4 == 0, cols % 4 == 0, ntok % 2 == 0, all > 0.
  mv(w, x, y, rows, cols)              the same for one token; cols % 16 == 0.
  mmn(w, x, y, k, cols, ntok, ldx)     y[n, c] = sum_{j<k} x[n*ldx + j] * w[j, c]   (x @ w, w (k, cols))
      cols % 16 == 0, ntok % 2 == 0, k > 0; x rows are ldx floats apart.
  softmax(s, rows, ld, lim0, g)        in place over rows of ld floats (ld % 4 == 0): row r keeps its
      first L = min(lim0 + r // g, ld) entries as softmax(s[r, :L]) and zeroes the rest (causal
      attention: g query rows share a token, token i sees lim0 + i keys).
  swiglu(gu, y, n, d_ff)               y[r, j] = silu(gu[r, j]) * gu[r, d_ff + j] for n rows of 2 * d_ff
      floats (SwiGLU of a fused gate|up product); d_ff % 4 == 0, n > 0.
  rms_norm(x, w, y, n, d, inv_d, eps)  y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w for n rows of d floats
      (inv_d = 1/d and eps are f32 arguments); d % 4 == 0, n > 0.
  rope(x, y, c, s, n, nh, hd, ldx, ldyt, ldyh)   RoPE of n tokens x nh heads: head h of token i at
      x + i*ldx + h*hd*4 (bytes), rotated into y + i*ldyt + h*ldyh, with tables c, s (hd floats a
      token, numpy_device._rope_full's): y = x * c + partner(x) * s, partner swapping the two
      elements of each adjacent pair; rope_neox the same with pairs half a head apart. hd % 8 == 0.
  mm_b, mmn_b, softmax_b               the same over a batch: the inner arguments, then nb >= 1 and
      a byte stride for each pointer (w, x, y; or s) between batch items.

mm, several tokens (prefill). Compute-bound: blocks of 4 rows x 2 tokens, 8 accumulators, so each w
load feeds 2 tokens, each x load 4 rows, and 8 fadd chains run side by side; every token pair runs
against the 4-row block while it sits in cache. 4 rows x 1 token waits on its 4 fadd chains: 1.3x
slower; 8x1, 4x3, 4x4, 2x4, 2x6 need more than 11 v128 locals, which V8 spills: 1.3-1.9x slower.
mv, one token (decode). Memory-bound: one weight row after another (16 floats a step, 4
accumulators), so the matrix is read as ONE sequential stream, which the hardware prefetcher
follows: 31-34 GB/s against 13-18 for kernels reading 2-8 rows side by side.
mmn (probabilities @ V in attention): blocks of 2 rows x 16 columns, 8 accumulators, x broadcast
one float at a time; the same 11 v128 locals as mm.
softmax: three passes over a row (masked max; exp, mask, sum; scale by 1/sum). exp is Cephes'
expf (Cody-Waite reduction by ln 2, degree-6 polynomial, 2^n put in the exponent bits), inputs
clamped to [-87, 88] so 2^n stays a normal float: within 0.98 ulp of float64 exp on [-87, 88]
(NumPy's: 0.5), against NumPy's ~12 ns a value in Pyodide.
Fused builds (wasm_module(fused=True)): mm and mmn multiply-add with relaxed SIMD's
f32x4.relaxed_madd, one FMA instruction where the CPU has it instead of a mul and an add: fewer
instructions in a loop the front end limits; mm on 146 x 3072 x 576, best of 20 under Node with
relaxed SIMD switched on: 19.6 -> 24.1 GMAC/s. mv (memory-bound) and the rest stay plain.
"""

from __future__ import annotations

import struct


def _leb(n: int, signed: bool = False) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        done = (n == 0 and not (signed and b & 0x40)) or (signed and n == -1 and b & 0x40)
        out.append(b if done else b | 0x80)
        if done:
            return bytes(out)


def _vec(items) -> bytes:
    return _leb(len(items)) + b"".join(items)


def _name(s: str) -> bytes:
    return _leb(len(s)) + s.encode()


# The few instructions the kernels use (locals by index; "4" = f32x4 or i32x4).
def _get(i: int) -> bytes:
    return bytes([0x20, i])


def _set(i: int) -> bytes:
    return bytes([0x21, i])


def _tee(i: int) -> bytes:
    return bytes([0x22, i])


def _const(n: int) -> bytes:
    return b"\x41" + _leb(n, True)


def _simd(op: int) -> bytes:
    return b"\xfd" + _leb(op)


def _vload(offset: int = 0) -> bytes:
    return _simd(0x00) + b"\x02" + _leb(offset)                  # v128.load align 4, offset


def _vstore(offset: int = 0) -> bytes:
    return _simd(0x0B) + b"\x02" + _leb(offset)                  # v128.store align 4, offset


def _splat_load() -> bytes:
    return _simd(0x09) + b"\x02\x00"                             # v128.load32_splat


def _f4(*v: float) -> bytes:                                     # v128.const of 4 floats (1 = splat)
    return _simd(0x0C) + struct.pack("<4f", *(v * 4 if len(v) == 1 else v))


def _i4(*v: int) -> bytes:                                       # v128.const of 4 i32
    return _simd(0x0C) + struct.pack("<4i", *(v * 4 if len(v) == 1 else v))


def _lane(a: int, i: int) -> bytes:
    return _get(a) + _simd(0x1F) + bytes([i])                    # f32x4.extract_lane


def _hsum(a: int) -> bytes:
    return _lane(a, 0) + _lane(a, 1) + _FADD + _lane(a, 2) + _FADD + _lane(a, 3) + _FADD


def _hmax(a: int) -> bytes:
    return _lane(a, 0) + _lane(a, 1) + _FMAX + _lane(a, 2) + _FMAX + _lane(a, 3) + _FMAX


_ADD, _SUB, _MUL, _DIVU, _SHL, _SHR_U = b"\x6a", b"\x6b", b"\x6c", b"\x6e", b"\x74", b"\x76"
_LT_U, _GT_U, _SELECT = b"\x49", b"\x4b", b"\x1b"
_FSQRT, _FADD, _FMUL, _FDIV, _FMAX = b"\x91", b"\x92", b"\x94", b"\x95", b"\x97"
_F32_1 = b"\x43" + struct.pack("<f", 1.0)                       # f32.const 1
_VZERO = _simd(0x0C) + bytes(16)
_FADD4, _FSUB4, _FMUL4, _FDIV4 = _simd(0xE4), _simd(0xE5), _simd(0xE6), _simd(0xE7)
_FNEG4, _FPMIN4, _FPMAX4 = _simd(0xE1), _simd(0xEA), _simd(0xEB)
_F32SPLAT, _I32SPLAT, _I32ADD4, _I32SHL4, _I32LT4 = _simd(0x13), _simd(0x11), _simd(0xAE), _simd(0xAB), _simd(0x39)
_NEAREST4, _TRUNC_SAT4, _AND, _BITSELECT = _simd(0x6A), _simd(0xF8), _simd(0x4E), _simd(0x52)
_SHUFFLE, _RELAXED_MADD = _simd(0x0D), _simd(0x105)              # i8x16.shuffle (16 lane bytes follow)
_LOOP, _END, _BR_IF0 = b"\x03\x40", b"\x0b", b"\x0d\x00"
_STORE = b"\x38\x02"                                              # f32.store align 4, then offset


def _madd(acc: int, a: int, b: int, fused: bool) -> bytes:
    """local acc += a * b: f32x4.mul then add, or one f32x4.relaxed_madd (fused where the CPU has FMA)."""
    if fused:
        return _get(a) + _get(b) + _get(acc) + _RELAXED_MADD + _set(acc)
    return _get(acc) + _get(a) + _get(b) + _FMUL4 + _FADD4 + _set(acc)


def _locals(i32: int, v128: int) -> bytes:
    return _vec([_leb(i32) + b"\x7f", _leb(v128) + b"\x7b"])


def _mm_body(fused: bool = False) -> bytes:
    """Blocks of 4 weight rows x 2 tokens: each w load feeds 2 tokens, each x load 4 rows (8
    independent accumulators); every token pair runs against the 4-row block while it sits in cache."""
    W, X, Y, ROWS, COLS, NT, R, N, Q, PX, END, RB = range(12)   # 6 params, 6 i32 locals
    ACC = ((12, 13), (14, 15), (16, 17), (18, 19))               # acc[k][t]: row r + k, token n + t
    XV, WV = (20, 21), 22                                        # 11 v128 locals (more spill in V8)
    b = _get(COLS) + _const(2) + _SHL + _set(RB)                 # rb = row bytes
    b += _const(0) + _set(R) + _LOOP                             # for r in 0, 4, .. rows
    b += _const(0) + _set(N) + _LOOP                             # for n in 0, 2, .. ntok
    b += b"".join(_VZERO + _set(a) for pair in ACC for a in pair)
    b += _get(W) + _get(R) + _get(RB) + _MUL + _ADD + _tee(Q) + _get(RB) + _ADD + _set(END)
    b += _get(X) + _get(N) + _get(RB) + _MUL + _ADD + _set(PX)
    b += _LOOP                                                   # for j in 0, 4, .. cols
    b += _get(PX) + _vload() + _set(XV[0]) + _get(PX) + _get(RB) + _ADD + _vload() + _set(XV[1])
    for k, pair in enumerate(ACC):                               # acc[k][t] += w[r+k, j:j+4] * x[n+t, j:j+4]
        b += _get(Q) + (_get(RB) + _const(k) + _MUL + _ADD if k else b"") + _vload() + _set(WV)
        for a, xv in zip(pair, XV):
            b += _madd(a, WV, xv, fused)
    b += _get(PX) + _const(16) + _ADD + _set(PX)
    b += _get(Q) + _const(16) + _ADD + _tee(Q) + _get(END) + _LT_U + _BR_IF0 + _END
    b += _get(Y) + _get(N) + _get(ROWS) + _MUL + _get(R) + _ADD + _const(2) + _SHL + _ADD + _set(Q)
    for t, ptr in enumerate((_get(Q), _get(Q) + _get(ROWS) + _const(2) + _SHL + _ADD)):
        for k, pair in enumerate(ACC):                           # y[n + t, r + k] = horizontal sum
            b += ptr + _hsum(pair[t]) + _STORE + _leb(4 * k)
    b += _get(N) + _const(2) + _ADD + _tee(N) + _get(NT) + _LT_U + _BR_IF0 + _END
    b += _get(R) + _const(4) + _ADD + _tee(R) + _get(ROWS) + _LT_U + _BR_IF0 + _END
    return _locals(6, 11) + b + _END


def _mv_body() -> bytes:
    """One row at a time, so the weights are read as one sequential stream (w advances through
    the whole matrix); 16 floats a step into 4 independent accumulators."""
    W, X, Y, ROWS, COLS, PX, END, YEND = range(8)                # 5 params, 3 i32 locals
    ACC = (8, 9, 10, 11)                                         # 4 v128 locals
    b = _get(Y) + _get(ROWS) + _const(2) + _SHL + _ADD + _set(YEND)
    b += _LOOP                                                   # for each row (w walks on)
    b += b"".join(_VZERO + _set(a) for a in ACC)
    b += _get(X) + _set(PX) + _get(W) + _get(COLS) + _const(2) + _SHL + _ADD + _set(END)
    b += _LOOP                                                   # for j in 0, 16, .. cols
    for k, a in enumerate(ACC):                                  # acc_k += w[r, j+4k:+4] * x[j+4k:+4]
        b += _get(a) + _get(W) + _vload(16 * k) + _get(PX) + _vload(16 * k) + _FMUL4 + _FADD4 + _set(a)
    b += _get(PX) + _const(64) + _ADD + _set(PX)
    b += _get(W) + _const(64) + _ADD + _tee(W) + _get(END) + _LT_U + _BR_IF0 + _END
    b += _get(ACC[0]) + _get(ACC[1]) + _FADD4 + _get(ACC[2]) + _get(ACC[3]) + _FADD4 + _FADD4 + _set(ACC[0])
    b += _get(Y) + _hsum(ACC[0]) + _STORE + _leb(0)              # y[r] = horizontal sum
    b += _get(Y) + _const(4) + _ADD + _tee(Y) + _get(YEND) + _LT_U + _BR_IF0 + _END
    return _locals(3, 4) + b + _END


def _mmn_body(fused: bool = False) -> bytes:
    """Blocks of 2 x rows x 16 output columns (8 accumulators): per step j, one float of each x row
    (broadcast) times 4 vectors of w's row j; w (k, cols) is walked down a 16-column stripe."""
    W, X, Y, K, COLS, NT, LDX, C, N, PW, PX, PXEND, RB, XB, PY = range(15)   # 7 params, 8 i32 locals
    ACC = ((15, 16, 17, 18), (19, 20, 21, 22))                   # acc[t][v]: row n + t, columns c + 4v
    XV, WV = (23, 24), 25                                        # 11 v128 locals
    b = _get(COLS) + _const(2) + _SHL + _set(RB) + _get(LDX) + _const(2) + _SHL + _set(XB)
    b += _const(0) + _set(C) + _LOOP                             # for c in 0, 16, .. cols (bytes: 64)
    b += _const(0) + _set(N) + _LOOP                             # for n in 0, 2, .. ntok
    b += b"".join(_VZERO + _set(a) for row in ACC for a in row)
    b += _get(X) + _get(N) + _get(XB) + _MUL + _ADD + _tee(PX) + _get(K) + _const(2) + _SHL + _ADD + _set(PXEND)
    b += _get(W) + _get(C) + _ADD + _set(PW)
    b += _LOOP                                                   # for j in 0 .. k
    b += _get(PX) + _splat_load() + _set(XV[0]) + _get(PX) + _get(XB) + _ADD + _splat_load() + _set(XV[1])
    for v in range(4):                                           # acc[t][v] += w[j, c+4v:+4] * x[n+t, j]
        b += _get(PW) + _vload(16 * v) + _set(WV)
        for t in range(2):
            b += _madd(ACC[t][v], WV, XV[t], fused)
    b += _get(PW) + _get(RB) + _ADD + _set(PW)
    b += _get(PX) + _const(4) + _ADD + _tee(PX) + _get(PXEND) + _LT_U + _BR_IF0 + _END
    b += _get(Y) + _get(N) + _get(RB) + _MUL + _ADD + _get(C) + _ADD + _set(PY)
    for t, ptr in enumerate((_get(PY), _get(PY) + _get(RB) + _ADD)):
        for v in range(4):
            b += ptr + _get(ACC[t][v]) + _vstore(16 * v)
    b += _get(N) + _const(2) + _ADD + _tee(N) + _get(NT) + _LT_U + _BR_IF0 + _END
    b += _get(C) + _const(64) + _ADD + _tee(C) + _get(RB) + _LT_U + _BR_IF0 + _END
    return _locals(8, 11) + b + _END


# Cephes expf: x = n ln2 + r, |r| <= ln2 / 2; e^r by a degree-6 polynomial; 2^n into the exponent.
_LOG2E, _LN2_HI, _LN2_LO = 1.44269504088896341, 0.693359375, -2.12194440e-4
_EXP_P = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)


def _exp4(a: int, fx: int, r: int, y: int, hi: bool = False) -> bytes:
    """local a = exp(a), lane by lane, a clamped to [-87, 88] (hi) or to >= -87, so 2^n stays a
    normal float (NaN stays NaN); fx, r, y scratch."""
    b = _get(a) + _f4(-87.0) + _FPMAX4 + (_f4(88.0) + _FPMIN4 if hi else b"") + _set(a)
    b += _get(a) + _f4(_LOG2E) + _FMUL4 + _NEAREST4 + _set(fx)
    b += _get(a) + _get(fx) + _f4(_LN2_HI) + _FMUL4 + _FSUB4 + _get(fx) + _f4(_LN2_LO) + _FMUL4 + _FSUB4 + _set(r)
    b += _f4(_EXP_P[0])
    for p in _EXP_P[1:]:
        b += _get(r) + _FMUL4 + _f4(p) + _FADD4
    b += _get(r) + _get(r) + _FMUL4 + _FMUL4 + _get(r) + _FADD4 + _f4(1.0) + _FADD4 + _set(y)
    b += _get(y) + _get(fx) + _TRUNC_SAT4 + _i4(127) + _I32ADD4 + _const(23) + _I32SHL4 + _FMUL4 + _set(a)
    return b


def _softmax_body() -> bytes:
    """Per row: the max over its first L entries (the rest masked to -inf by a lane-index compare),
    then exp(s - max) with the rest zeroed and summed, then a scale by 1/sum."""
    S, ROWS, LD, LIM0, G, R, P, PEND, PROW, L, RB = range(11)    # 5 params, 6 i32 locals
    IDX, LV, M, SUM, A, FX, RR, Y = range(11, 19)                # 8 v128 locals

    def row_loop(body: bytes) -> bytes:                          # for p in row, 16 bytes a step, lane index idx
        return (_i4(0, 1, 2, 3) + _set(IDX) + _get(PROW) + _set(P) + _LOOP + body
                + _get(IDX) + _i4(4) + _I32ADD4 + _set(IDX)
                + _get(P) + _const(16) + _ADD + _tee(P) + _get(PEND) + _LT_U + _BR_IF0 + _END)

    mask = _get(IDX) + _get(LV) + _I32LT4                        # lanes with column < L
    b = _get(LD) + _const(2) + _SHL + _set(RB) + _get(S) + _set(PROW)
    b += _const(0) + _set(R) + _LOOP                             # for each row
    b += _get(LIM0) + _get(R) + _get(G) + _DIVU + _ADD + _set(L)
    b += _get(LD) + _get(L) + _get(L) + _get(LD) + _GT_U + _SELECT + _tee(L) + _I32SPLAT + _set(LV)
    b += _get(PROW) + _get(RB) + _ADD + _set(PEND)
    b += _f4(float("-inf")) + _set(M)
    b += row_loop(_get(M) + _get(P) + _vload() + _f4(float("-inf")) + mask + _BITSELECT + _FPMAX4 + _set(M))
    b += _hmax(M) + _F32SPLAT + _set(M) + _VZERO + _set(SUM)
    b += row_loop(_get(P) + _vload() + _get(M) + _FSUB4 + _set(A) + _exp4(A, FX, RR, Y)
                  + _get(A) + mask + _AND + _set(A)
                  + _get(P) + _get(A) + _vstore() + _get(SUM) + _get(A) + _FADD4 + _set(SUM))
    b += _F32_1 + _hsum(SUM) + _FDIV + _F32SPLAT + _set(M)
    b += row_loop(_get(P) + _get(P) + _vload() + _get(M) + _FMUL4 + _vstore())
    b += _get(PROW) + _get(RB) + _ADD + _set(PROW)
    b += _get(R) + _const(1) + _ADD + _tee(R) + _get(ROWS) + _LT_U + _BR_IF0 + _END
    return _locals(6, 8) + b + _END


def _swiglu_body() -> bytes:
    """Row by row: y[r, j] = g / (1 + exp(-g)) * u with g = gu[r, j], u = gu[r, d_ff + j]."""
    GU, Y, N, DFF, PG, END, DB, R = range(8)                     # 4 params, 4 i32 locals
    A, G, FX, RR, T = range(8, 13)                               # 5 v128 locals
    b = _get(DFF) + _const(2) + _SHL + _set(DB) + _const(0) + _set(R) + _get(GU) + _set(PG)
    b += _LOOP                                                   # for each row
    b += _get(PG) + _get(DB) + _ADD + _set(END)
    b += _LOOP                                                   # for j in 0, 4, .. d_ff
    b += _get(PG) + _vload() + _tee(G) + _FNEG4 + _set(A) + _exp4(A, FX, RR, T, hi=True)
    b += _get(Y) + _get(G) + _get(A) + _f4(1.0) + _FADD4 + _FDIV4                 # y = g / (1 + exp(-g))
    b += _get(PG) + _get(DB) + _ADD + _vload() + _FMUL4 + _vstore()              #     * u
    b += _get(Y) + _const(16) + _ADD + _set(Y)
    b += _get(PG) + _const(16) + _ADD + _tee(PG) + _get(END) + _LT_U + _BR_IF0 + _END
    b += _get(PG) + _get(DB) + _ADD + _set(PG)                  # skip the row's u half
    b += _get(R) + _const(1) + _ADD + _tee(R) + _get(N) + _LT_U + _BR_IF0 + _END
    return _locals(4, 5) + b + _END


def _rms_norm_body() -> bytes:
    """Row by row: ss = sum x^2 (4 lanes, then across), r = 1 / sqrt(ss * inv_d + eps), y = x * r * w."""
    X, W, Y, N, D, INVD, EPS, R, P, END, PW, DB, ACC = range(13)   # 5 i32 + 2 f32 params, 5 i32 locals
    b = _get(D) + _const(2) + _SHL + _set(DB) + _const(0) + _set(R)
    b += _LOOP                                                   # for each row
    b += _get(X) + _get(DB) + _ADD + _set(END) + _VZERO + _set(ACC) + _get(X) + _set(P)
    b += _LOOP + _get(ACC) + _get(P) + _vload() + _tee(ACC + 1) + _get(ACC + 1) + _FMUL4 + _FADD4 + _set(ACC)
    b += _get(P) + _const(16) + _ADD + _tee(P) + _get(END) + _LT_U + _BR_IF0 + _END
    b += _F32_1 + _hsum(ACC) + _get(INVD) + _FMUL + _get(EPS) + _FADD + _FSQRT + _FDIV + _F32SPLAT + _set(ACC)
    b += _get(X) + _set(P) + _get(W) + _set(PW)
    b += _LOOP + _get(Y) + _get(P) + _vload() + _get(ACC) + _FMUL4 + _get(PW) + _vload() + _FMUL4 + _vstore()
    b += _get(Y) + _const(16) + _ADD + _set(Y) + _get(PW) + _const(16) + _ADD + _set(PW)
    b += _get(P) + _const(16) + _ADD + _tee(P) + _get(END) + _LT_U + _BR_IF0 + _END
    b += _get(END) + _set(X)
    b += _get(R) + _const(1) + _ADD + _tee(R) + _get(N) + _LT_U + _BR_IF0 + _END
    return _vec([_leb(5) + b"\x7f", _leb(2) + b"\x7b"]) + b + _END


def _rope_body(neox: bool) -> bytes:
    """y = x * c + partner(x) * s over n tokens x nh heads of hd floats, with full-width tables c, s
    (numpy_device._rope_full, one row a token): partner swaps the two elements of each pair, adjacent
    ones (a lane shuffle) or, neox, the two halves of the head (a load from the other half)."""
    X, Y, C, S, N, NH, HD, LDX, LDYT, LDYH = range(10)          # 10 params
    I, H, J, SRC, DST, CT, ST, HB, HALF = range(10, 19)          # 9 i32 locals
    A, P = 19, 20                                                # 2 v128 locals
    b = _get(HD) + _const(2) + _SHL + _tee(HB) + _const(1) + _SHR_U + _set(HALF)
    b += _const(0) + _set(I) + _LOOP                             # for each token
    b += _const(0) + _set(H) + _LOOP                             # for each head
    b += _get(X) + _get(I) + _get(LDX) + _MUL + _ADD + _get(H) + _get(HB) + _MUL + _ADD + _set(SRC)
    b += _get(Y) + _get(I) + _get(LDYT) + _MUL + _ADD + _get(H) + _get(LDYH) + _MUL + _ADD + _set(DST)
    b += _get(C) + _get(I) + _get(HB) + _MUL + _ADD + _set(CT) + _get(S) + _get(I) + _get(HB) + _MUL + _ADD + _set(ST)
    b += _const(0) + _set(J) + _LOOP                             # for j in 0, 4, .. hd
    b += _get(SRC) + _get(J) + _ADD + _vload() + _set(A)
    if neox:                                                     # the partner sits half a head away
        b += (_get(SRC) + _get(J) + _get(HALF) + _ADD + _get(J) + _get(HALF) + _SUB
              + _get(J) + _get(HALF) + _LT_U + _SELECT + _ADD + _vload() + _set(P))
    else:                                                        # lanes 1, 0, 3, 2
        b += _get(A) + _get(A) + _SHUFFLE + bytes([4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11]) + _set(P)
    b += _get(DST) + _get(J) + _ADD
    b += _get(A) + _get(CT) + _get(J) + _ADD + _vload() + _FMUL4 + _get(P) + _get(ST) + _get(J) + _ADD + _vload()
    b += _FMUL4 + _FADD4 + _vstore()                             # (x * c) + (partner * s)
    b += _get(J) + _const(16) + _ADD + _tee(J) + _get(HB) + _LT_U + _BR_IF0 + _END
    b += _get(H) + _const(1) + _ADD + _tee(H) + _get(NH) + _LT_U + _BR_IF0 + _END
    b += _get(I) + _const(1) + _ADD + _tee(I) + _get(N) + _LT_U + _BR_IF0 + _END
    return _locals(9, 2) + b + _END


def _batched_body(inner: int, n_params: int, pointers: tuple[int, ...]) -> bytes:
    """Call function `inner` nb times, advancing each pointer argument by its stride after each call.
    Arguments: the inner ones, nb, then one byte stride per pointer."""
    nb = n_params
    b = _LOOP + b"".join(_get(i) for i in range(n_params)) + b"\x10" + _leb(inner)
    for k, p in enumerate(pointers):
        b += _get(p) + _get(nb + 1 + k) + _ADD + _set(p)
    b += _get(nb) + _const(1) + _SUB + _tee(nb) + _BR_IF0 + _END
    return _vec([]) + b + _END


# (export name, param types ("i" i32, "f" f32), body); a batched kernel names its inner one by index.
def _functions(fused: bool = False):
    inner = [("mm", "i" * 6, _mm_body(fused)), ("mv", "i" * 5, _mv_body()), ("mmn", "i" * 7, _mmn_body(fused)),
             ("softmax", "i" * 5, _softmax_body()), ("swiglu", "i" * 4, _swiglu_body()),
             ("rms_norm", "i" * 5 + "ff", _rms_norm_body()), ("rope", "i" * 10, _rope_body(False)),
             ("rope_neox", "i" * 10, _rope_body(True))]
    batched = [("mm_b", 0, (0, 1, 2)), ("mmn_b", 2, (0, 1, 2)), ("softmax_b", 3, (0,))]
    out = list(inner)
    for name, i, ptrs in batched:
        n = len(inner[i][1])
        out.append((name, "i" * (n + 1 + len(ptrs)), _batched_body(i, n, ptrs)))
    return out


# Exports enter Emscripten's symbol table beside libc's and numpy's: a bare "exp" would replace libm's.
PREFIX = "webinfer_"


def wasm_module(fused: bool = False) -> bytes:
    """The side module: a dylink.0 section (no data, no table), env.memory imported, the kernels
    exported as PREFIX + name.
    fused: mm and mmn multiply-add with relaxed SIMD's f32x4.relaxed_madd (a module only engines with
    relaxed SIMD compile)."""
    sec = lambda i, body: bytes([i]) + _leb(len(body)) + body    # noqa: E731
    funcs = _functions(fused)
    return (b"\x00asm\x01\x00\x00\x00"
            + sec(0, _name("dylink.0") + b"\x01" + _leb(4) + bytes(4))
            + sec(1, _vec([b"\x60" + _vec([{"i": b"\x7f", "f": b"\x7d"}[t] for t in types]) + _vec([])
                           for _, types, _ in funcs]))
            + sec(2, _vec([_name("env") + _name("memory") + b"\x02\x00\x00"]))
            + sec(3, _vec([_leb(i) for i in range(len(funcs))]))
            + sec(7, _vec([_name(PREFIX + name) + b"\x00" + _leb(i) for i, (name, _, _) in enumerate(funcs)]))
            + sec(10, _vec([_leb(len(body)) + body for _, _, body in funcs])))
