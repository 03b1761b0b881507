/**
 * Single-precision GEMM with packed panels and a register-blocked micro-kernel (the blocking of
 * Goto & van de Geijn, "Anatomy of High-Performance Matrix Multiplication", ACM TOMS 2008):
 *
 *   C[M,N] = beta·C + op(A)[M,K] · op(B)[K,N]        (beta 0 or 1)
 *
 * Operands are addressed by strides in elements, so one routine serves A·Bᵀ, A·B and Aᵀ·B:
 * op(A)(i,p) = A[i·ars + p·acs], op(B)(p,j) = B[p·brs + j·bcs], C(i,j) = C[i·ldc + j].
 *
 * Blocking: K in chunks of KC, N in chunks of NC (a KC×NC panel of B, ≤ 512 KiB, stays in L2),
 * M in chunks of MC (an MC×KC block of A, 96 KiB); inside them an MR×NR tile of C lives in 8
 * v128 registers while the micro-kernel streams an MR-row sliver of A and an NR-column sliver of B.
 * 4×8 measured fastest on Node 20 (x64, ~40 GFLOP/s of CPU time at 512 with a multiply and an add,
 * ~51 with the fused multiply-add of `madd`): 6×8 (12 accumulators)
 * ran at ~27 and 5×8 at ~22, as V8 then spills registers; unrolling the k loop by 2 also lost.
 * Every element of C is a sum in float32 taken in increasing p, so the result depends only on
 * the shapes: reruns are bit-identical.
 */

export const MR: i32 = 4;
export const NR: i32 = 8;
export const KC: i32 = 256;
export const MC: i32 = 96;
export const NC: i32 = 512;

/** Floats of scratch a gemm call needs at `work`: packed A, packed B, one edge tile. */
export const GEMM_WORK_FLOATS: i32 = MC * KC + KC * NC + MR * NR;

/** Packs rows [i0, i0+mc) × cols [p0, p0+kc) of op(A) as MR-row slivers, k-major; rows past M are 0. */
function packA(dst: usize, a: usize, ars: i32, acs: i32, M: i32, i0: i32, mc: i32, p0: i32, kc: i32): void {
  for (let ir = 0; ir < mc; ir += MR) {
    const sliver = dst + <usize>(ir * kc) * 4;
    const i = i0 + ir;
    if (i + MR <= M && ars == 1) packColumns(sliver, a + <usize>(i + p0 * acs) * 4, <usize>acs * 4, kc);
    else if (i + MR <= M && acs == 1) packRows4(sliver, a + <usize>(i * ars + p0) * 4, <usize>ars * 4, kc, MR);
    else packScalar(sliver, a, ars, acs, M, i, p0, kc, MR);
  }
}

/**
 * A sliver whose 4 rows are contiguous in memory (op(A) = Aᵀ of a row-major A, as in a weight
 * gradient): each k step is one vector, `step` bytes after the previous one.
 */
// @ts-ignore: decorator
@inline
function packColumns(sliver: usize, src: usize, step: usize, kc: i32): void {
  for (let p = 0; p < kc; p++) {
    v128.store(sliver + <usize>(p * MR) * 4, v128.load(src));
    src += step;
  }
}

/**
 * Four rows, each contiguous along k and `rowStep` bytes apart, into `width`-float k-major rows of
 * a sliver: 4×4 blocks transposed in registers, the tail (kc mod 4) one element at a time.
 */
function packRows4(dst: usize, src: usize, rowStep: usize, kc: i32, width: i32): void {
  let p = 0;
  for (; p + 4 <= kc; p += 4) {
    const s = src + <usize>p * 4;
    const r0 = v128.load(s), r1 = v128.load(s + rowStep), r2 = v128.load(s + 2 * rowStep), r3 = v128.load(s + 3 * rowStep);
    const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5), t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
    const t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5), t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
    const d = dst + <usize>(p * width) * 4;
    const row = <usize>width * 4;
    v128.store(d, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
    v128.store(d + row, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
    v128.store(d + 2 * row, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
    v128.store(d + 3 * row, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
  }
  for (; p < kc; p++) {
    for (let r = 0; r < 4; r++) store<f32>(dst + <usize>(p * width + r) * 4, load<f32>(src + <usize>r * rowStep + <usize>p * 4));
  }
}

/**
 * Any strides, one element at a time: `width` rows (or columns) starting at row i of op(X)(i,p) =
 * X[i·rs + p·cs], k-major; those past `limit` are 0. (A call packs op(B) as op(A) of Bᵀ.)
 */
function packScalar(sliver: usize, x: usize, rs: i32, cs: i32, limit: i32, i: i32, p0: i32, kc: i32, width: i32): void {
  for (let r = 0; r < width; r++) {
    if (i + r >= limit) {
      for (let p = 0; p < kc; p++) store<f32>(sliver + <usize>(p * width + r) * 4, 0);
      continue;
    }
    let src = x + <usize>((i + r) * rs + p0 * cs) * 4;
    const step = <usize>cs * 4;
    for (let p = 0; p < kc; p++) {
      store<f32>(sliver + <usize>(p * width + r) * 4, load<f32>(src));
      src += step;
    }
  }
}

/** Packs rows [p0, p0+kc) × cols [j0, j0+nc) of op(B) as NR-column slivers, k-major; cols past N are 0. */
function packB(dst: usize, b: usize, brs: i32, bcs: i32, N: i32, j0: i32, nc: i32, p0: i32, kc: i32): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const sliver = dst + <usize>(jr * kc) * 4;
    const j = j0 + jr;
    if (j + NR <= N && bcs == 1) packRowPairs(sliver, b + <usize>(p0 * brs + j) * 4, <usize>brs * 4, kc);
    else if (j + NR <= N && brs == 1) {
      // Columns contiguous along k (op(B) = Wᵀ of a row-major weight): two groups of four.
      packRows4(sliver, b + <usize>(j * bcs + p0) * 4, <usize>bcs * 4, kc, NR);
      packRows4(sliver + 16, b + <usize>((j + 4) * bcs + p0) * 4, <usize>bcs * 4, kc, NR);
    } else packScalar(sliver, b, bcs, brs, N, j, p0, kc, NR);
  }
}

/** Rows of B contiguous along j: NR floats of each k step as two vectors. */
// @ts-ignore: decorator
@inline
function packRowPairs(sliver: usize, src: usize, step: usize, kc: i32): void {
  for (let p = 0; p < kc; p++) {
    const d = sliver + <usize>(p * NR) * 4;
    v128.store(d, v128.load(src));
    v128.store(d, v128.load(src, 16), 16);
    src += step;
  }
}

/**
 * c + a·b for 4 lanes: one fused multiply-add where the module is built with relaxed SIMD
 * (kernels-fma.wasm: the product is not rounded before the add, one rounding fewer per term),
 * else a multiply and an add. src/wasm/heap.ts loads the fused build when the engine takes it.
 */
// @ts-ignore: decorator
@inline
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/**
 * The MR×NR tile: t = Σ_p ap[p,:]ᵀ·bp[p,:] over kc steps, then C tile = t (add = 0) or C + t.
 * `c` rows are `ldc` floats apart. Four rows × two vectors = 8 accumulators.
 */
// @ts-ignore: decorator
@inline
function microKernel(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, add: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    ap += MR * 4;
    bp += NR * 4;
  }
  const row = <usize>ldc * 4;
  storeRow(c, c00, c01, add); c += row;
  storeRow(c, c10, c11, add); c += row;
  storeRow(c, c20, c21, add); c += row;
  storeRow(c, c30, c31, add);
}

// @ts-ignore: decorator
@inline
function storeRow(c: usize, v0: v128, v1: v128, add: bool): void {
  if (add) {
    v0 = f32x4.add(v128.load(c), v0);
    v1 = f32x4.add(v128.load(c, 16), v1);
  }
  v128.store(c, v0);
  v128.store(c, v1, 16);
}

/** A tile that sticks out of C: computed into `tile` (MR×NR), then its rows × cols part stored or added. */
function edgeTile(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, add: bool, rows: i32, cols: i32, tile: usize): void {
  microKernel(kc, ap, bp, tile, NR, false);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const dst = c + <usize>(r * ldc + j) * 4;
      const t = load<f32>(tile + <usize>(r * NR + j) * 4);
      store<f32>(dst, add ? load<f32>(dst) + t : t);
    }
  }
}

/** See the file comment. `work` holds GEMM_WORK_FLOATS floats. */
export function gemm(
  M: i32, N: i32, K: i32,
  a: usize, ars: i32, acs: i32,
  b: usize, brs: i32, bcs: i32,
  c: usize, ldc: i32, beta: i32,
  work: usize,
): void {
  const packedA = work;
  const packedB = work + <usize>(MC * KC) * 4;
  const tile = packedB + <usize>(KC * NC) * 4;
  if (K == 0 && beta == 0) {
    for (let i = 0; i < M; i++) memory.fill(c + <usize>(i * ldc) * 4, 0, <usize>N * 4);
    return;
  }
  for (let j0 = 0; j0 < N; j0 += NC) {
    const nc = min(NC, N - j0);
    for (let p0 = 0; p0 < K; p0 += KC) {
      const kc = min(KC, K - p0);
      const add = p0 > 0 || beta != 0;
      packB(packedB, b, brs, bcs, N, j0, nc, p0, kc);
      for (let i0 = 0; i0 < M; i0 += MC) {
        const mc = min(MC, M - i0);
        packA(packedA, a, ars, acs, M, i0, mc, p0, kc);
        for (let jr = 0; jr < nc; jr += NR) {
          const bp = packedB + <usize>(jr * kc) * 4;
          const cols = min(NR, nc - jr);
          for (let ir = 0; ir < mc; ir += MR) {
            const ap = packedA + <usize>(ir * kc) * 4;
            const rows = min(MR, mc - ir);
            const ct = c + <usize>((i0 + ir) * ldc + j0 + jr) * 4;
            if (rows == MR && cols == NR) microKernel(kc, ap, bp, ct, ldc, add);
            else edgeTile(kc, ap, bp, ct, ldc, add, rows, cols, tile);
          }
        }
      }
    }
  }
}
