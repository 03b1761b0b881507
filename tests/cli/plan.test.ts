import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { PlanResult } from "../../src/plan/types.js";
import { expectBadInput, parasim, tempDir, writeTemp } from "./helpers.js";

const GPT = { model_type: "gpt2", vocab_size: 8192, n_embd: 512, n_layer: 4, n_head: 8, n_positions: 256 };
const plan = (model: string, devices: number, globalBatch: number, extra: string[] = []) =>
  parasim(["plan", "--model", model, "--devices", String(devices), "--hardware", "a100-80gb", "--global-batch", String(globalBatch), "--seq", "256", ...extra]);

describe("parasim plan (built CLI)", () => {
  it("prints the top layouts, why the best wins, and writes the whole plan as JSON", () => {
    const dir = tempDir();
    const json = join(dir, "plan.json");
    const r = plan(writeTemp("config.json", GPT, dir), 2, 4, ["--precision", "fp16", "--top", "3", "--json", json]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^plan: .*config\.json on 2 × a100-80gb, global batch 4 × 256 tokens, fp16, flash attention$/m);
    expect(r.stdout).toMatch(/layouts enumerated, [\d,]+ pruned, \d+ simulated/);
    expect(r.stdout).toContain("top 3 by simulated step time");
    expect(r.stdout).toMatch(/^(why #1 beats #2|#1 and #2 tie)/m);
    const p = JSON.parse(readFileSync(json, "utf8")) as PlanResult;
    const pruned = Object.values(p.counts.pruned).reduce((a, b) => a + b, 0);
    expect(pruned + p.counts.simulated + p.counts.cached).toBe(p.counts.enumerated);
    expect(p.ranked.length).toBe(p.counts.simulated);
    expect(p.ranked[0]!.fits).toBe(true);
    for (let i = 1; i < p.ranked.length; i++) {
      const [a, b] = [p.ranked[i - 1]!, p.ranked[i]!];
      expect(a.fits > b.fits || (a.fits === b.fits && a.stepSeconds <= b.stepSeconds)).toBe(true);
    }
    // The printed rows are the JSON's first three.
    for (const row of p.ranked.slice(0, 3)) expect(r.stdout).toContain(row.label);
    expect(p.ranked[0]!.scenario.mode).toBe("shapes");
    expect(p.memoryCapacity).toBe(80e9);
  });

  it("hands the best layout on: --report writes its page, --emit the Megatron-LM arguments of that layout, --verify proves it on a copy", () => {
    const dir = tempDir();
    const [json, report, script] = [join(dir, "plan.json"), join(dir, "plan.html"), join(dir, "best.sh")];
    const r = plan(writeTemp("config.json", GPT, dir), 2, 4, ["--top", "2", "--json", json, "--report", report, "--emit", "megatron", "--emit-file", script, "--verify"]);
    expect(r.status, r.stderr).toBe(0);
    const best = (JSON.parse(readFileSync(json, "utf8")) as PlanResult).ranked[0]!;
    const page = readFileSync(report, "utf8");
    expect(page.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(page).toContain(best.label);
    const args = readFileSync(script, "utf8");
    expect(args).toMatch(new RegExp(`--tensor-model-parallel-size ${best.layout.tp}\\b`));
    expect(args).toMatch(new RegExp(`--pipeline-model-parallel-size ${best.layout.pp}\\b`));
    expect(args).toMatch(/--global-batch-size 4\b/);
    expect(r.stdout).toContain(`emit: megatron launch configuration of #1 ${best.label} written to ${script}`);
    expect(r.stdout).toMatch(/^verify: PASS/m);
  });

  it("refuses --emit-file without --emit", () => {
    expectBadInput(plan("llama-3-8b", 8, 8, ["--emit-file", "x.sh"]), "--emit-file: needs --emit megatron | torchtitan");
  });

  it("refuses an unknown preset", () => {
    expectBadInput(plan("llama-9", 8, 8), "--model: unknown preset 'llama-9' (known: llama-2-7b");
  });

  it("refuses devices that are not whole nodes while tp stays inside a node", () => {
    expectBadInput(plan("llama-3-8b", 12, 8), "--devices: must be a multiple of 8, the devices per node of a100-80gb");
  });

  it("refuses a global batch that no layout divides", () => {
    // 2 layers and 4 heads on 64 devices: tp ≤ 4 and pp ≤ 2, so dp ≥ 8, and 3 sequences split over none.
    const tiny = writeTemp("config.json", { ...GPT, n_layer: 2, n_head: 4, n_embd: 64, vocab_size: 256 });
    expectBadInput(plan(tiny, 64, 3), "--global-batch: 3 sequences divide over no layout of 64 devices: data parallelism must divide the global batch, and");
  });

  it("refuses a model that fits no layout, saying the smallest memory it would need", () => {
    const r = plan("llama-3.1-405b", 8, 8);
    expectBadInput(r, "--model: llama-3.1-405b fits no layout of 8 × a100-80gb (74.51 GiB each): the smallest needs at least");
    const need = Number(/at least ([\d.]+) GiB/.exec(r.stderr)![1]);
    // Its parameters alone, 16 bytes each (bf16 weights and gradients, fp32 master weights and moments) over 8 devices.
    expect(need).toBeGreaterThan((405e9 * 16) / 8 / 2 ** 30);
  });

  it("refuses a bad precision by name", () => {
    expectBadInput(plan("llama-3-8b", 8, 8, ["--precision", "fp8"]), '--precision: must be one of fp32, bf16, fp16, got "fp8"');
  });
});
