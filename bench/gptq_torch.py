"""
A same-run PyTorch baseline of QuantLab's GPTQ (bench/algorithms.bench.ts starts it), written for this
bench from the algorithm's description (REFERENCE.md section 4), not from the original's code:

  H = 2/N XᵀX; dead inputs (diag 0) get H[i,i] = 1 and W[:, i] = 0; damping 0.01·mean(diag H);
  U = upper Cholesky factor of H⁻¹; columns in lazy batches of 128: q = quant(w) with the group's
  min/max parameters (fitted when a group starts, on W as it stands), err = (w − q)/U[i,i], the rest of
  the batch W1[:, j:] −= err ⊗ U[i, j:], after the batch W[:, i2:] −= Err·U[batch, i2:]; act-order
  processes columns by descending diag(H) and undoes the permutation at the end.

Its products go through oneDNN (torch's mkldnn_linear), its Cholesky and triangular inverse are blocked
over those products: Debian's python3-torch links the generic BLAS/LAPACK, which is the reference BLAS
here (≈ 7 GFLOP/s), while oneDNN, built into torch, runs ≈ 160 GFLOP/s per core; a baseline on the
reference BLAS would make QuantLab look faster than PyTorch can be. "ready" reports oneDNN's rate.

Protocol (stdin/stdout, one line each): the bench writes W (out × in) and X (tokens × in) as raw float32
files and starts `python3 gptq_torch.py W X out in tokens threads`; this prints "ready <torch version>".
Each line "<bits> <group|channel> <actorder 0|1> <error 0|1>" runs GPTQ once and prints "<wall s> <cpu s>
<output error>", the error ‖XWᵀ − XQᵀ‖²/‖XWᵀ‖² computed after the clock stops (nan unless asked for).
The bench starts it with OMP_WAIT_POLICY=PASSIVE so that idle OpenMP threads sleep instead of spinning
on the cores QuantLab is being timed on.
"""
import sys
import time

import numpy as np
import torch


def mm(a, b):
    """a @ b on oneDNN (mkldnn_linear computes x @ wᵀ)."""
    return torch._C._nn.mkldnn_linear(a.contiguous().to_mkldnn(), b.t().contiguous().to_mkldnn()).to_dense()


PANEL = 256


def cholesky(A):
    """Lower L with A = L·Lᵀ: blocked, diagonal blocks by LAPACK, the rest by products."""
    n = A.shape[0]
    A = A.clone()
    for k0 in range(0, n, PANEL):
        k1 = min(n, k0 + PANEL)
        L11 = torch.linalg.cholesky(A[k0:k1, k0:k1])
        A[k0:k1, k0:k1] = L11
        if k1 == n:
            break
        L21 = mm(A[k1:, k0:k1], torch.linalg.inv(L11).t())
        A[k1:, k0:k1] = L21
        A[k1:, k1:] -= mm(L21, L21.t())
    return torch.tril(A)


def invert_lower(L):
    """L⁻¹ for lower L: inv([[A, 0], [B, C]]) = [[A⁻¹, 0], [−C⁻¹·B·A⁻¹, C⁻¹]]."""
    n = L.shape[0]
    if n <= PANEL:
        return torch.linalg.inv(L).tril()
    h = (n // 2 + PANEL - 1) // PANEL * PANEL
    Ai = invert_lower(L[:h, :h])
    Ci = invert_lower(L[h:, h:])
    out = torch.zeros_like(L)
    out[:h, :h] = Ai
    out[h:, h:] = Ci
    out[h:, :h] = -mm(Ci, mm(L[h:, :h], Ai))
    return out


def upper_cholesky_of_inverse(H):
    """U upper with H⁻¹ = Uᵀ·U: with J the exchange matrix and J·H·J = L·Lᵀ, U = J·L⁻¹·J."""
    L = cholesky(torch.flip(H, [0, 1]))
    return torch.flip(invert_lower(L), [0, 1])


def quant_params(w, bits):
    """Per-row scale and zero of the columns in w (rows × k): the "gptq" convention (range includes 0)."""
    maxq = 2 ** bits - 1
    lo = torch.clamp(w.min(dim=1).values, max=0)
    hi = torch.clamp(w.max(dim=1).values, min=0)
    both = (lo == 0) & (hi == 0)
    lo[both] = -1
    hi[both] = 1
    scale = (hi - lo) / maxq
    zero = torch.round(-lo / scale)
    return scale, zero


def gptq(W, H, bits, group, actorder, block=128, percdamp=0.01):
    W = W.clone()
    H = H.clone()
    cols = W.shape[1]
    maxq = 2 ** bits - 1
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    perm = None
    if actorder:
        perm = torch.argsort(torch.diag(H), descending=True, stable=True)
        W = W[:, perm]
        H = H[perm][:, perm]
    H += percdamp * torch.mean(torch.diag(H)) * torch.eye(cols)
    U = upper_cholesky_of_inverse(H)
    Q = torch.zeros_like(W)
    gs = cols if group == "channel" else int(group)
    scale = zero = None
    if gs >= cols:
        scale, zero = quant_params(W, bits)
    for i1 in range(0, cols, block):
        i2 = min(cols, i1 + block)
        W1 = W[:, i1:i2].clone()
        E = torch.zeros_like(W1)
        U1 = U[i1:i2, i1:i2]
        for j in range(i2 - i1):
            i = i1 + j
            if gs < cols and i % gs == 0:
                scale, zero = quant_params(W[:, i:i + gs], bits)
            w = W1[:, j]
            q = (torch.clamp(torch.round(w / scale) + zero, 0, maxq) - zero) * scale
            Q[:, i] = q
            e = (w - q) / U1[j, j]
            W1[:, j:] -= e[:, None] * U1[j, j:][None, :]
            E[:, j] = e
        if i2 < cols:
            W[:, i2:] -= mm(E, U[i1:i2, i2:])
    if perm is not None:
        Q = Q[:, torch.argsort(perm)]
    return Q


def main():
    wpath, xpath, rows, cols, tokens, threads = sys.argv[1:7]
    rows, cols, tokens = int(rows), int(cols), int(tokens)
    torch.set_num_threads(int(threads))
    W = torch.from_numpy(np.fromfile(wpath, dtype=np.float32).reshape(rows, cols))
    X = torch.from_numpy(np.fromfile(xpath, dtype=np.float32).reshape(tokens, cols))
    Y = mm(X, W.t())
    ref = float((Y.double() ** 2).sum())
    a = torch.randn(2048, 2048)
    mm(a, a)
    u = time.process_time()
    mm(a, a)
    rate = 2 * 2048 ** 3 / max(time.process_time() - u, 1e-9) / 1e9
    print("ready", torch.__version__, f"{rate:.0f}", flush=True)
    for line in sys.stdin:
        bits, group, actorder, want_err = line.split()
        t = time.perf_counter()
        u = time.process_time()
        H = (2 / tokens) * mm(X.t(), X)
        Q = gptq(W, H, int(bits), group, actorder == "1")
        wall = time.perf_counter() - t
        cpu = time.process_time() - u
        err = float(((Y - mm(X, Q.t())).double() ** 2).sum()) / ref if want_err == "1" else float("nan")
        print(wall, cpu, err, flush=True)


main()
