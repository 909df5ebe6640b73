"""Matrix products for the fully connected layer.

BLAS would be faster for large matrices, but its worker threads spin after
every call and starve the numba threads of the convolution kernels that
run next; on two cores that made a whole training step several times
slower.  At the sizes of small CNNs these loops are as fast as
single-threaded BLAS and share numba's thread pool.
"""

import numpy as np
from numba import prange

from ._jit import kernel


@kernel(parallel=True)
def matmul(a, b, out):
    """``out = a @ b`` for C-contiguous 2-D arrays.

    Each row of ``out`` is a sum of rows of ``b`` scaled by the entries of
    a row of ``a``; four rows of ``b`` are combined per pass so that one
    load and store of the output row serves four multiply-adds.
    """
    n_rows, n_inner = a.shape
    n_cols = b.shape[1]
    for r in prange(n_rows):
        row = out[r]
        row[:] = 0
        ar = a[r]
        k = 0
        while k + 4 <= n_inner:
            s0, s1, s2, s3 = ar[k], ar[k + 1], ar[k + 2], ar[k + 3]
            b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
            for j in range(n_cols):
                row[j] += s0 * b0[j] + s1 * b1[j] + s2 * b2[j] + s3 * b3[j]
            k += 4
        while k < n_inner:
            s0 = ar[k]
            b0 = b[k]
            for j in range(n_cols):
                row[j] += s0 * b0[j]
            k += 1


@kernel(parallel=True)
def matmul_tn(a, b, out):
    """``out = a.T @ b`` for C-contiguous 2-D arrays, without a transpose copy."""
    n_inner, n_rows = a.shape
    n_cols = b.shape[1]
    for r in prange(n_rows):
        row = out[r]
        row[:] = 0
        k = 0
        while k + 4 <= n_inner:
            s0, s1, s2, s3 = a[k, r], a[k + 1, r], a[k + 2, r], a[k + 3, r]
            b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
            for j in range(n_cols):
                row[j] += s0 * b0[j] + s1 * b1[j] + s2 * b2[j] + s3 * b3[j]
            k += 4
        while k < n_inner:
            s0 = a[k, r]
            b0 = b[k]
            for j in range(n_cols):
                row[j] += s0 * b0[j]
            k += 1


@kernel(parallel=True)
def matmul_nt(a, b, out):
    """``out = a @ b.T`` for C-contiguous 2-D arrays, without a transpose copy.

    Every entry is a dot product of two contiguous rows; four rows of ``b``
    are taken per pass, so each load of ``a[r]`` serves four sums, which
    stay in registers.
    """
    n_rows, n_inner = a.shape
    n_cols = b.shape[0]
    zero = np.zeros(1, out.dtype)[0]  # a zero of the output's dtype
    for r in prange(n_rows):
        ar = a[r]
        row = out[r]
        c = 0
        while c + 4 <= n_cols:
            b0, b1, b2, b3 = b[c], b[c + 1], b[c + 2], b[c + 3]
            s0, s1, s2, s3 = zero, zero, zero, zero
            for k in range(n_inner):
                v = ar[k]
                s0 += v * b0[k]
                s1 += v * b1[k]
                s2 += v * b2[k]
                s3 += v * b3[k]
            row[c], row[c + 1], row[c + 2], row[c + 3] = s0, s1, s2, s3
            c += 4
        while c < n_cols:
            b0 = b[c]
            s0 = zero
            for k in range(n_inner):
                s0 += ar[k] * b0[k]
            row[c] = s0
            c += 1
