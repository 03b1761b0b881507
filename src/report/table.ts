/** Plain-text tables for the terminal: right-aligned numbers, left-aligned text. */

export type Cell = string | number;

export function formatTable(headers: string[], rows: Cell[][]): string {
  const text = rows.map((row) => row.map((c) => (typeof c === "number" ? formatNumber(c) : c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]?.length ?? 0)));
  const numeric = headers.map((_, i) => rows.every((r) => typeof r[i] === "number"));
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...text.map(line)].join("\n");
}

/** Four significant digits, with SI-free exponent form for very large or small magnitudes. */
export function formatNumber(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e9) return String(x);
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e6 || a < 1e-3) return x.toExponential(3);
  return x.toPrecision(4);
}

/** A count or rate with an SI prefix and three significant digits: 950, 4.10 k, 1.58 M, 2.31 G. */
export function formatCount(x: number): string {
  const prefixes = ["", " k", " M", " G", " T", " P"];
  let value = x;
  let p = 0;
  while (Math.abs(value) >= 999.5 && p < prefixes.length - 1) {
    value /= 1000;
    p++;
  }
  return p === 0 && Number.isInteger(value) ? String(value) : `${value.toPrecision(3)}${prefixes[p]}`;
}

/** Bytes with a binary unit. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(2)} ${units[unit]}`;
}

/** Seconds with a unit that keeps 3–4 significant digits readable (ns … s). */
export function formatSeconds(seconds: number): string {
  const a = Math.abs(seconds);
  if (a === 0) return "0 s";
  if (a < 1e-6) return `${(seconds * 1e9).toPrecision(3)} ns`;
  if (a < 1e-3) return `${(seconds * 1e6).toPrecision(3)} µs`;
  if (a < 1) return `${(seconds * 1e3).toPrecision(3)} ms`;
  return `${seconds.toPrecision(4)} s`;
}

/** FLOPs with an SI prefix: 950 FLOP, 3.90 MFLOP, 10.0 TFLOP. */
export function formatFlops(flops: number): string {
  const count = formatCount(flops);
  return count.includes(" ") ? `${count}FLOP` : `${count} FLOP`;
}
