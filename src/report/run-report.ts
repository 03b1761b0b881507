/** The terminal summary of one run: losses per step, then the simulated cluster per device. */
import type { RunResult } from "../run/results.js";
import { formatBytes, formatCount, formatSeconds, formatTable } from "./table.js";

/** Steps shown in the loss table before it is thinned to every k-th step (the JSON has them all). */
const MAX_LOSS_ROWS = 60;

export function formatRunReport(r: RunResult, options: { brief?: boolean } = {}): string {
  const s = r.scenario;
  const p = s.parallel;
  const lines: string[] = [];
  const summary =
    `final loss ${r.finalLoss.toFixed(4)} (${r.bitsPerByte.toFixed(3)} bits/byte) · ` +
    `wall ${r.wall.seconds.toFixed(2)} s, ${formatCount(r.wall.tokensPerSecond)} tokens/s · ` +
    `simulated step ${formatSeconds(r.simulated.stepSeconds)}, ${formatCount(r.simulated.tokensPerSecond)} tokens/s`;
  if (options.brief) return `${s.name}: ${summary}`;

  lines.push(`${s.name}: ${r.worldSize} device(s), dp ${p.dp} × tp ${p.tp} × pp ${p.pp}, hardware ${s.hardware.name}`);
  lines.push("");
  const every = Math.ceil(r.losses.length / MAX_LOSS_ROWS);
  const rows = r.losses
    .map((loss, step) => [step, loss] as [number, number])
    .filter(([step]) => step % every === 0 || step === r.losses.length - 1);
  lines.push(formatTable(["step", "loss"], rows.map(([step, loss]) => [step, Number(loss.toFixed(4))])));
  if (every > 1) lines.push(`(every ${every}th step shown; --json has all ${r.losses.length})`);
  lines.push("");
  lines.push(summary);
  lines.push("");
  lines.push("simulated time and traffic per device, summed over all steps (bubble = idle share of the device's time; stashed = peak micro-batches held):");
  lines.push(
    formatTable(
      ["rank", "dp", "pp", "tp", "compute", "comm", "idle", "bubble", "stashed", "sent", "received", "memory"],
      r.devices.map((d) => [
        d.rank,
        d.coords.dp,
        d.coords.pp,
        d.coords.tp,
        formatSeconds(d.computeSeconds),
        formatSeconds(d.commSeconds),
        formatSeconds(d.idleSeconds),
        `${((100 * d.idleSeconds) / d.makespanSeconds).toFixed(1)}%`,
        d.peakStashed,
        formatBytes(d.bytesSent),
        formatBytes(d.bytesReceived),
        formatBytes(d.memory.total),
      ]),
    ),
  );
  const kinds = Object.entries(r.communication.bytesByKind);
  if (kinds.length > 0) lines.push("", "bytes sent by kind: " + kinds.map(([k, b]) => `${k} ${formatBytes(b)}`).join(", "));
  const m = r.devices[0].memory;
  lines.push(
    `memory of rank 0: parameters ${formatBytes(m.parameters)}, gradients ${formatBytes(m.gradients)}, ` +
      `optimizer state ${formatBytes(m.optimizerState)}, activations ${formatBytes(m.activations)}, workspace ${formatBytes(m.workspace)}`,
  );
  return lines.join("\n");
}
