/**
 * Dynamic loss scaling for fp16 (Micikevicius et al. 2018; the rule of PyTorch's
 * torch.amp.GradScaler): the loss gradient is multiplied by a scale S before backward, so small
 * gradients do not flush to zero in fp16, and the optimizer divides it out. A step whose gradients
 * hold an inf or a NaN anywhere in the world is skipped by every rank and S is multiplied by the
 * backoff factor; after `growthInterval` clean steps in a row S is multiplied by the growth factor.
 *
 * Every rank decides from the same number, the global squared gradient norm (all-reduced over
 * every group; one non-finite element anywhere makes it non-finite everywhere), so the ranks'
 * scalers stay identical without a collective of their own.
 */
import type { Scenario } from "../scenario/schema.js";

export interface LossScaleSettings {
  initial: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
}

/** The settings of a run that scales its loss (fp16), or null (fp32, bf16). */
export function lossScaleSettings(training: Scenario["training"]): LossScaleSettings | null {
  if (training.precision !== "fp16") return null;
  return training.lossScale ?? { initial: 2 ** 16, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000 };
}

export class LossScaler {
  /** The scale the current step's backward uses. */
  scale: number;
  private cleanSteps = 0;

  constructor(private readonly settings: LossScaleSettings) {
    this.scale = settings.initial;
  }

  /** After a step: back off if its gradients were not finite, else count it and grow on schedule. */
  update(finite: boolean): void {
    if (!finite) {
      this.scale *= this.settings.backoffFactor;
      this.cleanSteps = 0;
      return;
    }
    this.cleanSteps += 1;
    if (this.cleanSteps === this.settings.growthInterval) {
      this.scale *= this.settings.growthFactor;
      this.cleanSteps = 0;
    }
  }
}
