// A device worker: one rank of the simulated cluster. Thin on purpose: everything it does is
// src/runtime/device.ts, exposed to the main thread through comlink.
import { Device, deviceApi, type DeviceData } from "../src/runtime/device.js";
import { exposeApi, workerInit } from "../src/runtime/worker.js";

exposeApi(deviceApi(new Device(workerInit<DeviceData>())));
