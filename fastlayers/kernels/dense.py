"""Matrix products for the fully connected layer.

BLAS is faster on one thread (OpenBLAS about 1.3x in float32, on par in
float64), but how many threads it starts is fixed by the environment
before it loads, not by the library: with two threads its workers spin
after every call and starve the numba threads of the kernels that run
next (on two busy cores single products ran a hundred times slower and
a LeNet training step 0.7x).  These loops share numba's thread pool.

The products are blocked for registers: four rows of the output are
computed together, so that every vector of an operand loaded from memory
serves four rows.  Which loop computes an entry depends only on the
shapes and the entry's position, and every entry is summed by one thread
in a fixed order, so the results do not depend on the number of threads.

Two kernels serve the three products of a layer (``x @ w``, ``x.T @ e``
and ``e @ w.T``): compiling a parallel kernel costs about a second per
dtype, which a user pays on the first training step.
"""

import numpy as np
from numba import prange

from ._jit import kernel

# Rows of the output computed together.  Four rows times four steps of the
# inner dimension keep sixteen scalars of one operand in registers, with
# room left for the vectors of the other and of the output.
ROWS = 4


@kernel(parallel=True)
def matmul(a, b, transpose_a, out):
    """``out = a @ b``, or ``a.T @ b`` when ``transpose_a``, for C-contiguous 2-D arrays.

    Each block of four output rows is updated with four rows of ``b`` at a
    time, each scaled by the four entries of the block's rows of ``a``:
    one load of a vector of ``b`` serves four rows, one load and store of
    an output vector sixteen multiply-adds.  The scalars of ``a`` are read
    through strides, so the transposed product needs no copy.  Rows left
    over after the blocks of four are computed one by one.
    """
    if transpose_a:
        n_inner, n_rows = a.shape
        row_step, k_step = 1, n_rows
    else:
        n_rows, n_inner = a.shape
        row_step, k_step = n_inner, 1
    flat = a.reshape(-1)  # a view: ``a`` is C-contiguous
    n_cols = b.shape[1]
    n_full = n_rows // ROWS
    for blk in prange(n_full + (n_rows - n_full * ROWS)):
        if blk < n_full:
            r = blk * ROWS
            o0, o1, o2, o3 = out[r], out[r + 1], out[r + 2], out[r + 3]
            o0[:] = 0
            o1[:] = 0
            o2[:] = 0
            o3[:] = 0
            k = 0
            while k + 4 <= n_inner:
                b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
                p = r * row_step + k * k_step  # a[r, k] (or a[k, r])
                s00, s01 = flat[p], flat[p + k_step]
                s02, s03 = flat[p + 2 * k_step], flat[p + 3 * k_step]
                p += row_step
                s10, s11 = flat[p], flat[p + k_step]
                s12, s13 = flat[p + 2 * k_step], flat[p + 3 * k_step]
                p += row_step
                s20, s21 = flat[p], flat[p + k_step]
                s22, s23 = flat[p + 2 * k_step], flat[p + 3 * k_step]
                p += row_step
                s30, s31 = flat[p], flat[p + k_step]
                s32, s33 = flat[p + 2 * k_step], flat[p + 3 * k_step]
                for j in range(n_cols):
                    v0, v1, v2, v3 = b0[j], b1[j], b2[j], b3[j]
                    o0[j] += s00 * v0 + s01 * v1 + s02 * v2 + s03 * v3
                    o1[j] += s10 * v0 + s11 * v1 + s12 * v2 + s13 * v3
                    o2[j] += s20 * v0 + s21 * v1 + s22 * v2 + s23 * v3
                    o3[j] += s30 * v0 + s31 * v1 + s32 * v2 + s33 * v3
                k += 4
            while k < n_inner:
                b0 = b[k]
                p = r * row_step + k * k_step
                s0, s1 = flat[p], flat[p + row_step]
                s2, s3 = flat[p + 2 * row_step], flat[p + 3 * row_step]
                for j in range(n_cols):
                    v0 = b0[j]
                    o0[j] += s0 * v0
                    o1[j] += s1 * v0
                    o2[j] += s2 * v0
                    o3[j] += s3 * v0
                k += 1
        else:
            # A row left over (the only one at batch size 1): four rows of
            # ``b`` per pass over it.
            r = n_full * ROWS + (blk - n_full)
            row = out[r]
            row[:] = 0
            k = 0
            while k + 4 <= n_inner:
                p = r * row_step + k * k_step
                s0, s1 = flat[p], flat[p + k_step]
                s2, s3 = flat[p + 2 * k_step], flat[p + 3 * k_step]
                b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
                for j in range(n_cols):
                    row[j] += s0 * b0[j] + s1 * b1[j] + s2 * b2[j] + s3 * b3[j]
                k += 4
            while k < n_inner:
                s0 = flat[r * row_step + k * k_step]
                b0 = b[k]
                for j in range(n_cols):
                    row[j] += s0 * b0[j]
                k += 1


@kernel(parallel=True)
def matmul_nt(a, b, out):
    """``out = a @ b.T`` for C-contiguous 2-D arrays, without a transpose copy.

    Every entry is a dot product of two contiguous rows.  A block of four
    rows of ``a`` times four rows of ``b`` keeps sixteen sums in registers
    (vectorised along the inner dimension): eight loads serve sixteen
    multiply-adds.  A block at the edge repeats the last row (or column)
    in place of the missing ones and stores the same entry more than once,
    so that one loop serves every shape.
    """
    n_rows, n_inner = a.shape
    n_cols = b.shape[0]
    zero = np.zeros(1, out.dtype)[0]  # a zero of the output's dtype
    last_row = n_rows - 1
    last_col = n_cols - 1
    for blk in prange((n_rows + ROWS - 1) // ROWS):
        r0 = blk * ROWS
        r1, r2, r3 = min(r0 + 1, last_row), min(r0 + 2, last_row), min(r0 + 3, last_row)
        a0, a1, a2, a3 = a[r0], a[r1], a[r2], a[r3]
        for c0 in range(0, n_cols, 4):
            c1, c2, c3 = min(c0 + 1, last_col), min(c0 + 2, last_col), min(c0 + 3, last_col)
            b0, b1, b2, b3 = b[c0], b[c1], b[c2], b[c3]
            s00 = s01 = s02 = s03 = zero
            s10 = s11 = s12 = s13 = zero
            s20 = s21 = s22 = s23 = zero
            s30 = s31 = s32 = s33 = zero
            for k in range(n_inner):
                u0, u1, u2, u3 = a0[k], a1[k], a2[k], a3[k]
                v0, v1, v2, v3 = b0[k], b1[k], b2[k], b3[k]
                s00 += u0 * v0
                s01 += u0 * v1
                s02 += u0 * v2
                s03 += u0 * v3
                s10 += u1 * v0
                s11 += u1 * v1
                s12 += u1 * v2
                s13 += u1 * v3
                s20 += u2 * v0
                s21 += u2 * v1
                s22 += u2 * v2
                s23 += u2 * v3
                s30 += u3 * v0
                s31 += u3 * v1
                s32 += u3 * v2
                s33 += u3 * v3
            # In reverse, so that an entry repeated at an edge keeps the sum
            # of its own position.
            out[r3, c3], out[r3, c2], out[r3, c1], out[r3, c0] = s33, s32, s31, s30
            out[r2, c3], out[r2, c2], out[r2, c1], out[r2, c0] = s23, s22, s21, s20
            out[r1, c3], out[r1, c2], out[r1, c1], out[r1, c0] = s13, s12, s11, s10
            out[r0, c3], out[r0, c2], out[r0, c1], out[r0, c0] = s03, s02, s01, s00
