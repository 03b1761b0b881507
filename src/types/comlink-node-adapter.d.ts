// comlink ships node-adapter.d.ts next to node-adapter.mjs, but NodeNext resolution looks for
// node-adapter.d.mts and finds nothing; this declares the same surface.
declare module "comlink/dist/esm/node-adapter.mjs" {
  import type { Endpoint } from "comlink";
  export interface NodeEndpoint {
    postMessage(message: any, transfer?: any[]): void;
    on(type: string, listener: (value: any) => void, options?: object): void;
    off(type: string, listener: (value: any) => void, options?: object): void;
    start?: () => void;
  }
  export default function nodeEndpoint(nep: NodeEndpoint): Endpoint;
}
