/**
 * Drawing action lists as a rank × step grid, rows = ranks, columns = positions in each rank's
 * list (list order, communication included). Marked cells read `>>2B1<<`; the validator and
 * the deadlock detector use this to point at the faulty action.
 */
import { formatAction, type Schedule } from "./actions.js";

export interface Cell {
  rank: number;
  index: number;
}

/** Left column label, padded so rows line up: `rank 0: `, `rank 10:`. */
export function rowLabel(rank: number, ranks: number): string {
  return `rank ${String(rank).padStart(String(Math.max(0, ranks - 1)).length)}: `;
}

export function formatActionLists(schedule: Schedule, marks: readonly Cell[] = []): string {
  const labels = schedule.map((list) => list.map(formatAction));
  const width = Math.max(1, ...labels.flat().map((l) => l.length));
  const marked = new Set(marks.map((c) => `${c.rank}:${c.index}`));
  return labels
    .map((row, r) => {
      const text = row
        .map((l, i) => (marked.has(`${r}:${i}`) ? `>>${l}<<` : `  ${l}  `).padEnd(width + 4))
        .join("");
      return (rowLabel(r, schedule.length) + text).trimEnd();
    })
    .join("\n");
}
