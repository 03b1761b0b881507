/**
 * `npm run bench [-- name...]`: benchmarks, never tests. Each prints ratios measured in one run,
 * because this machine is shared and absolute numbers drift between runs.
 */
const suites: Record<string, () => Promise<{ run(): Promise<void> }>> = {
  matmul: () => import("./matmul.js"),
  train: () => import("./train.js"),
  comm: () => import("./comm.js"),
  dp: () => import("./dp.js"),
  scale: () => import("./scale.js"),
  plan: () => import("./plan.js"),
  table5: () => import("./table5.js"),
};

const asked = process.argv.slice(2).filter((a) => a !== "--");
const names = asked.length > 0 ? asked : ["matmul", "train", "dp"];
for (const name of names) {
  const load = suites[name];
  if (!load) {
    console.error(`bench: unknown suite '${name}' (known: ${Object.keys(suites).join(", ")})`);
    process.exit(2);
  }
  console.log(`\n== ${name} ==`);
  await (await load()).run();
}
