#!/usr/bin/env python3
"""An error model of the float32 attention in 3xTF32 (flash_attention[_bidir]_x3_d*_f32), without a GPU: the kernel's
arithmetic emulated in numpy, step by step, under one assumption about the tensor cores: an mma m16n8k8 .tf32 adds its
8 exact products to the accumulator exactly and truncates the sum to float32 (round toward zero; Fasi et al.,
"Numerical behavior of NVIDIA tensor cores", PeerJ CS 2021, report truncation on A100; the real adder also aligns
with a few extra bits, so the model is, if anything, kinder than the hardware). Its max |error| against a double-
precision attention, for:
  v1      the first version: each score's and each output's three products into one accumulator, the output's
          running over every key tile (what ran on an H100, 2026-12-06 16:17 UTC);
  v2      the current one: the two small products in their own accumulators, scores per n-tile and P·V per key tile
          from zero, added rounded to nearest at the end of the tile (fx_mma3; on an H100, 2026-12-06 19:07 UTC,
          FlashF32AttentionTest's T = 511 bidirectional case with bias measured 4.29e-6 to the plain-Java float32
          attention where this model gives 4.08e-6 to double, the unfused path 4.77e-6 against the model's 5.08e-6);
  fp32    the unfused path's arithmetic as numpy's float32 matmul does it (an SGEMM with round-to-nearest).
Data as FlashF32AttentionTest's packed case: B = 3 sequences (a hole, left padding, padding only), H heads, Gaussian
q|k|v of scale 1.5 and biases of scale 0.5.
  python3 native/dev/x3_error_model.py [T] [D] [H] [seed] [gauss|uniform]     (defaults 511 64 5 1 gauss)
uniform: q|k|v uniform in ±2 and biases in ±0.5, as native/dev/flash_x3_check.cu draws them.
"""
import sys

import numpy as np

T = int(sys.argv[1]) if len(sys.argv) > 1 else 511
D = int(sys.argv[2]) if len(sys.argv) > 2 else 64
H = int(sys.argv[3]) if len(sys.argv) > 3 else 5
SEED = int(sys.argv[4]) if len(sys.argv) > 4 else 1
UNIFORM = len(sys.argv) > 5 and sys.argv[5] == "uniform"
B, TILE = 3, 64
f32 = np.float32


def rz(x):
    """float64 -> float32, rounded toward zero."""
    f = x.astype(f32)
    over = np.abs(f.astype(np.float64)) > np.abs(x)
    f[over] = np.nextafter(f[over], f32(0))
    return f


def split(x):
    """x = big + small: big rounded to TF32 (ties away), small the float32 rest as the tensor cores read it."""
    bits = x.astype(f32).view(np.uint32)
    big = ((bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(f32)
    small = (x.astype(f32) - big).astype(f32)
    small_t = (small.view(np.uint32) & np.uint32(0xFFFFE000)).view(f32)
    return big.astype(np.float64), small_t.astype(np.float64)


def kstep_dims(d):
    """The head dimensions of each k-step of Q·Kᵀ (the kernel's permutation: 16p + 4c + 2e and + 1)."""
    steps = []
    for kk in range(d // 8):
        p, e = kk // 2, kk % 2
        steps.append([16 * p + 4 * c + 2 * e + j for c in range(4) for j in range(2)])
    return steps


def mask_of(b):
    m = np.ones(T, bool)
    if b == 0 and T > 2:
        m[T // 2] = False
    if b == 1:
        m[:min(9, T // 2)] = False
    if b == 2:
        m[:] = False
    return m


def kernel(q, k, v, vb, mask, version):
    """One head as the kernel computes it (q with its bias, k without, v's bias at the output)."""
    Tp = (T + TILE - 1) // TILE * TILE
    K = np.zeros((Tp, D), f32)
    V = np.zeros((Tp, D), f32)
    K[:T], V[:T] = k, v
    mk = np.zeros(Tp, bool)
    mk[:T] = mask
    qb, qs = split(q)
    steps = kstep_dims(D)
    sl2 = f32(1 / np.sqrt(D)) * f32(1.4426950408889634)
    m = np.full(T, -np.inf, f32)
    l = np.zeros(T, f32)
    acc = np.zeros((T, D), f32)
    for t0 in range(0, Tp, TILE):
        kb, ks = split(K[t0:t0 + TILE])
        s = np.zeros((T, TILE), f32)
        sm = np.zeros((T, TILE), f32)
        for dims in steps:
            a_b, a_s, b_b, b_s = qb[:, dims], qs[:, dims], kb[:, dims], ks[:, dims]
            if version == "v1":
                s = rz(s + a_s @ b_b.T)
                s = rz(s + a_b @ b_s.T)
                s = rz(s + a_b @ b_b.T)
            else:
                sm = rz(sm + a_s @ b_b.T)
                sm = rz(sm + a_b @ b_s.T)
                s = rz(s + a_b @ b_b.T)
        if version == "v2":
            s = (s + sm).astype(f32)
        s = np.where(mk[t0:t0 + TILE][None, :], s, f32(-np.inf))
        tm = s.max(axis=1)
        mn = np.maximum(m, (tm * sl2).astype(f32))
        z = np.where(mn == -np.inf, f32(0), mn)
        al = np.exp2((m - z).astype(f32)).astype(f32)
        m = mn
        p = np.exp2((s.astype(np.float64) * sl2 - z[:, None]).astype(f32)).astype(f32)
        l = (l * al + p.sum(axis=1, dtype=f32)).astype(f32)
        pb, ps = split(p)
        vb_, vs_ = split(V[t0:t0 + TILE])
        if version == "v1":
            acc = (acc * al[:, None]).astype(f32)
            for nt in range(TILE // 8):
                sl = slice(8 * nt, 8 * nt + 8)
                acc = rz(acc + ps[:, sl] @ vb_[sl])
                acc = rz(acc + pb[:, sl] @ vs_[sl])
                acc = rz(acc + pb[:, sl] @ vb_[sl])
        else:
            at = np.zeros((T, D), f32)
            atm = np.zeros((T, D), f32)
            for nt in range(TILE // 8):
                sl = slice(8 * nt, 8 * nt + 8)
                atm = rz(atm + ps[:, sl] @ vb_[sl])
                atm = rz(atm + pb[:, sl] @ vs_[sl])
                at = rz(at + pb[:, sl] @ vb_[sl])
            tile = (at + atm).astype(f32)
            acc = (acc.astype(np.float64) * al[:, None] + tile).astype(f32)  # one FFMA: one rounding
    inv = np.where(l > 0, f32(1) / np.where(l > 0, l, f32(1)), f32(0)).astype(f32)
    o = (acc * inv[:, None]).astype(f32)
    return np.where((l > 0)[:, None], (o + vb).astype(f32), f32(0))


def unfused(q, k, v, mask):
    s = (q @ k.T).astype(f32) * f32(1 / np.sqrt(D))
    s = np.where(mask[None, :], s, f32(-np.inf))
    mx = s.max(axis=1, keepdims=True)
    e = np.where(np.isfinite(mx), np.exp(s - np.where(np.isfinite(mx), mx, 0)), 0).astype(f32)
    den = e.sum(axis=1, keepdims=True, dtype=f32)
    pr = np.where(den > 0, e / np.where(den > 0, den, 1), 0).astype(f32)
    return (pr @ v).astype(f32)


def exact(q, k, v, mask):
    s = (q @ k.T) / np.sqrt(D)
    s = np.where(mask[None, :], s, -np.inf)
    if not mask.any():
        return np.zeros((T, D))
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)) @ v


def main():
    rng = np.random.default_rng(SEED)
    worst = {"v1": 0.0, "v2": 0.0, "fp32": 0.0}
    for b in range(B):
        mask = mask_of(b)
        for h in range(H):
            if UNIFORM:
                q, k, v = [rng.uniform(-2, 2, (T, D)).astype(f32) for _ in range(3)]
                bq, bk, bv = [rng.uniform(-0.5, 0.5, D).astype(f32) for _ in range(3)]
            else:
                q, k, v = [(rng.standard_normal((T, D)) * 1.5).astype(f32) for _ in range(3)]
                bq, bk, bv = [(rng.standard_normal(D) * 0.5).astype(f32) for _ in range(3)]
            qq, kk, vv = (q + bq).astype(f32), (k + bk).astype(f32), (v + bv).astype(f32)
            ref = exact(qq.astype(np.float64), kk.astype(np.float64), vv.astype(np.float64), mask)
            if not mask.any():
                continue
            for version in ("v1", "v2"):
                got = kernel(qq, k, v, bv, mask, version)
                worst[version] = max(worst[version], float(np.abs(got - ref).max()))
            worst["fp32"] = max(worst["fp32"], float(np.abs(unfused(qq, kk, vv, mask) - ref).max()))
    print(f"T={T} D={D} B={B} H={H} seed={SEED} {'uniform' if UNIFORM else 'gauss'}: max |error| to double: v1 {worst['v1']:.3e}, "
          f"v2 {worst['v2']:.3e}, float32 unfused {worst['fp32']:.3e}")


if __name__ == "__main__":
    main()
