/**
 * A one-line progress bar on a terminal (stderr, redrawn with \r); silent when stderr is not a
 * TTY, so logs and pipes stay clean.
 */
export interface Progress {
  update(done: number, note?: string): void;
  finish(): void;
}

export function progressBar(total: number, label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update() {}, finish() {} };
  const started = Date.now();
  const width = 30;
  return {
    update(done, note = "") {
      const filled = Math.round((width * done) / total);
      const elapsed = (Date.now() - started) / 1000;
      const eta = done > 0 ? (elapsed / done) * (total - done) : 0;
      const bar = "█".repeat(filled) + "░".repeat(width - filled);
      stream.write(`\r${label} ${bar} ${done}/${total} ${note}  eta ${eta.toFixed(0)}s\x1b[K`);
    },
    finish() {
      stream.write("\r\x1b[K");
    },
  };
}

/** A one-line status on a terminal (stderr, redrawn with \r) for work whose total is not known ahead; silent when not a TTY. */
export function statusLine(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update() {}, finish() {} };
  const started = Date.now();
  return {
    update(done, note = "") {
      stream.write(`\r${label} ${done} ${note}  ${((Date.now() - started) / 1000).toFixed(0)}s\x1b[K`);
    },
    finish() {
      stream.write("\r\x1b[K");
    },
  };
}
