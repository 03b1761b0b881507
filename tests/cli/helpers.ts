import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The built CLI: the same file package.json's `bin` names. `npm test` builds before it runs. */
export const BIN = fileURLToPath(new URL("../../dist/src/cli.js", import.meta.url));

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function parasim(args: string[], cwd?: string): CliResult {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does) first`);
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", cwd, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "parasim-cli-"));
}

/** Writes `value` as JSON into a fresh temp folder and returns the file's path. */
export function writeTemp(name: string, value: unknown, dir = tempDir()): string {
  const path = join(dir, name);
  writeFileSync(path, typeof value === "string" ? value : JSON.stringify(value));
  return path;
}

/** Asserts a bad-input failure: exit 2, one line on stderr containing `text`, no stack trace. */
export function expectBadInput(r: CliResult, text: string): void {
  if (r.status !== 2) throw new Error(`expected exit 2, got ${r.status}: ${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  if (lines.length !== 1 || !lines[0].includes(text) || /\n\s+at /.test(r.stderr)) {
    throw new Error(`expected one line containing ${JSON.stringify(text)}, got ${JSON.stringify(r.stderr)}`);
  }
}

/** Rewrites a safetensors file's header with `edit`, keeping its data bytes as they are (to corrupt a checkpoint on purpose). */
export function editSafetensorsHeader(path: string, edit: (header: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void): void {
  const file = readFileSync(path);
  const length = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + length).toString("utf8"));
  edit(header);
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([prefix, json, file.subarray(8 + length)]));
}
