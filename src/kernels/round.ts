/**
 * 16-bit storage, emulated exactly on float32 buffers: a buffer "in bf16" or "in fp16" is a
 * Float32Array whose every element is a value of that format, put there by rounding (round to
 * nearest, ties to even, as a GPU's conversion does). Node 20 has no Float16Array, and a float32
 * holds every bf16 and fp16 value exactly, so the arithmetic on these buffers stays float32 (or
 * wider) and only what is stored is rounded.
 *
 * bf16 (Google Brain's bfloat16): float32's sign and 8 exponent bits, 7 stored mantissa bits,
 * precision p = 8, unit round-off u = 2^-8. fp16 (IEEE 754 binary16): 5 exponent bits, 10 stored
 * mantissa bits, p = 11, u = 2^-11, largest finite 65504, subnormals down to 2^-24.
 */
import type { Floats } from "./types.js";

export type Dtype = "fp32" | "bf16" | "fp16";

/** Bytes of one element of each dtype (on the wire and in device memory). */
export const DTYPE_BYTES: Record<Dtype, number> = { fp32: 4, bf16: 2, fp16: 2 };

/** Unit round-off u = 2^-p of each dtype (p: significand bits, the implicit one included). */
export const UNIT_ROUNDOFF: Record<Dtype, number> = { fp32: 2 ** -24, bf16: 2 ** -8, fp16: 2 ** -11 };

/** The bits of a float32 buffer, as unsigned integers (same memory). */
function bitsOf(buf: Float32Array): Uint32Array {
  return new Uint32Array(buf.buffer, buf.byteOffset, buf.length);
}

/**
 * Rounds every element to bf16 in place. On the bits: add 0x7FFF plus the lowest kept bit, then
 * clear the 16 dropped bits (ties go to the even kept value; a carry into the exponent is the
 * correct rounding up, and past the largest finite value it gives infinity). NaN stays NaN.
 */
export function roundToBf16(buf: Float32Array): void {
  const bits = bitsOf(buf);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    if ((b & 0x7fffffff) > 0x7f800000) bits[i] = ((b | 0x00400000) & 0xffff0000) >>> 0; // NaN: a quiet NaN
    else bits[i] = ((b + 0x7fff + ((b >>> 16) & 1)) & 0xffff0000) >>> 0;
  }
}

/** float32 bits of fp16's smallest normal 2^-14, and of 65520, the midpoint above fp16's largest finite 65504. */
const FP16_MIN_NORMAL_BITS = 0x38800000;
const FP16_OVERFLOW_BITS = 0x477ff000;
/** fp16's subnormal spacing 2^-24, and its inverse. */
const FP16_SUBNORMAL_STEP = 2 ** -24;
const FP16_SUBNORMAL_SCALE = 2 ** 24;

/**
 * Rounds every element to fp16 in place. Normal range: clear the 13 dropped mantissa bits with
 * round-half-even on the bits, as for bf16. From 65520 up (65520 is the tie between 65504 and
 * 2^16, and goes to the even one, 2^16, which overflows): infinity. Below 2^-14: the nearest
 * multiple of 2^-24, ties to even, computed exactly in double precision.
 */
export function roundToFp16(buf: Float32Array): void {
  const bits = bitsOf(buf);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    const sign = b & 0x80000000;
    const abs = b & 0x7fffffff;
    if (abs >= 0x7f800000) continue; // infinity or NaN
    if (abs >= FP16_OVERFLOW_BITS) bits[i] = (sign | 0x7f800000) >>> 0;
    else if (abs >= FP16_MIN_NORMAL_BITS) bits[i] = (sign | ((abs + 0xfff + ((abs >>> 13) & 1)) & 0x7fffe000)) >>> 0;
    else {
      const q = Math.abs(buf[i]!) * FP16_SUBNORMAL_SCALE;
      let r = Math.round(q); // halves go up; a tie that went to an odd multiple goes back down
      if (r - q === 0.5 && r % 2 === 1) r -= 1;
      buf[i] = sign ? -r * FP16_SUBNORMAL_STEP : r * FP16_SUBNORMAL_STEP;
    }
  }
}

/** Stores `buf` in `dtype`: rounds it in place (nothing to do for fp32, or for a float64 buffer, which only gradient checks use). */
export function storeAs(dtype: Dtype, buf: Floats): void {
  if (dtype === "fp32" || !(buf instanceof Float32Array)) return;
  if (dtype === "bf16") roundToBf16(buf);
  else roundToFp16(buf);
}
