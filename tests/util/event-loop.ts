/** How many times the event loop turns (setImmediate callbacks run) while `work` runs: 0 for synchronous work. */
export async function ticksDuring(work: () => unknown): Promise<number> {
  let ticks = 0;
  let working = true;
  const tick = () => {
    ticks++;
    if (working) setImmediate(tick);
  };
  setImmediate(tick);
  await work();
  working = false;
  return ticks;
}
