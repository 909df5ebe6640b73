"""Register-blocked direct convolution for layers with many channels.

The same operations as :mod:`.conv`, on the same batch-innermost layout
(inputs ``(c, h, w, b)``, outputs and errors ``(k, oh, ow, b)``, weights
``(k, c, m, n)``), organised as in the direct convolutions of LIBXSMM and
oneDNN: the innermost step updates a tile of several output channels
times several vectors of output elements, whose sums stay in vector
registers from the first tap to the last.  Each input vector loaded
serves every output channel of the tile and each weight serves every
vector, so the loop is bound by multiply-adds rather than by loads and
stores.

The tiles are written as explicit LLVM vector operations (numba
intrinsics) of one cache line (64 bytes: 16 float32 or 8 float64 values):
LLVM's loop vectoriser keeps to 256-bit registers on Intel CPUs with
AVX-512, and would not keep a whole tile of sums in registers anyway.  On
a CPU with narrower vectors LLVM splits each operation into several.

Any C-contiguous array will do; on arrays that start on a cache line
(as the functional tier allocates large ones) no vector spans two lines,
which makes the kernels 10-40% faster.

Each output element is summed by one task, tap after tap in a fixed order
(the lanes of a weight-gradient sum are added in a fixed order too), so
results do not depend on the number of threads.

These kernels cost more to compile than those of :mod:`.conv` and only win
for layers with many output channels: the layers choose between the two
by the shape (:mod:`fastlayers.functional._conv_choice`), and numba
compiles a kernel only when it is first called.
"""

import llvmlite.ir as ir
import numpy as np
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import kernel
from .conv import _by_column_stride, _tap_rows

# Bytes of one vector of the tiles: a cache line, and the width of AVX-512.
VECTOR_BYTES = 64


def _vector_type(context, dtype):
    scalar = context.get_data_type(dtype)
    return scalar, ir.VectorType(scalar, VECTOR_BYTES * 8 // dtype.bitwidth)


def _load_vector(builder, base, offset, vector, itemsize):
    # An unaligned vector load of base[offset : offset + lanes].
    pointer = builder.bitcast(builder.gep(base, [offset]), vector.as_pointer())
    return builder.load(pointer, align=itemsize)


def _store_vector(builder, value, base, offset, itemsize):
    pointer = builder.bitcast(builder.gep(base, [offset]), value.type.as_pointer())
    builder.store(value, pointer, align=itemsize)


def _splat(builder, scalar, vector):
    lanes = vector.count
    one = builder.insert_element(
        ir.Constant(vector, ir.Undefined), scalar, ir.Constant(ir.IntType(32), 0)
    )
    mask = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
    return builder.shuffle_vector(one, ir.Constant(vector, ir.Undefined), mask)


def _fma(builder, a, b, c):
    # a * b + c with one rounding, lane by lane.
    vector = a.type
    suffix = f"v{vector.count}f{64 if isinstance(vector.element, ir.DoubleType) else 32}"
    fn_type = ir.FunctionType(vector, [vector, vector, vector])
    fn = cgutils.get_or_insert_function(builder.module, fn_type, f"llvm.fma.{suffix}")
    return builder.call(fn, [a, b, c])


def _data(context, builder, array_type, value):
    return context.make_array(array_type)(context, builder, value).data


def _correlate_tile(n_out, n_vec):
    """Intrinsic ``tile(x, x_base, offsets, t0, t1, w, w_base, out, out_base, out_step)``.

    For ``r < n_out`` and the ``n_vec * lanes`` elements ``e`` of the tile::

        out[out_base + r * out_step + e] += sum over t0 <= t < t1 of
            w[w_base + t * n_out + r] * x[x_base + offsets[t] + e]

    with one fused multiply-add per tap, in tap order.  The sums stay in
    ``n_out * n_vec`` vector registers; ``w`` holds the tile's weights
    tap-major, so the ``n_out`` weights of a tap are adjacent.
    """

    @intrinsic
    def tile(typingctx, x, x_base, offsets, t0, t1, w, w_base, out, out_base, out_step):
        i = types.intp
        sig = types.void(x, i, offsets, i, i, w, i, out, i, i)

        def codegen(context, builder, signature, args):
            xv, x_base, offv, t0, t1, wv, w_base, outv, out_base, out_step = args
            dtype = signature.args[0].dtype
            _, vector = _vector_type(context, dtype)
            item = dtype.bitwidth // 8
            lanes = vector.count
            index = context.get_value_type(types.intp)
            x_data = _data(context, builder, signature.args[0], xv)
            off_data = _data(context, builder, signature.args[2], offv)
            w_data = _data(context, builder, signature.args[5], wv)
            out_data = _data(context, builder, signature.args[7], outv)
            # Sums in stack slots, which LLVM promotes to registers.
            rows = []
            sums = []
            for r in range(n_out):
                row = builder.add(out_base, builder.mul(out_step, ir.Constant(index, r)))
                rows.append(row)
                slots = []
                for v in range(n_vec):
                    slot = cgutils.alloca_once(builder, vector)
                    offset = builder.add(row, ir.Constant(index, v * lanes))
                    builder.store(_load_vector(builder, out_data, offset, vector, item), slot)
                    slots.append(slot)
                sums.append(slots)
            with cgutils.for_range_slice(builder, t0, t1, ir.Constant(index, 1)) as (t, _):
                start = builder.add(x_base, builder.load(builder.gep(off_data, [t])))
                inputs = [
                    _load_vector(
                        builder,
                        x_data,
                        builder.add(start, ir.Constant(index, v * lanes)),
                        vector,
                        item,
                    )
                    for v in range(n_vec)
                ]
                w_row = builder.add(w_base, builder.mul(t, ir.Constant(index, n_out)))
                for r in range(n_out):
                    weight = builder.load(
                        builder.gep(w_data, [builder.add(w_row, ir.Constant(index, r))])
                    )
                    wide = _splat(builder, weight, vector)
                    for v in range(n_vec):
                        slot = sums[r][v]
                        builder.store(_fma(builder, wide, inputs[v], builder.load(slot)), slot)
            for r in range(n_out):
                for v in range(n_vec):
                    offset = builder.add(rows[r], ir.Constant(index, v * lanes))
                    _store_vector(builder, builder.load(sums[r][v]), out_data, offset, item)
            return context.get_dummy_value()

        return sig, codegen

    return tile


def _dot_tile(n_err, n_in):
    """Intrinsic ``tile(e, e_starts, x, x_starts, n_vec, row0, row1, e_step, x_step, part)``.

    For ``r < n_err``, ``s < n_in`` and each lane ``l``::

        part[(r * n_in + s) * lanes + l] += sum over row0 <= y < row1 and q < n_vec of
            e[e_starts[r] + y * e_step + q * lanes + l]
            * x[x_starts[s] + y * x_step + q * lanes + l]

    one fused multiply-add per term, rows then vectors in order.  The
    ``n_err * n_in`` vectors of partial sums stay in registers.
    """

    @intrinsic
    def tile(typingctx, e, e_starts, x, x_starts, n_vec, row0, row1, e_step, x_step, sums):
        i = types.intp
        sig = types.void(e, e_starts, x, x_starts, i, i, i, i, i, sums)

        def codegen(context, builder, signature, args):
            ev, e_startv, xv, x_startv, n_vec, row0, row1, e_step, x_step, sumsv = args
            dtype = signature.args[0].dtype
            _, vector = _vector_type(context, dtype)
            item = dtype.bitwidth // 8
            lanes = vector.count
            index = context.get_value_type(types.intp)
            e_data = _data(context, builder, signature.args[0], ev)
            x_data = _data(context, builder, signature.args[2], xv)
            e_start_data = _data(context, builder, signature.args[1], e_startv)
            x_start_data = _data(context, builder, signature.args[3], x_startv)
            sums_data = _data(context, builder, signature.args[9], sumsv)
            e_starts = [
                builder.load(builder.gep(e_start_data, [ir.Constant(index, r)]))
                for r in range(n_err)
            ]
            x_starts = [
                builder.load(builder.gep(x_start_data, [ir.Constant(index, s)]))
                for s in range(n_in)
            ]
            acc = []
            for r in range(n_err):
                row = []
                for s in range(n_in):
                    slot = cgutils.alloca_once(builder, vector)
                    offset = ir.Constant(index, (r * n_in + s) * lanes)
                    builder.store(_load_vector(builder, sums_data, offset, vector, item), slot)
                    row.append(slot)
                acc.append(row)
            one = ir.Constant(index, 1)
            with cgutils.for_range_slice(builder, row0, row1, one) as (y, _):
                e_row = builder.mul(y, e_step)
                x_row = builder.mul(y, x_step)
                with cgutils.for_range(builder, n_vec) as loop:
                    p = builder.mul(loop.index, ir.Constant(index, lanes))
                    e_vec = [
                        _load_vector(
                            builder, e_data, builder.add(builder.add(start, e_row), p), vector, item
                        )
                        for start in e_starts
                    ]
                    x_vec = [
                        _load_vector(
                            builder, x_data, builder.add(builder.add(start, x_row), p), vector, item
                        )
                        for start in x_starts
                    ]
                    for r in range(n_err):
                        for s in range(n_in):
                            slot = acc[r][s]
                            builder.store(
                                _fma(builder, e_vec[r], x_vec[s], builder.load(slot)), slot
                            )
            for r in range(n_err):
                for s in range(n_in):
                    offset = ir.Constant(index, (r * n_in + s) * lanes)
                    _store_vector(builder, builder.load(acc[r][s]), sums_data, offset, item)
            return context.get_dummy_value()

        return sig, codegen

    return tile


# Forward tiles: up to OUT_BLOCK output channels times several vectors of
# output elements, about 24 of the 32 AVX-512 registers holding sums (a
# group of fewer channels takes more vectors); a row's last few vectors
# take single-vector tiles.
OUT_BLOCK = 6
_TILE_VECTORS = (8, 8, 8, 6, 4, 4)  # by the number of channels, 1 to 6
_T1, _T2, _T3, _T4, _T5, _T6 = (
    _correlate_tile(r, _TILE_VECTORS[r - 1]) for r in range(1, OUT_BLOCK + 1)
)
_S1, _S2, _S3, _S4, _S5, _S6 = (_correlate_tile(r, 1) for r in range(1, OUT_BLOCK + 1))
# Taps per pass over a row: the input runs they read (at most 8 vectors
# each) stay in the L1 cache while every group of channels passes over them.
TAP_CHUNK = 64
# Groups of channels per task.
GROUPS_PER_TASK = 4


@kernel
def _tile(size, wide, x, x_base, offsets, t0, t1, w, w_base, out, out_base, out_step):
    # The tile of ``size`` channels, its full width or (wide False) one vector.
    if wide:
        if size == 6:
            _T6(x, x_base, offsets, t0, t1, w, w_base, out, out_base, out_step)
        elif size == 5:
            _T5(x, x_base, offsets, t0, t1, w, w_base, out, out_base, out_step)
        elif size == 4:
            _T4(x, x_base, offsets, t0, t1, w, w_base, out, out_base, out_step)
        elif size == 3:
            _T3(x, x_base, offsets, t0, t1, w, w_base, out, out_base, out_step)
        elif size == 2:
            _T2(x, x_base, offsets, t0, t1, w, w_base, out, out_base, out_step)
        else:
            _T1(x, x_base, offsets, t0, t1, w, w_base, out, out_base, out_step)
    else:
        if size == 6:
            _S6(x, x_base, offsets, t0, t1, w, w_base, out, out_base, out_step)
        elif size == 5:
            _S5(x, x_base, offsets, t0, t1, w, w_base, out, out_base, out_step)
        elif size == 4:
            _S4(x, x_base, offsets, t0, t1, w, w_base, out, out_base, out_step)
        elif size == 3:
            _S3(x, x_base, offsets, t0, t1, w, w_base, out, out_base, out_step)
        elif size == 2:
            _S2(x, x_base, offsets, t0, t1, w, w_base, out, out_base, out_step)
        else:
            _S1(x, x_base, offsets, t0, t1, w, w_base, out, out_base, out_step)


@kernel
def _tile_vectors(size):
    if size >= 5:
        return 4
    if size == 4:
        return 6
    return 8


@kernel(parallel=True)
def conv2d_forward_blocked(xp, weights, bias, stride_y, stride_x, out):
    """:func:`fastlayers.kernels.conv2d_forward` with register-blocked tiles.

    ``out[k, oy, ox, :] = bias[k] + sum_{c,i,j} weights[k, c, i, j]
    * xp[c, oy * stride_y + i, ox * stride_x + j, :]``

    Parameters
    ----------
    xp : ndarray, shape (c, hp, wp, b)
        Zero-padded input, C-contiguous.
    weights : ndarray, shape (k, c, m, n)
        C-contiguous.
    bias : ndarray, shape (k,)
    stride_y, stride_x : int
    out : ndarray, shape (k, oh, ow, b)
        C-contiguous, written in full; ``(oh - 1) * stride_y + m <= hp``
        must hold (likewise for the columns).
    """
    n_kern, out_h, out_w, n_batch = out.shape
    n_chan, padded_h, padded_w = xp.shape[0], xp.shape[1], xp.shape[2]
    k_h, k_w = weights.shape[2], weights.shape[3]
    offsets = _tap_rows(n_chan, k_h, k_w, padded_h, padded_w) * n_batch
    n_taps = offsets.size
    w_flat = weights.reshape(n_kern, n_taps)
    x_flat = xp.reshape(xp.size)
    out_flat = out.reshape(out.size)
    lanes = VECTOR_BYTES // out.itemsize
    n_groups = (n_kern + OUT_BLOCK - 1) // OUT_BLOCK
    # The weights of each group of channels tap-major: a tap's weights for
    # the group's channels are adjacent, read one after another.
    packed = np.empty(n_groups * n_taps * OUT_BLOCK, weights.dtype)
    for g in range(n_groups):
        size = min(OUT_BLOCK, n_kern - g * OUT_BLOCK)
        for t in range(n_taps):
            for r in range(size):
                packed[g * n_taps * OUT_BLOCK + t * size + r] = w_flat[g * OUT_BLOCK + r, t]
    row = out_w * n_batch
    plane = out_h * row
    # At unit column stride the input a tap meets along a whole output row
    # is one contiguous run, as is the output row: a segment is the row.
    # At larger strides a segment is one output pixel (its batch).
    n_segments = 1 if stride_x == 1 else out_w
    segment = row // n_segments
    n_supers = (n_groups + GROUPS_PER_TASK - 1) // GROUPS_PER_TASK
    for task in prange(out_h * n_supers):
        # Row-major tasks: a thread's consecutive tasks read the same input
        # rows, which stay in its caches.
        oy = task // n_supers
        g_first = (task % n_supers) * GROUPS_PER_TASK
        g_stop = min(n_groups, g_first + GROUPS_PER_TASK)
        for k in range(g_first * OUT_BLOCK, min(n_kern, g_stop * OUT_BLOCK)):
            out[k, oy] = bias[k]
        for q in range(n_segments):
            x_base = (oy * stride_y * padded_w + q * stride_x) * n_batch
            for t0 in range(0, n_taps, TAP_CHUNK):
                t1 = min(n_taps, t0 + TAP_CHUNK)
                # Each group's tiles along the segment; consecutive groups
                # of the task reuse the chunk's input runs from the cache.
                for g in range(g_first, g_stop):
                    k0 = g * OUT_BLOCK
                    size = min(OUT_BLOCK, n_kern - k0)
                    w_base = g * n_taps * OUT_BLOCK
                    o_base = k0 * plane + oy * row + q * segment
                    tile_len = _tile_vectors(size) * lanes
                    e = 0
                    while e + tile_len <= segment:
                        # fmt: off
                        _tile(size, True, x_flat, x_base + e, offsets, t0, t1, packed, w_base,
                              out_flat, o_base + e, plane)
                        # fmt: on
                        e += tile_len
                    while e + lanes <= segment:
                        # fmt: off
                        _tile(size, False, x_flat, x_base + e, offsets, t0, t1, packed, w_base,
                              out_flat, o_base + e, plane)
                        # fmt: on
                        e += lanes
                    # The last few elements (fewer than a vector), one at a time.
                    for r in range(size):
                        for p in range(e, segment):
                            s = out_flat[o_base + r * plane + p]
                            for t in range(t0, t1):
                                s += packed[w_base + t * size + r] * x_flat[x_base + offsets[t] + p]
                            out_flat[o_base + r * plane + p] = s


# Weight-gradient tiles: GRAD_KERNELS error channels times GRAD_TAPS taps.
GRAD_KERNELS = 4
GRAD_TAPS = 6
_DOT = _dot_tile(GRAD_KERNELS, GRAD_TAPS)
# Bytes of errors that a block of weight-gradient tasks shares (see below).
ERROR_BLOCK_BYTES = 1 << 19


def conv2d_grad_weights_blocked(xp, err, stride_y, stride_x, grad_w, grad_b):
    """:func:`fastlayers.kernels.conv2d_grad_weights` with register-blocked tiles.

    A plain Python function: at unit column stride it calls the blocked
    kernel, at other column strides the strided kernel of
    :func:`fastlayers.kernels.conv2d_grad_weights` (whose runs are single
    pixels, too short for the tiles).

    Parameters
    ----------
    xp : ndarray, shape (c, hp, wp, b)
        The padded input of the forward pass, C-contiguous.
    err : ndarray, shape (k, oh, ow, b)
        Error with respect to the output, C-contiguous.
    stride_y, stride_x : int
    grad_w : ndarray, shape (k, c, m, n)
        Written in full.
    grad_b : ndarray, shape (k,)
        Written in full.
    """
    call = conv2d_grad_weights_blocked.compiled_call
    kernel, args = call(xp, err, stride_y, stride_x, grad_w, grad_b)
    kernel(*args)


@kernel(parallel=True)
def _grad_weights_blocked(xp, err, stride_y, grad_w, grad_b):
    # grad_w[k, t] = sum over output rows oy of dot(err[k, oy], the run of
    # tap t along row oy).  Each task owns GRAD_KERNELS kernels times
    # GRAD_TAPS taps (any of the flattened (c, i, j), whose runs differ by
    # an offset) and keeps one partial sum per vector lane over all rows in
    # order, then adds the lanes in lane order.  A short last group repeats
    # a valid index; the duplicate sums are not stored.
    n_kern, out_h, out_w, n_batch = err.shape
    n_chan, padded_h, padded_w = xp.shape[0], xp.shape[1], xp.shape[2]
    k_h, k_w = grad_w.shape[2], grad_w.shape[3]
    tap_rows = _tap_rows(n_chan, k_h, k_w, padded_h, padded_w)
    n_taps = tap_rows.size
    x_flat = xp.reshape(xp.size)
    e_flat = err.reshape(err.size)
    gw_flat = grad_w.reshape(n_kern, n_taps)
    run = out_w * n_batch
    plane = out_h * run
    x_step = stride_y * padded_w * n_batch
    lanes = VECTOR_BYTES // err.itemsize
    n_vec = run // lanes
    n_kern_groups = (n_kern + GRAD_KERNELS - 1) // GRAD_KERNELS
    n_tap_groups = (n_taps + GRAD_TAPS - 1) // GRAD_TAPS
    # Tasks come in blocks of kernel groups whose errors fit in the L2
    # cache: a thread's consecutive tasks run every kernel group of a block
    # on one tap group, then on the next, so the input runs of a tap group
    # are read from memory once per block rather than once per kernel
    # group, and the block's errors stay in the cache.
    block = min(max(1, ERROR_BLOCK_BYTES // (GRAD_KERNELS * plane * err.itemsize)), n_kern_groups)
    for task in prange(n_kern_groups * n_tap_groups):
        first = (task // (block * n_tap_groups)) * block
        size = min(block, n_kern_groups - first)
        within = task - first * n_tap_groups
        k0 = (first + within % size) * GRAD_KERNELS
        t0 = (within // size) * GRAD_TAPS
        e_starts = np.empty(GRAD_KERNELS, np.intp)
        x_starts = np.empty(GRAD_TAPS, np.intp)
        for r in range(GRAD_KERNELS):
            e_starts[r] = min(k0 + r, n_kern - 1) * plane
        for s in range(GRAD_TAPS):
            x_starts[s] = tap_rows[min(t0 + s, n_taps - 1)] * n_batch
        part = np.zeros(GRAD_KERNELS * GRAD_TAPS * lanes, grad_w.dtype)
        _DOT(e_flat, e_starts, x_flat, x_starts, n_vec, 0, out_h, run, x_step, part)
        for r in range(min(GRAD_KERNELS, n_kern - k0)):
            for s in range(min(GRAD_TAPS, n_taps - t0)):
                lane_sums = part[(r * GRAD_TAPS + s) * lanes : (r * GRAD_TAPS + s + 1) * lanes]
                total = lane_sums[0]
                for lane in range(1, lanes):
                    total += lane_sums[lane]
                # The last elements of each row (fewer than a vector).
                for oy in range(out_h):
                    e0 = e_starts[r] + oy * run
                    x0 = x_starts[s] + oy * x_step
                    for p in range(n_vec * lanes, run):
                        total += e_flat[e0 + p] * x_flat[x0 + p]
                gw_flat[k0 + r, t0 + s] = total
            if t0 == 0:
                grad_b[k0 + r] = err[k0 + r].sum()


conv2d_grad_weights_blocked.compiled_call = _by_column_stride(_grad_weights_blocked)
