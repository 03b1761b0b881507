/**
 * The `faults:` section of a scenario: injected stragglers, slow links and a crash.
 *
 *   faults:
 *     slowDevice: { rank: 3, factor: 2 }             # or a list of them: that device computes 2× slower
 *     slowLink: [{ ranks: [4, 5], factor: 3 }, { node: 1, factor: 2 }]   # or one: links touching them
 *     crash: { rank: 1, step: 7 }                    # one: the run ends at its first crash
 *
 * `slowDevice` and `slowLink` take one entry or a list (a list of one, once validated). `crash`
 * is one entry: a crash ends the run, so a second could never happen. `node: N` stands for every
 * rank of node N (ranks N·devicesPerNode up to the next node's first).
 */
import { z } from "zod";
import { InputError } from "../errors.js";

const e = (text: string) => ({ error: (issue: { input?: unknown }) => (issue.input === undefined ? "is required" : text) });
const rank = () => z.number(e("must be a non-negative integer")).int(e("must be a non-negative integer")).min(0, e("must be a non-negative integer"));
const factor = () => z.number(e("must be a number > 0")).positive(e("must be a number > 0"));
/** One entry or a list of them; always a list once parsed. */
const oneOrList = <T extends z.ZodType>(item: T) => z.preprocess((v) => (v === undefined || Array.isArray(v) ? v : [v]), z.array(item));

const slowDeviceSchema = z.strictObject({ rank: rank(), factor: factor() });
const slowLinkSchema = z
  .strictObject({ ranks: z.array(rank(), e("must be a list of ranks")).min(1, "must name at least one rank").optional(), node: rank().optional(), factor: factor() })
  .refine((l) => (l.ranks === undefined) !== (l.node === undefined), "must name either ranks: [R, ...] or node: N, not both");

export const faultsSchema = z.strictObject({
  slowDevice: oneOrList(slowDeviceSchema).default([]),
  slowLink: oneOrList(slowLinkSchema).default([]),
  crash: z.strictObject({ rank: rank(), step: rank() }, e("must be one { rank: R, step: S }: a crash ends the run, so there is never a second")).optional(),
});

export type Faults = z.output<typeof faultsSchema>;
export type SlowLink = Faults["slowLink"][number];

/** The ranks a slow link entry names: its list, or every rank of its node. */
export function slowLinkRanks(link: SlowLink, devicesPerNode: number, worldSize: number): number[] {
  if (link.ranks) return link.ranks;
  const first = link.node! * devicesPerNode;
  return Array.from({ length: Math.max(0, Math.min(devicesPerNode, worldSize - first)) }, (_, k) => first + k);
}

/** Checks that every fault names a rank, node and step of the run (InputError naming the field). */
export function checkFaults(faults: Faults, world: { worldSize: number; devicesPerNode: number; steps: number }): void {
  const { worldSize, devicesPerNode, steps } = world;
  const checkRank = (field: string, r: number) => {
    if (r >= worldSize) throw new InputError(field, `must be a rank of the run, 0 to ${worldSize - 1} (dp·tp·pp = ${worldSize}), got ${r}`);
  };
  faults.slowDevice.forEach((d, i) => checkRank(`faults.slowDevice.${i}.rank`, d.rank));
  faults.slowLink.forEach((link, i) => {
    if (link.ranks) link.ranks.forEach((r, k) => checkRank(`faults.slowLink.${i}.ranks.${k}`, r));
    else {
      const nodes = Math.ceil(worldSize / devicesPerNode);
      if (link.node! >= nodes) throw new InputError(`faults.slowLink.${i}.node`, `must be a node of the run, 0 to ${nodes - 1} (${worldSize} ranks, ${devicesPerNode} per node), got ${link.node}`);
    }
  });
  const crash = faults.crash;
  if (crash) {
    checkRank("faults.crash.rank", crash.rank);
    if (crash.step >= steps) throw new InputError("faults.crash.step", `must be a step of the run, 0 to ${steps - 1} (training.steps = ${steps}), got ${crash.step}`);
  }
}
