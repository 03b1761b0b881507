/**
 * Softmax cross-entropy over a vocabulary.
 *
 * Legend: N rows (B·T), V vocabulary.
 */
import { InputError } from "../errors.js";
import type { Floats } from "./types.js";

/**
 * losses[n] = logsumexp(logits[n,:]) − logits[n, targets[n]]; probs[N,V] = softmax(logits)
 * (saved for the backward). `probs` may be the same buffer as `logits`. Throws InputError for a
 * target outside [0, V).
 */
export function crossEntropyForward(
  losses: Floats,
  probs: Floats,
  logits: Floats,
  targets: Int32Array,
  N: number,
  V: number,
): void {
  for (let n = 0; n < N; n++) {
    const base = n * V;
    const target = targets[n];
    if (!(target >= 0 && target < V)) throw new InputError(`targets[${n}]`, `must be an integer in [0, ${V}), got ${target}`);
    const targetLogit = logits[base + target];
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (logits[base + i] > max) max = logits[base + i];
    let sum = 0;
    for (let i = 0; i < V; i++) sum += Math.exp(logits[base + i] - max);
    const logSum = Math.log(sum);
    for (let i = 0; i < V; i++) probs[base + i] = Math.exp(logits[base + i] - max - logSum);
    losses[n] = max + logSum - targetLogit;
  }
}

/**
 * dlogits += scale · (probs − onehot(targets)). `scale` is the gradient weight of each token's
 * loss, e.g. 1/(tokens in the global batch) for the gradient of the global mean.
 */
export function crossEntropyBackward(
  dlogits: Floats,
  probs: Floats,
  targets: Int32Array,
  scale: number,
  N: number,
  V: number,
): void {
  for (let n = 0; n < N; n++) {
    const base = n * V;
    const target = targets[n];
    for (let i = 0; i < V; i++) dlogits[base + i] += scale * (probs[base + i] - (i === target ? 1 : 0));
  }
}
