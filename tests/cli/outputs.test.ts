import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, watch, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readCheckpoint } from "../../src/index.js";
import { BIN, tempDir, writeTemp } from "./helpers.js";

/** Tiny and fast to train; 100,000 steps would take many minutes, so a check that comes after training cannot pass the time limit below. */
const endless = {
  name: "endless",
  model: { hiddenSize: 16, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 12 },
  training: { steps: 100_000, globalBatch: 4, optimizer: { lr: 1e-2 } },
};
/** About 12 M parameters: a 48 MB model.safetensors takes long enough to write for a kill to land inside it. */
const big = {
  name: "big",
  model: { hiddenSize: 512, intermediateSize: 1408, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 8 },
  training: { steps: 1, globalBatch: 1, optimizer: { lr: 1e-2 } },
};
/** Two pipeline ranks, 4 micro-batches, 80 steps: a Chrome trace of about 1.3 MB. */
const traced = {
  name: "traced",
  model: { hiddenSize: 16, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 12 },
  training: { steps: 80, globalBatch: 4, microBatches: 4, optimizer: { lr: 1e-2 } },
  parallel: { pp: 2 },
};

function cli(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 30_000 });
}

/** Exit 2, one line naming the option, before any training: nothing on stdout, well inside the time limit. */
function expectRefused(args: string[], line: string): void {
  const r = cli(args);
  expect(r.status).toBe(2);
  expect(r.stdout).toBe("");
  expect(r.stderr.trim().split("\n")).toEqual([`parasim: ${line}`]);
}

/** Temporary entries a write leaves beside its target when killed mid-way (`.NAME.tmp-PID-…`). */
const leftovers = (dir: string): string[] => readdirSync(dir).filter((n) => /\.tmp-\d+-/.test(n));

interface Interrupted {
  status: number | null;
  signal: string | null;
  stderr: string;
}

/** Runs the CLI and sends `signal` `delayMs` after the first temporary entry appears in `dir`. */
function interruptWrite(args: string[], dir: string, signal: NodeJS.Signals, delayMs: number): Promise<Interrupted> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    let sent = false;
    const watcher = watch(dir, (_event, name) => {
      if (sent || !name || !/\.tmp-\d+-/.test(name)) return;
      sent = true;
      setTimeout(() => child.kill(signal), delayMs);
    });
    child.on("exit", (status, sig) => {
      watcher.close();
      resolve({ status, signal: sig, stderr });
    });
  });
}

describe("output paths are checked before the run", () => {
  const dir = tempDir();
  const scenario = writeTemp("s.json", endless, dir);
  const file = writeTemp("file.txt", "not a folder", dir);
  const full = join(dir, "full");

  it("refuses --save onto a file, under a file, into /proc and over a folder of other files", () => {
    expectRefused(["run", scenario, "--save", file], `--save: ${file} is a file, not a folder`);
    // Tests run as root, which ignores permission bits: a path under a regular file or in /proc
    // is a folder that no one can create entries in.
    expectRefused(["run", scenario, "--save", join(file, "x")], `--save: cannot create ${join(file, "x")}: ${file} is not a writable folder (ENOTDIR)`);
    expectRefused(["run", scenario, "--save", "/proc/x"], "--save: cannot create /proc/x: /proc is not a writable folder (ENOENT)");
    mkdirSync(full);
    writeTemp("notes.txt", "mine", full);
    expectRefused(["run", scenario, "--save", full], `--save: ${full} holds notes.txt; it is replaced as a whole, so it must be empty or hold only config.json, model.safetensors, training-state.json and training-state.safetensors`);
  });

  it("refuses --save into a read-only folder", () => {
    // Root ignores permission bits, so the read-only folder is /sys (sysfs: EPERM here, EROFS where it is mounted read-only).
    const r = cli(["run", scenario, "--save", "/sys/x"]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^parasim: --save: cannot create \/sys\/x: \/sys is not a writable folder \((EPERM|EROFS|EACCES)\)\n$/);
  });

  it("refuses --json, --trace and --report into a missing folder or onto a folder", () => {
    const missing = join(dir, "missing", "r.json");
    expectRefused(["run", scenario, "--json", missing], `--json: cannot create ${missing}: ${join(dir, "missing")} is not a writable folder (ENOENT)`);
    expectRefused(["run", scenario, "--json", dir], `--json: ${dir} is a folder, not a file`);
    expectRefused(["compare", scenario, "--trace", "/proc/t.json"], "--trace: cannot create /proc/t.json: /proc is not a writable folder (ENOENT)");
    expectRefused(["compare", scenario, "--report", join(file, "r.html")], `--report: cannot create ${join(file, "r.html")}: ${file} is not a writable folder (ENOTDIR)`);
    expect(leftovers(dir)).toEqual([]);
    expect(readdirSync(dir).filter((n) => n.includes(".probe-"))).toEqual([]);
  });

  it("refuses --json into a pipe that has no reader (writing would wait for ever)", () => {
    const pipe = join(tempDir(), "pipe");
    expect(spawnSync("mkfifo", [pipe]).status).toBe(0);
    expectRefused(["run", scenario, "--json", pipe], `--json: ${pipe} is a pipe with no reader`);
  });

  it("writes --json into a pipe whose reader waits from before the run to its end", async () => {
    const dir = tempDir();
    const pipe = join(dir, "pipe");
    expect(spawnSync("mkfifo", [pipe]).status).toBe(0);
    // The reader ends at the first end of input: a check that opened and closed the pipe would end it before the results came.
    const reader = spawn("cat", [pipe]);
    let received = "";
    reader.stdout.on("data", (d: Buffer) => (received += d.toString()));
    const done = new Promise((resolve) => reader.on("close", resolve));
    const r = cli(["run", writeTemp("one.json", { ...endless, training: { ...endless.training, steps: 1 } }, dir), "--quiet", "--json", pipe]);
    await done;
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(received).scenario.name).toBe("endless");
    expect(readdirSync(dir).sort()).toEqual(["one.json", "pipe"]);
  });

  it("names the option or command in one line for usage mistakes", () => {
    expectRefused(["run", "--frob"], "--frob: unknown option");
    expectRefused(["run", "--jsn", "x"], "--jsn: unknown option (Did you mean --json?)");
    expectRefused(["run", scenario, "--json"], "--json: needs a value");
    expectRefused(["frob"], "frob: unknown command (the commands are run, eval, compare, schedule, validate, plan)");
    expectRefused([], "command: must be given (the commands are run, eval, compare, schedule, validate, plan; parasim --help describes them)");
    expectRefused(["schedule", "--pp", "2"], "--kind: must be given");
  });
});

describe("an output that fails to be written after the run", () => {
  /** The CLI under a file-size limit (bash's ulimit -f, in KiB): a write past it fails with EFBIG, as one on a full disk fails with ENOSPC. */
  const limited = (kib: number, args: string[]) => spawnSync("bash", ["-c", `ulimit -f ${kib}; exec "$0" "$@"`, process.execPath, BIN, ...args], { encoding: "utf8", timeout: 60_000 });

  it("names the option and leaves neither the output nor a temporary", () => {
    const dir = tempDir();
    const scenario = writeTemp("s.json", { ...endless, training: { ...endless.training, steps: 1 } }, dir);
    const ckpt = join(dir, "ckpt");
    // The weights file of this model is about 54 KiB, past a limit of 16 KiB.
    const save = limited(16, ["run", scenario, "--quiet", "--save", ckpt]);
    expect(save.status).toBe(2);
    expect(save.stderr).toBe(`parasim: --save: cannot write ${ckpt}: EFBIG\n`);
    const json = join(dir, "r.json");
    const results = limited(0, ["run", scenario, "--quiet", "--json", json]);
    expect(results.status).toBe(2);
    // The run's summary was printed before the write; the failure is one line.
    expect(results.stdout).toContain("endless: final loss");
    expect(results.stderr).toBe(`parasim: --json: cannot write ${json}: EFBIG\n`);
    expect(readdirSync(dir).sort()).toEqual(["s.json"]);
  });
});

describe("outputs are written whole or not at all", () => {
  /** Kills the run at several moments after its write of `target` begins; `valid` throws on a partial file. */
  async function killDuringWrite(args: (target: string) => string[], name: string, valid: (path: string) => void, delays = [0, 10]): Promise<number> {
    const dir = tempDir();
    const target = join(dir, name);
    let caught = 0;
    for (const delayMs of delays) {
      const r = await interruptWrite(args(target), dir, "SIGKILL", delayMs);
      // A late kill may find the process already finished, having written everything.
      expect(r.signal === "SIGKILL" || r.status === 0).toBe(true);
      if (leftovers(dir).length > 0) caught++;
      // Absent (killed before the first rename), or complete: the old run's or the new one's.
      if (existsSync(target)) valid(target);
    }
    return caught;
  }
  const parsesAsJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));

  it("a checkpoint folder loads or is absent, and a kill lands inside the write", async () => {
    const scenario = writeTemp("big.json", big);
    const caught = await killDuringWrite((t) => ["run", scenario, "--quiet", "--save", t], "ckpt", (path) => {
      expect(readCheckpoint(path).tensors.get("lm_head.weight")?.data.length).toBe(256 * 512);
    }, [0, 0, 5, 30]);
    // The 48 MB weights file takes tens of ms to write and flush; a kill sent as the temporary folder appears lands inside it.
    expect(caught).toBeGreaterThan(0);
  }, 60_000);

  it("results JSON, trace and report parse whole or are absent", async () => {
    const scenario = writeTemp("traced.json", traced);
    await killDuringWrite((t) => ["run", scenario, "--quiet", "--json", t], "r.json", parsesAsJson);
    await killDuringWrite((t) => ["compare", scenario, "--trace", t], "t.json", parsesAsJson);
    await killDuringWrite((t) => ["compare", scenario, "--report", t], "r.html", (path) => {
      expect(readFileSync(path, "utf8").trimEnd()).toMatch(/<\/html>$/);
    });
  }, 120_000);

  it("an old output survives a run killed while it writes the new one", async () => {
    const dir = tempDir();
    const target = join(dir, "t.json");
    writeFileSync(target, '{"old": true}');
    const r = await interruptWrite(["compare", writeTemp("traced.json", traced), "--trace", target], dir, "SIGKILL", 0);
    expect(r.signal).toBe("SIGKILL");
    const after = parsesAsJson(target);
    // Either the old file (killed before the rename) or the complete new trace.
    expect(after.old === true || Array.isArray(after.traceEvents)).toBe(true);
  }, 60_000);

  it("SIGINT and SIGTERM while training exit 130 and 143", async () => {
    // Two workers, a periodic save at step 50: the signal comes half a second after that save began, while training goes on.
    const scenario = writeTemp("long.json", { ...endless, training: { ...endless.training, checkpointEvery: 50 }, parallel: { dp: 2 } });
    for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
      const dir = tempDir();
      const r = await interruptWrite(["run", scenario, "--quiet", "--save", join(dir, "ckpt")], dir, signal, 500);
      expect(r.status).toBe(code);
      expect(r.stderr).toBe(`parasim: interrupted (${signal})\n`);
      expect(leftovers(dir)).toEqual([]);
    }
  }, 120_000);

  it("SIGINT and SIGTERM while saving exit 130 and 143 and leave no temporary folder", async () => {
    const scenario = writeTemp("big.json", big);
    for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
      const dir = tempDir();
      const r = await interruptWrite(["run", scenario, "--quiet", "--save", join(dir, "ckpt")], dir, signal, 0);
      expect(r.status).toBe(code);
      expect(r.stderr).toContain(`parasim: interrupted (${signal})`);
      expect(leftovers(dir)).toEqual([]);
      if (existsSync(join(dir, "ckpt"))) expect(readCheckpoint(join(dir, "ckpt")).config.hiddenSize).toBe(512);
    }
  }, 60_000);
});
