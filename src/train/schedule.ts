/**
 * Learning rate: linear warm-up to `lr`, then cosine decay to `minLr` at the last step
 * (the schedule of Loshchilov & Hutter, "SGDR", as used for Llama: Touvron et al. 2023, §2.2).
 */
import type { OptimizerSection } from "../scenario/schema.js";

/** The learning rate of 0-based `step` out of `steps`. */
export function learningRate(opt: OptimizerSection, step: number, steps: number): number {
  if (step < opt.warmupSteps) return (opt.lr * (step + 1)) / opt.warmupSteps;
  const decaySteps = steps - opt.warmupSteps;
  // With a single decay step there is nothing to decay over: use the peak rate.
  if (decaySteps <= 1) return opt.lr;
  const progress = (step - opt.warmupSteps) / (decaySteps - 1);
  return opt.minLr + 0.5 * (opt.lr - opt.minLr) * (1 + Math.cos(Math.PI * progress));
}
