/**
 * The timeline of one run for one step, as inline SVG: a row per rank (`<g class="timeline-row"
 * data-rank="N">`), the compute stream as a wide lane (compute, exposed communication, idle) and
 * the communication stream as a thin lane under it. The x axis is simulated time since the step's
 * first event on any rank. Events under a pixel wide are drawn gathered (src/report/timeline-marks.ts).
 */
import { laneName, laneRanks, type LaneDevice } from "./lanes.js";
import type { TimelineEvent } from "../sim/clock.js";
import { formatSeconds } from "./table.js";
import { timelineMarks } from "./timeline-marks.js";
import { COLORS, escapeHtml, legend, niceTicks, tickLabel, timeUnit } from "./html-svg.js";

const WIDTH = 1160;
const LEFT = 150;
const RIGHT = 24;
const TOP = 8;
const LANE = 18;
const COMM_LANE = 6;
const ROW = LANE + COMM_LANE + 12;
const AXIS = 40;

/** The colours of a timeline, as an HTML legend. */
export function timelineLegend(): string {
  return legend([
    ["compute", COLORS.compute],
    ["exposed communication", COLORS.comm],
    ["idle (waiting for a peer)", COLORS.idle],
    ["communication stream (transfers, collectives; may overlap compute)", COLORS.commStream],
  ]);
}

/** The steps a timeline covers, ascending. */
export function timelineSteps(events: TimelineEvent[]): number[] {
  return [...new Set(events.map((e) => e.step))].sort((a, b) => a - b);
}

/** `devices`: the run's device rows (a row may stand for a pipeline stage), which name the lanes. */
export function timelineSvg(devices: readonly LaneDevice[], events: TimelineEvent[], step: number): string {
  const ofStep = events.filter((e) => e.step === step);
  // Folded, not spread: a step of a large run has more events than a call may take arguments.
  const t0 = ofStep.reduce((t, e) => Math.min(t, e.start), Infinity);
  const t1 = ofStep.reduce((t, e) => Math.max(t, e.end), -Infinity);
  const span = t1 - t0;
  const plot = WIDTH - LEFT - RIGHT;
  const x = (t: number) => LEFT + (span > 0 ? ((t - t0) / span) * plot : 0);
  const lanes = laneRanks(devices, ofStep);
  const ranks = lanes.length;
  const height = TOP + ranks * ROW + AXIS;

  const unit = timeUnit(span);
  const ticks = niceTicks(span / unit.scale);
  const grid = ticks
    .map((v) => {
      const px = x(t0 + v * unit.scale).toFixed(2);
      return (
        `<line x1="${px}" x2="${px}" y1="${TOP - 4}" y2="${TOP + ranks * ROW}" class="grid"/>` +
        `<text x="${px}" y="${TOP + ranks * ROW + 16}" class="tick" text-anchor="middle">${tickLabel(v)}</text>`
      );
    })
    .join("");
  const axisTitle =
    `<text x="${LEFT + plot / 2}" y="${height - 6}" class="axis-title" text-anchor="middle">` +
    `simulated time since the start of step ${step} (${unit.symbol})</text>`;

  const rows: string[] = [];
  lanes.forEach((rank, lane) => {
    const mine = ofStep.filter((e) => e.rank === rank);
    const device = devices.find((d) => d.rank === rank);
    const coords = device && device.ranks === 1 ? `dp${device.coords.dp} pp${device.coords.pp} tp${device.coords.tp}` : "";
    const parts = [
      `<text x="8" y="${LANE - 4}" class="rank">${escapeHtml(laneName(rank, device))}</text>`,
      `<text x="64" y="${LANE - 4}" class="coords">${escapeHtml(coords)}</text>`,
      `<rect x="${LEFT}" y="0" width="${plot}" height="${LANE}" class="lane"/>`,
    ];
    // Events under a pixel wide are drawn gathered, a mark per pixel or so (src/report/timeline-marks.ts).
    for (const m of timelineMarks(mine, x)) {
      const fill = m.onComm ? COLORS.commStream : COLORS[m.kind];
      parts.push(
        `<rect x="${x(m.start).toFixed(3)}" y="${m.onComm ? LANE + 2 : 0}" width="${(x(m.end) - x(m.start)).toFixed(3)}" ` +
          `height="${m.onComm ? COMM_LANE : LANE}" fill="${fill}"><title>${escapeHtml(m.tip)}</title></rect>`,
      );
    }
    rows.push(`<g class="timeline-row" data-rank="${rank}" shape-rendering="crispEdges" transform="translate(0,${TOP + lane * ROW})">${parts.join("")}</g>`);
  });

  const label = `Timeline of step ${step}, ${ranks} ranks, ${formatSeconds(span)}`;
  return (
    `<svg class="timeline" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" ` +
    `xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${escapeHtml(label)}">` +
    `${grid}${rows.join("")}${axisTitle}</svg>`
  );
}
