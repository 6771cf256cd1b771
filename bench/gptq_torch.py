"""
A same-run PyTorch baseline of QuantLab's GPTQ (bench/algorithms.bench.ts starts it), written for this
bench from the algorithm's description (REFERENCE.md section 4), not from the original's code:

  H = 2/N XᵀX; dead inputs (diag 0) get H[i,i] = 1 and W[:, i] = 0; damping 0.01·mean(diag H);
  U = upper Cholesky factor of H⁻¹; columns in lazy batches of 128: q = quant(w) with the group's
  min/max parameters (fitted when a group starts, on W as it stands), err = (w − q)/U[i,i], the rest of
  the batch W1[:, j:] −= err ⊗ U[i, j:], after the batch W[:, i2:] −= Err·U[batch, i2:]; act-order
  processes columns by descending diag(H) and undoes the permutation at the end.

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
    L = torch.linalg.cholesky(H)
    U = torch.linalg.cholesky(torch.cholesky_inverse(L), upper=True)
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
            W1[:, j:] -= e.unsqueeze(1) @ U1[j, j:].unsqueeze(0)
            E[:, j] = e
        W[:, i2:] -= E @ U[i1:i2, i2:]
    if perm is not None:
        Q = Q[:, torch.argsort(perm)]
    return Q


def main():
    wpath, xpath, rows, cols, tokens, threads = sys.argv[1:7]
    rows, cols, tokens = int(rows), int(cols), int(tokens)
    torch.set_num_threads(int(threads))
    W = torch.from_numpy(np.fromfile(wpath, dtype=np.float32).reshape(rows, cols))
    X = torch.from_numpy(np.fromfile(xpath, dtype=np.float32).reshape(tokens, cols))
    Y = X @ W.T
    ref = float((Y.double() ** 2).sum())
    print("ready", torch.__version__, flush=True)
    for line in sys.stdin:
        bits, group, actorder, want_err = line.split()
        t = time.perf_counter()
        u = time.process_time()
        H = (2 / tokens) * (X.T @ X)
        Q = gptq(W, H, int(bits), group, actorder == "1")
        wall = time.perf_counter() - t
        cpu = time.process_time() - u
        err = float(((Y - X @ Q.T).double() ** 2).sum()) / ref if want_err == "1" else float("nan")
        print(wall, cpu, err, flush=True)


main()
