/** Command-line usage of every command (plan is probed elsewhere): options, values, arguments. */
import { join } from "node:path";
import type { Fixtures } from "./fixtures.js";
import { ok, refused, scenarioFile } from "./helpers.js";
import type { Case, Expect } from "./types.js";

const cmd = (id: string, args: string[], expect: Expect): Case => ({ id: `usage/${id}`, args, expect });

function general(): Case[] {
  return [
    cmd("no command", [], refused("command", "parasim")),
    cmd("unknown command", ["frob"], refused("frob")),
    cmd("misspelt command", ["rnu"], refused("rnu")),
    cmd("unknown global option", ["--version"], refused("--version")),
    { ...cmd("--help", ["--help"], ok), check: (o) => (o.stdout.includes("Usage: parasim") ? null : "no usage text on stdout") },
    { ...cmd("help run", ["help", "run"], ok), check: (o) => (o.stdout.includes("Usage: parasim run") ? null : "no usage text on stdout") },
  ];
}

function run(fx: Fixtures): Case[] {
  const s = scenarioFile(fx, {});
  return [
    cmd("run unknown option", ["run", s, "--frob"], refused("--frob")),
    cmd("run misspelt option", ["run", s, "--jsn", "x"], refused("--jsn")),
    cmd("run --json without a value", ["run", s, "--json"], refused("--json")),
    cmd("run --save without a value", ["run", s, "--save"], refused("--save")),
    cmd("run two scenarios", ["run", s, s], refused("run", "scenario", s)),
    cmd("run --init and --resume", ["run", s, "--init", fx.ckpt, "--resume", fx.ckpt], refused("--resume", "--init")),
    cmd("run --init missing folder", ["run", s, "--init", join(fx.dir, "absent")], refused("--init", "checkpoint")),
    cmd("run --resume missing folder", ["run", s, "--resume", join(fx.dir, "absent")], refused("--resume")),
  ];
}

function evalCommand(fx: Fixtures): Case[] {
  const tokens = fx.file("t.json", [[1, 2, 3, 4]]);
  return [
    cmd("eval without checkpoint", ["eval"], refused("checkpoint", "eval")),
    cmd("eval without --tokens or --text", ["eval", fx.ckpt], refused("eval", "--tokens", "--text")),
    cmd("eval with --tokens and --text", ["eval", fx.ckpt, "--tokens", tokens, "--text", tokens], refused("eval", "--tokens", "--text")),
    cmd("eval --tokens without a value", ["eval", fx.ckpt, "--tokens"], refused("--tokens")),
    cmd("eval unknown option", ["eval", fx.ckpt, "--tokens", tokens, "--frob"], refused("--frob")),
    cmd("eval two checkpoints", ["eval", fx.ckpt, fx.ckpt, "--tokens", tokens], refused("eval", "checkpoint", fx.ckpt)),
    cmd("eval missing checkpoint folder", ["eval", join(fx.dir, "absent"), "--tokens", tokens], refused("checkpoint")),
  ];
}

function compare(fx: Fixtures): Case[] {
  const s = scenarioFile(fx, {});
  const vary = (id: string, spec: string) => cmd(`compare --vary ${id}`, ["compare", s, "--vary", spec], refused("--vary"));
  return [
    cmd("compare unknown option", ["compare", s, "--frob"], refused("--frob")),
    cmd("compare --threads 0", ["compare", s, "--threads", "0"], refused("--threads")),
    cmd("compare --threads x", ["compare", s, "--threads", "x"], refused("--threads")),
    cmd("compare --threads 1e3", ["compare", s, "--threads", "1e3"], refused("--threads")),
    cmd("compare --max-world-size -1", ["compare", s, "--max-world-size", "-1"], refused("--max-world-size")),
    cmd("compare --max-world-size 1 skips every layout", ["compare", s, "--max-world-size", "1", "--vary", "parallel.dp=2,4"], refused("compare")),
    vary("without =", "parallel.dp"),
    vary("without values", "parallel.dp="),
    vary("without a path", "=1,2"),
    vary("unknown field", "parallel.cp=1,2"),
    vary("a section", "model=1"),
    vary("bad value", "parallel.dp=0,1"),
    vary("empty value", "parallel.dp=1,,2"),
    vary("value of another type", "parallel.schedule=1"),
    { ...cmd("compare --vary with invalid layouts skips them", ["compare", s, "--vary", "parallel.tp=1,3"], ok), check: (o) => (/skipped/i.test(o.stdout) ? null : "the skipped layout is not reported") },
  ];
}

function schedule(): Case[] {
  const base = ["schedule", "--kind", "1f1b", "--pp", "2", "--microbatches", "4"];
  const sch = (id: string, args: string[], ...names: string[]) => cmd(`schedule ${id}`, ["schedule", ...args], refused(...names));
  const costs = (id: string, value: string) => cmd(`schedule --costs ${id}`, [...base, "--costs", value], refused("--costs"));
  return [
    sch("without --kind", ["--pp", "2", "--microbatches", "4"], "--kind"),
    sch("without --pp", ["--kind", "1f1b", "--microbatches", "4"], "--pp"),
    sch("without --microbatches", ["--kind", "1f1b", "--pp", "2"], "--microbatches"),
    sch("--kind zigzag", ["--kind", "zigzag", "--pp", "2", "--microbatches", "4"], "--kind"),
    sch("--pp 0", ["--kind", "1f1b", "--pp", "0", "--microbatches", "4"], "--pp"),
    sch("--pp -3", ["--kind", "1f1b", "--pp", "-3", "--microbatches", "4"], "--pp"),
    sch("--pp 1.5", ["--kind", "1f1b", "--pp", "1.5", "--microbatches", "4"], "--pp"),
    sch("--pp 1e3", ["--kind", "1f1b", "--pp", "1e3", "--microbatches", "4"], "--pp"),
    sch("--pp 99999999999999999999", ["--kind", "1f1b", "--pp", "99999999999999999999", "--microbatches", "4"], "--pp", "--microbatches"),
    sch("--microbatches 0", ["--kind", "1f1b", "--pp", "2", "--microbatches", "0"], "--microbatches"),
    sch("--virtual 1 interleaved", ["--kind", "interleaved", "--pp", "2", "--microbatches", "4", "--virtual", "1"], "--virtual"),
    sch("--virtual on gpipe", ["--kind", "gpipe", "--pp", "2", "--microbatches", "4", "--virtual", "3"], "--virtual"),
    sch("interleaved m not a multiple of pp", ["--kind", "interleaved", "--pp", "4", "--microbatches", "6"], "--microbatches"),
    sch("--pp without a value", ["--kind", "1f1b", "--microbatches", "4", "--pp"], "--pp"),
    sch("unknown option", [...base.slice(1), "--frob"], "--frob"),
    sch("--json with a value", [...base.slice(1), "--json", "out.json"], "schedule", "out.json", "--json"),
    costs("negative", "F=-1"),
    costs("not a number", "F=x"),
    costs("unknown action", "Q=1"),
    costs("infinite", "F=1e400"),
    costs("empty", ""),
    costs("twice", "F=1,F=2"),
    cmd("schedule zb-h1 with costs", ["schedule", "--kind", "zb-h1", "--pp", "4", "--microbatches", "8", "--costs", "F=1,B=1,W=1"], ok),
    cmd("schedule gpipe 1×1", ["schedule", "--kind", "gpipe", "--pp", "1", "--microbatches", "1"], ok),
    cmd("schedule --json", [...base, "--json"], ok),
  ];
}

function validate(fx: Fixtures): Case[] {
  return [
    cmd("validate unknown option", ["validate", "--frob"], refused("--frob")),
    cmd("validate extra argument", ["validate", "x"], refused("validate", "x")),
    cmd("validate --json into /proc", ["validate", "--json", "/proc/v.json"], refused("--json")),
    cmd("validate --json onto a folder", ["validate", "--json", fx.folder("v")], refused("--json")),
  ];
}

export function usageCases(fx: Fixtures): Case[] {
  return [...general(), ...run(fx), ...evalCommand(fx), ...compare(fx), ...schedule(), ...validate(fx)];
}
