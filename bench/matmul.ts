/**
 * Matmul throughput of the plain-JavaScript linear kernels on one core, Float32 buffers:
 * forward (`linearForward`) and backward (`linearBackwardInput` + `linearBackwardWeight`) for
 * square sizes 256 and 512, in GFLOP/s, and the 512/256 ratio (ratios are what to compare
 * across runs; this machine is shared). FLOPs: 2·N·K·O per matmul (Kaplan et al.
 * 2020), backward = 2 matmuls.
 */
import { linearBackwardInput, linearBackwardWeight, linearForward } from "../src/kernels/linear.js";
import { Random } from "../src/util/random.js";

function randomArray(n: number, stream: string): Float32Array {
  const rng = new Random(1, stream);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** Best-of timing: repeats `fn` until `minMs` has passed (at least 3 times), returns the fastest call in ms. */
function best(fn: () => void, minMs = 400): number {
  fn(); // warm-up (JIT)
  let bestMs = Infinity;
  const start = performance.now();
  for (let i = 0; i < 3 || performance.now() - start < minMs; i++) {
    const t0 = performance.now();
    fn();
    bestMs = Math.min(bestMs, performance.now() - t0);
  }
  return bestMs;
}

function measure(S: number): { forward: number; backward: number } {
  const inp = randomArray(S * S, "inp");
  const w = randomArray(S * S, "w");
  const dout = randomArray(S * S, "dout");
  const out = new Float32Array(S * S);
  const dinp = new Float32Array(S * S);
  const dw = new Float32Array(S * S);
  const flops = 2 * S * S * S;
  const fwdMs = best(() => linearForward(out, inp, w, S, S, S));
  const bwdMs = best(() => {
    linearBackwardInput(dinp, dout, w, S, S, S);
    linearBackwardWeight(dw, dout, inp, S, S, S);
  });
  return { forward: flops / (fwdMs * 1e6), backward: (2 * flops) / (bwdMs * 1e6) };
}

export async function run(): Promise<void> {
  const r256 = measure(256);
  const r512 = measure(512);
  const fmt = (x: number): string => x.toFixed(2);
  console.log("size  forward GFLOP/s  backward GFLOP/s");
  console.log(` 256  ${fmt(r256.forward).padStart(15)}  ${fmt(r256.backward).padStart(16)}`);
  console.log(` 512  ${fmt(r512.forward).padStart(15)}  ${fmt(r512.backward).padStart(16)}`);
  console.log(`ratio 512/256: forward ${fmt(r512.forward / r256.forward)}, backward ${fmt(r512.backward / r256.backward)}`);
}
