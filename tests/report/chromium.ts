/**
 * Headless Chromium for the report tests (Debian's `chromium`; `.ci/run` installs it). The tests
 * that use it are skipped, with a warning, where it is absent; nothing here installs it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { join } from "node:path";

export const CHROMIUM = "/usr/bin/chromium";
export const hasChromium = existsSync(CHROMIUM);

/**
 * Runs headless Chromium on `url` with a fresh profile under `dir`; flags keep it off the (closed)
 * network. With `console`, the page's console messages (the engine's own errors, such as an SVG
 * attribute it cannot parse, among them) come on stderr as `CONSOLE` lines.
 */
export function chromium(dir: string, url: string, extra: string[], options: { console?: boolean } = {}): { status: number | null; stdout: string; stderr: string } {
  const profile = mkdtempSync(join(dir, "profile-"));
  const flags = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    `--user-data-dir=${profile}`,
    ...(options.console ? ["--enable-logging=stderr", "--v=0"] : []),
  ];
  const r = spawnSync(CHROMIUM, [...flags, ...extra, url], { encoding: "utf8", timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** The page's console messages from a run with `console: true`. */
export function consoleLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.includes(":CONSOLE"));
}
