// Runs the TypeScript compare task under piscina from sources (tests, tsx): a worker cannot
// import .ts until tsx is registered in it. Compiled runs use dist/workers/compare-task.js.
import { register } from "tsx/esm/api";

register();
const { default: task } = await import("./compare-task.ts");
export default task;
