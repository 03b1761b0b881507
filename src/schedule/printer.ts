/**
 * The schedule printer: a unit-time drawing of the compute actions, rows = ranks, columns =
 * time steps of the simulated run (free links). A compute action starting at time t and lasting
 * d steps shows its label in column t and `~` in the d − 1 columns after it; `.` is an idle step.
 * Communication actions take no time and are not drawn.
 *
 * Without costs every compute action (F, B, W and fused BW alike) lasts one step: a picture of
 * the order and the dependencies. With costs, one column is the largest step 1/k (k ≤ 24) that
 * divides every start and end time, so F = 1/2 draws one column per half unit.
 */
import { formatAction, isCompute, type Schedule } from "./actions.js";
import { rowLabel } from "./grid.js";
import { simulateSchedule, type CostModel, type SimulationResult } from "./simulate.js";

const UNIT: CostModel = () => 1;

/** The number of columns per unit of time, or undefined if no k ≤ 24 makes all times whole. */
function columnsPerUnit(sim: SimulationResult): number | undefined {
  const times = sim.timeline.flat().flatMap((t) => [t.start, t.end]);
  for (let k = 1; k <= 24; k++) {
    if (times.every((t) => Math.abs(t * k - Math.round(t * k)) < 1e-9)) return k;
  }
  return undefined;
}

export function formatSchedule(schedule: Schedule, costs: CostModel = UNIT): string {
  let sim = simulateSchedule(schedule, costs);
  let k = columnsPerUnit(sim);
  if (k === undefined) {
    sim = simulateSchedule(schedule, UNIT); // times not on a grid: fall back to the order picture
    k = 1;
  }
  const columns = Math.round(sim.makespan * k);
  const labels = schedule.flat().filter(isCompute).map(formatAction);
  const width = Math.max(1, ...labels.map((l) => l.length));
  return sim.timeline
    .map((row, r) => {
      const cells = new Array<string>(columns).fill(".");
      for (const t of row) {
        if (!isCompute(t.action)) continue;
        const from = Math.round(t.start * k);
        const to = Math.round(t.end * k);
        for (let c = from; c < to; c++) cells[c] = c === from ? formatAction(t.action) : "~".repeat(width);
      }
      return (rowLabel(r, schedule.length) + cells.map((c) => c.padEnd(width)).join(" ")).trimEnd();
    })
    .join("\n");
}
