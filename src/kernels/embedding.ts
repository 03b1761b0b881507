/**
 * Token embedding, backward: scatter-add into rows of a table [V,C] by Int32 token ids (the
 * forward, a row gather, is vocabEmbeddingForward in src/parallel/tp-vocab.ts).
 *
 * Legend: N rows (B·T), C channels, V vocabulary.
 */
import type { Floats } from "./types.js";

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
