// Runs the TypeScript plan task under piscina from sources (tests, tsx): a worker cannot import
// .ts until tsx is registered in it. Compiled runs use dist/workers/plan-task.js.
import { register } from "tsx/esm/api";

register();
const { default: task } = await import("./plan-task.ts");
export default task;
