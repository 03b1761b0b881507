/**
 * GEMM throughput on one core, float32: the linear kernels (`linearForward`, and the backward's
 * `linearBackwardInput` + `linearBackwardWeight`) on the WebAssembly GEMM, at square sizes 256 and
 * 512 and at the real shapes of the default model and the hidden-256 model (N = B·T rows), beside
 * the JavaScript kernels (double accumulation) at 256 and 512. FLOPs: 2·N·K·O per product
 * (Kaplan et al. 2020), backward = 2 products.
 *
 * The WebAssembly kernels run on operands made by `kernelFloats`, inside the instance's memory, as
 * the model's tensors are. "copy %": what the same calls would add, as a share of their CPU time,
 * if every operand lived outside that memory and were copied in and its result out
 * (src/wasm/heap.ts), measured by timing those copies alone.
 * Best of several calls, by wall clock and by CPU time (process.cpuUsage), which other tenants of
 * this shared machine disturb far less; the load average is printed with the results.
 */
import { loadavg } from "node:os";
import { linearBackwardInput, linearBackwardInputJs, linearBackwardWeight, linearBackwardWeightJs, linearForward, linearForwardJs } from "../src/kernels/linear.js";
import { Random } from "../src/util/random.js";
import { kernelBuild, kernelFloats, wasmHeap } from "../src/wasm/heap.js";

function randomArray(n: number, stream: string): Float32Array {
  const rng = new Random(1, stream);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** Best-of timing: repeats `fn` until `minMs` has passed (at least 3 times); the fastest call in ms, by wall clock and by CPU time. */
function best(fn: () => void, minMs = 300): { wall: number; cpu: number } {
  fn(); // warm-up (JIT)
  const out = { wall: Infinity, cpu: Infinity };
  const start = performance.now();
  for (let i = 0; i < 3 || performance.now() - start < minMs; i++) {
    const [t0, c0] = [performance.now(), process.cpuUsage()];
    fn();
    const c = process.cpuUsage(c0);
    out.wall = Math.min(out.wall, performance.now() - t0);
    out.cpu = Math.min(out.cpu, (c.user + c.system) / 1000);
  }
  return out;
}

type Shape = { name: string; N: number; K: number; O: number };

interface Rates {
  forward: number;
  backward: number;
  /** The same by CPU time. */
  forwardCpu: number;
  backwardCpu: number;
  copyShare: number;
}

/** A copy of x made by `make` (the kernels' own memory, or an ordinary array). */
const copyOf = (x: Float32Array, make: (n: number) => Float32Array): Float32Array => {
  const y = make(x.length);
  y.set(x);
  return y;
};

function measure({ N, K, O }: Shape, js: boolean): Rates {
  const make = js ? (n: number) => new Float32Array(n) : kernelFloats;
  const inp = copyOf(randomArray(N * K, "inp"), make);
  const w = copyOf(randomArray(O * K, "w"), make);
  const dout = copyOf(randomArray(N * O, "dout"), make);
  const [out, dinp, dw] = [make(N * O), make(N * K), make(O * K)];
  const flops = 2 * N * K * O;
  const [fwd, bin, bw] = js ? [linearForwardJs, linearBackwardInputJs, linearBackwardWeightJs] : [linearForward, linearBackwardInput, linearBackwardWeight];
  const fwdMs = best(() => fwd(out, inp, w, N, K, O));
  const bwdMs = best(() => {
    bin(dinp, dout, w, N, K, O);
    bw(dw, dout, inp, N, K, O);
  });
  // The copies of one forward + backward if every operand lived outside the memory: in inp, w (fwd),
  // dout, w, dinp (bin), dout, inp, dw (bw); out out, dinp, dw.
  const heap = wasmHeap();
  const outside = [inp, w, dout, out, dinp, dw].map((x) => copyOf(x, (n) => new Float32Array(n)));
  const copyMs = best(() => {
    const [i, wo, d, o, di, dwo] = outside as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
    for (const [reads, written] of [[[i, wo], o], [[d, wo], di], [[d, i], dwo]] as const) {
      heap.reset();
      for (const x of reads) heap.read(x);
      if (written === o) heap.write(written);
      else heap.update(written);
      heap.finish();
    }
  });
  return {
    forward: flops / (fwdMs.wall * 1e6),
    backward: (2 * flops) / (bwdMs.wall * 1e6),
    forwardCpu: flops / (fwdMs.cpu * 1e6),
    backwardCpu: (2 * flops) / (bwdMs.cpu * 1e6),
    copyShare: copyMs.cpu / (fwdMs.cpu + bwdMs.cpu),
  };
}

/** The distinct (N, K, O) of a model's linear layers at global batch B, one device. */
function modelShapes(label: string, B: number, T: number, C: number, F: number, H: number, G: number, V: number): Shape[] {
  const N = B * T;
  const kv = (C / H) * G;
  return [
    { name: `${label} q, o`, N, K: C, O: C },
    { name: `${label} k, v`, N, K: C, O: kv },
    { name: `${label} gate, up`, N, K: C, O: F },
    { name: `${label} down`, N, K: F, O: C },
    { name: `${label} lm head`, N, K: C, O: V },
  ];
}

export async function run(): Promise<void> {
  console.log(`load average ${loadavg().map((x) => x.toFixed(1)).join(" ")} on this machine (2 cores, shared)`);
  const square = [256, 512].map((S) => ({ name: `square ${S}`, N: S, K: S, O: S }));
  const shapes = [...square, ...modelShapes("default", 8, 64, 64, 176, 4, 2, 256), ...modelShapes("h256", 8, 128, 256, 704, 8, 4, 256)];
  const fmt = (x: number): string => x.toFixed(1);
  const pair = (wall: number, cpu: number): string => `${fmt(wall).padStart(5)} (${fmt(cpu).padStart(5)})`;
  console.log(`WebAssembly GEMM: ${kernelBuild()} (PARASIM_FMA=0 picks the multiply-and-add build)`);
  console.log("GFLOP/s by wall clock (CPU time); copy %: what copying operands from outside the instance's memory would add");
  console.log("shape                 N     K     O      wasm fwd       wasm bwd   copy %        js fwd        js bwd");
  for (const s of shapes) {
    const wasm = measure(s, false);
    const js = s.name.startsWith("square") ? measure(s, true) : null;
    console.log(
      `${s.name.padEnd(18)} ${String(s.N).padStart(5)} ${String(s.K).padStart(5)} ${String(s.O).padStart(5)}  ${pair(wasm.forward, wasm.forwardCpu)}  ${pair(wasm.backward, wasm.backwardCpu)}  ${fmt(100 * wasm.copyShare).padStart(6)}` +
        (js ? `  ${pair(js.forward, js.forwardCpu)}  ${pair(js.backward, js.backwardCpu)}` : ""),
    );
  }
  console.log("target (issue): GEMM ≥ 20 GFLOP/s at 512");
}
