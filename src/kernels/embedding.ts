/**
 * Token embedding: gather rows of a table [V,C] by Int32 token ids.
 *
 * Legend: N rows (B·T), C channels, V vocabulary.
 */
import { InputError } from "../errors.js";
import type { Floats } from "./types.js";

/** out[N,C] = table[tokens[n], :]. Throws InputError for a token outside [0, V). */
export function embeddingForward(out: Floats, tokens: Int32Array, table: Floats, N: number, C: number, V: number): void {
  for (let n = 0; n < N; n++) {
    const t = tokens[n];
    if (!(t >= 0 && t < V)) throw new InputError(`tokens[${n}]`, `must be an integer in [0, ${V}), got ${t}`);
    out.set(table.subarray(t * C, t * C + C), n * C);
  }
}

/**
 * dtable[tokens[n], :] += dout[n, :]. Rows with the same token are summed in double first
 * (one Float64Array per distinct token, visited in sorted order) and stored once.
 */
export function embeddingBackward(dtable: Floats, dout: Floats, tokens: Int32Array, N: number, C: number): void {
  const order = Array.from({ length: N }, (_, i) => i).sort((a, b) => tokens[a] - tokens[b] || a - b);
  const acc = new Float64Array(C);
  let i = 0;
  while (i < N) {
    const tok = tokens[order[i]];
    acc.fill(0);
    for (; i < N && tokens[order[i]] === tok; i++) {
      const base = order[i] * C;
      for (let c = 0; c < C; c++) acc[c] += dout[base + c];
    }
    const tb = tok * C;
    for (let c = 0; c < C; c++) dtable[tb + c] += acc[c];
  }
}
