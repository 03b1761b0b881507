// Starts a TypeScript worker entry: `new Worker("x.ts")` fails even under tsx, so the cluster
// starts this file instead, which registers tsx in the worker thread and imports the entry
// named in workerData.entry (a file URL). Compiled runs start the .js entry directly.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
