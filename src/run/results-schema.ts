/**
 * The results JSON as zod schemas: what `parasim run --json` and `parasim compare --json` write,
 * documented in README.md ("Results JSON"). Users can validate files with them; the tests do.
 * Objects are open (extra fields allowed) so the format can grow without breaking readers.
 */
import { z } from "zod";

const bytesByKind = z.record(z.string(), z.number().nonnegative());
const seconds = z.number().nonnegative();

export const deviceReportSchema = z.object({
  rank: z.number().int().nonnegative(),
  ranks: z.number().int().positive(),
  coords: z.object({ dp: z.number().int(), pp: z.number().int(), tp: z.number().int() }),
  computeSeconds: seconds,
  commSeconds: seconds,
  idleSeconds: seconds,
  makespanSeconds: seconds,
  bytesSent: z.number().nonnegative(),
  bytesReceived: z.number().nonnegative(),
  bytesByKind,
  memory: z.object({
    parameters: z.number().nonnegative(),
    masterWeights: z.number().nonnegative(),
    gradients: z.number().nonnegative(),
    optimizerState: z.number().nonnegative(),
    activations: z.number().nonnegative(),
    workspace: z.number().nonnegative(),
    total: z.number().nonnegative(),
    capacity: z.number().positive(),
    fits: z.boolean(),
  }),
  peakStashed: z.number().int().nonnegative(),
});

export const runResultSchema = z.object({
  scenario: z.object({ name: z.string(), model: z.object({}).loose(), training: z.object({}).loose(), parallel: z.object({}).loose(), hardware: z.object({}).loose() }).loose(),
  losses: z.array(z.number()),
  lossScale: z.array(z.number().positive()).nullable(),
  skippedSteps: z.array(z.number().int().nonnegative()),
  finalLoss: z.number().nullable(),
  bitsPerByte: z.number().nullable(),
  wall: z.object({ seconds, tokensPerSecond: z.number().nonnegative() }),
  worldSize: z.number().int().positive(),
  simulated: z.object({ stepSeconds: seconds, tokensPerSecond: z.number().nonnegative() }),
  devices: z.array(deviceReportSchema),
  communication: z.object({ totalBytes: z.number().nonnegative(), bytesByKind }),
});

export const compareResultSchema = z.object({
  runs: z.array(
    runResultSchema.extend({
      layout: z.object({
        label: z.string(),
        dp: z.number().int().positive(),
        tp: z.number().int().positive(),
        pp: z.number().int().positive(),
        schedule: z.string(),
        virtualStages: z.number().int().positive(),
        sequenceParallel: z.boolean(),
        zero: z.number().int(),
        varied: z.record(z.string(), z.unknown()),
      }),
      metrics: z.object({
        mfu: z.number().nonnegative(),
        bubbleFraction: z.number().min(0).max(1),
        peakMemoryBytes: z.number().nonnegative(),
        fitsInMemory: z.boolean(),
        lossesAgree: z.boolean().nullable(),
      }),
    }),
  ),
  skipped: z.array(z.object({ layout: z.string(), reason: z.string() })),
  failed: z.array(z.object({ layout: z.string(), file: z.string(), reason: z.string() })),
});
