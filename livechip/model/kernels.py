"""The cached one-token step of the Transformer-XL as numba kernels (CPU, float32 or float64; int8 weights,
int8 keys, values and positional keys).

At batch 1 a step is a chain of matrix-vector products: its speed is the speed at which the weights, keys,
values and positional keys stream from memory. In torch, dispatch dominates a small model's step and MKL's
matrix-vector kernel reached about two thirds of the read bandwidth for the tall matrices here; these loops
reach it for every shape, and `block` runs a whole layer in one call (without the GIL), its matrix-vector
products and heads shared among `set_threads` threads. Weights are read in place, in nn.Linear's
layout [out, in] (one contiguous row per output), so nothing is copied: an int8 weight comes with one scale per
output row, a float weight with a row of ones.

The arithmetic is the one of `txl.Block` and `cache.Cache.attend`; only the order of the additions differs
(fastmath lets the dot products use several accumulators), and attention divides by the softmax's sum once,
on its output row.
"""

import numba
import numpy as np
from numba import njit, prange

JIT = dict(fastmath=True, cache=True, boundscheck=False, nogil=True)
PAR = dict(JIT, parallel=True)
CHUNKS = 8          # runs of rows a matrix-vector product is cut into, shared among the threads
EXACT = dict(cache=True, boundscheck=False, nogil=True)      # IEEE arithmetic: rounds as torch does


@njit(**PAR)
def matvec(w, scale, x, out):
    """out[b] = (w @ x[b]) * scale for x [B, in], w [out, in] (float, or int8 with its per-row scale).

    The rows are cut into CHUNKS contiguous runs, shared among the threads (`set_threads`); every row is
    summed the same way whatever the number of threads, so the result does not depend on it."""
    n = w.shape[0]
    for c in prange(CHUNKS):
        rows(w, scale, x, out, c * n // CHUNKS, (c + 1) * n // CHUNKS)


@njit(**JIT)
def rows(w, scale, x, out, lo, hi):
    """matvec for rows lo..hi-1, one weight row at a time, as one sequential stream. (Four rows at once, four
    sums sharing each load of x, ran twice as fast on matrices that fit in the cache and slower on the real
    layers' weights, which stream from memory.)"""
    k = w.shape[1]
    f = x.dtype.type
    for i in range(lo, hi):
        for b in range(x.shape[0]):
            acc = x[b, 0] - x[b, 0]
            for j in range(k):
                acc += f(w[i, j]) * x[b, j]
            out[b, i] = acc * scale[i]


def set_threads(n: int):
    """Threads the kernels split a step over (numba's; torch's own are set apart). On this 2-core machine one
    thread reads ~15.7 GB/s and two ~24 GB/s, but a second busy core is one the audio path may need."""
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


@njit(**JIT)
def layer_norm(x, w, b, eps, out):
    """out[r] = LayerNorm(x[r]) for every row r (biased variance, as nn.LayerNorm)."""
    d = x.shape[1]
    for r in range(x.shape[0]):
        mean = x[r].sum() / d
        var = x[r, 0] - x[r, 0]
        for j in range(d):
            var += (x[r, j] - mean) ** 2
        inv = 1 / np.sqrt(var / d + eps)
        for j in range(d):
            out[r, j] = (x[r, j] - mean) * inv * w[j] + b[j]


@njit(**EXACT)
def store(dst, src, q8):
    """dst[:] = src, or with q8 (dst int8) rounded with one scale for the row, max |src| / 127, as
    `cache.int8_rows` does; returns the scale (1 without q8)."""
    if not q8:
        for d in range(src.size):
            dst[d] = src[d]
        return src.dtype.type(1)
    f = src.dtype.type
    s = max(np.abs(src).max(), f(1e-12)) * f(1 / 127)
    inv = f(1) / s
    for d in range(src.size):
        dst[d] = np.int8(min(max(np.rint(src[d] * inv), f(-127)), f(127)))
    return s


@njit(**PAR)
def block(x, pre_lnorm, eps, ln1w, ln1b, wqkv, sqkv, wo, so, ln2w, ln2b, w1, s1, b1, w2, s2, b2, bias, scale,
          kv, ks, rr, rs, q8, j, C, s, W, h, qkv, y, a, f, score, qw, qr):
    """One layer for one new position of B streams, x [B, d] updated in place.

    Writes the position's keys and values at slots j and j + C of kv [2, B * H, 2C, Dh] (with q8, kv is int8
    and their row scales go to ks [2, B * H, 2C]) and attends over the W slots s..s+W-1 (the last one is the new
    position); rr [H, mem_len + 1, Dh] holds the positional keys by distance mem_len - i (row scales rs),
    bias [2, H, Dh] the r_w/r_r biases times `scale`. h, qkv, y, a, f: scratch rows; score, qw, qr: scratch
    rows for each of the B * H heads (their attention runs in parallel, `set_threads`)."""
    B = x.shape[0]
    H, M1, Dh = rr.shape
    HD = H * Dh
    if pre_lnorm:
        layer_norm(x, ln1w, ln1b, eps, h)
        matvec(wqkv, sqkv, h, qkv)
    else:
        matvec(wqkv, sqkv, x, qkv)
    off = M1 - W                                   # rr's row for the oldest visible key
    for n in prange(B * H):                        # one stream's head at a time, heads spread over threads
        b, hd = n // H, n % H
        sc, qwn, qrn = score[n], qw[n], qr[n]
        for i in range(2):                         # key, value
            row = qkv[b, (i + 1) * HD + hd * Dh:(i + 1) * HD + (hd + 1) * Dh]
            ks[i, n, j] = ks[i, n, j + C] = store(kv[i, n, j], row, q8)
            kv[i, n, j + C] = kv[i, n, j]
        q = qkv[b, hd * Dh:(hd + 1) * Dh]
        for d in range(Dh):
            qwn[d] = q[d] * scale + bias[0, hd, d]
            qrn[d] = q[d] * scale + bias[1, hd, d]
        w = slice(s, s + W)
        attend(qwn, qrn, kv[0, n, w], rr[hd, off:], kv[1, n, w], ks[0, n, w], rs[hd, off:], ks[1, n, w],
               sc[:W], y[b, hd * Dh:(hd + 1) * Dh])
    matvec(wo, so, y, a)
    d_model = x.shape[1]
    if pre_lnorm:
        for b in range(B):
            for i in range(d_model):
                x[b, i] += a[b, i]
        layer_norm(x, ln2w, ln2b, eps, h)
        feed_forward(h, w1, s1, b1, w2, s2, b2, f, a)
        for b in range(B):
            for i in range(d_model):
                x[b, i] += a[b, i]
    else:
        for b in range(B):
            for i in range(d_model):
                h[b, i] = x[b, i] + a[b, i]
        layer_norm(h, ln1w, ln1b, eps, x)
        feed_forward(x, w1, s1, b1, w2, s2, b2, f, a)
        for b in range(B):
            for i in range(d_model):
                h[b, i] = x[b, i] + a[b, i]
        layer_norm(h, ln2w, ln2b, eps, x)


@njit(**JIT)
def attend(qw, qr, k, r, v, sk, sr, sv, p, out):
    """One head's attention over W positions: out = softmax(p) @ (v * sv), p[t] = qw . k[t] sk[t] + qr . r[t] sr[t]
    (k, r, v [W, Dh], float or int8 rows with their scales; p: scratch for the W scores).

    Four positions at a time: one pass over qw and qr serves four rows of keys, and the output row takes four
    values per pass, so the inner loops are long runs of vector multiply-adds."""
    W, Dh = k.shape
    f = qw.dtype.type
    t = 0
    while t + 4 <= W:
        k0 = k1 = k2 = k3 = r0 = r1 = r2 = r3 = f(0)
        for d in range(Dh):
            a, c = qw[d], qr[d]
            k0 += a * f(k[t, d]); k1 += a * f(k[t + 1, d]); k2 += a * f(k[t + 2, d]); k3 += a * f(k[t + 3, d])
            r0 += c * f(r[t, d]); r1 += c * f(r[t + 1, d]); r2 += c * f(r[t + 2, d]); r3 += c * f(r[t + 3, d])
        p[t] = k0 * sk[t] + r0 * sr[t]
        p[t + 1] = k1 * sk[t + 1] + r1 * sr[t + 1]
        p[t + 2] = k2 * sk[t + 2] + r2 * sr[t + 2]
        p[t + 3] = k3 * sk[t + 3] + r3 * sr[t + 3]
        t += 4
    for t in range(t, W):
        k0 = r0 = f(0)
        for d in range(Dh):
            k0 += qw[d] * f(k[t, d])
            r0 += qr[d] * f(r[t, d])
        p[t] = k0 * sk[t] + r0 * sr[t]
    top = p.max()
    total = f(0)
    for t in range(W):
        p[t] = np.exp(p[t] - top)
        total += p[t]
        p[t] *= sv[t]
    out[:] = 0
    t = 0
    while t + 4 <= W:
        p0, p1, p2, p3 = p[t], p[t + 1], p[t + 2], p[t + 3]
        for d in range(Dh):
            out[d] += p0 * f(v[t, d]) + p1 * f(v[t + 1, d]) + p2 * f(v[t + 2, d]) + p3 * f(v[t + 3, d])
        t += 4
    for t in range(t, W):
        for d in range(Dh):
            out[d] += p[t] * f(v[t, d])
    inv = 1 / total
    for d in range(Dh):
        out[d] *= inv


@njit(**JIT)
def feed_forward(x, w1, s1, b1, w2, s2, b2, f, out):
    """out = w2 relu(w1 x + b1) + b2, rowwise."""
    matvec(w1, s1, x, f)
    for b in range(f.shape[0]):
        for i in range(f.shape[1]):
            f[b, i] = max(f[b, i] + b1[i], 0)
    matvec(w2, s2, f, out)
    for b in range(out.shape[0]):
        for i in range(out.shape[1]):
            out[b, i] += b2[i]


@njit(**JIT)
def linear(w, scale, bias, x, out):
    """out = x @ (w * scale).T + bias (bias may be empty: none)."""
    matvec(w, scale, x, out)
    if bias.size:
        for b in range(out.shape[0]):
            for i in range(out.shape[1]):
                out[b, i] += bias[i]
