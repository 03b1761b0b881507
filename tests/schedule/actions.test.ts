import { describe, expect, it } from "vitest";
import { rankOfStage } from "../../src/parallel/placement.js";
import { action, formatAction, parseAction, parseActions } from "../../src/schedule/actions.js";
import { generateSchedule, interleaved, oneFOneB, zbH1 } from "../../src/schedule/generators.js";

const lists = (s: readonly (readonly { type: string; stage: number; mb: number }[])[]) =>
  s.map((l) => l.map((a) => formatAction(a as never)).join(" "));

describe("actions", () => {
  it("print and parse like PyTorch's pipelining IR", () => {
    expect(formatAction(action("F", 2, 0))).toBe("2F0");
    expect(formatAction(action("RECV_B", 1, 3))).toBe("1RECV_B3");
    expect(formatAction(action("BW", 12, 10))).toBe("12BW10");
    for (const text of ["2F0", "2B0", "2W0", "0BW7", "2SEND_F0", "1RECV_B3", "11RECV_F12", "3SEND_B1"]) {
      expect(formatAction(parseAction(text))).toBe(text);
    }
    expect(parseAction("1RECV_B3")).toEqual({ type: "RECV_B", stage: 1, mb: 3 });
    expect(parseActions(" 0F0  0SEND_F0\n0BW0 ")).toEqual([action("F", 0, 0), action("SEND_F", 0, 0), action("BW", 0, 0)]);
    expect(() => parseAction("2X0")).toThrow(/not an action/);
    expect(() => parseAction("F0")).toThrow(/not an action/);
  });

  it("place stage s on rank s mod p (Megatron's interleaving)", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((s) => rankOfStage(s, 4))).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    const s = interleaved(2, 2, 2);
    expect(s[0]!.filter((a) => a.type === "F").map((a) => a.stage).sort()).toEqual([0, 0, 2, 2]);
    expect(s[1]!.filter((a) => a.type === "F").map((a) => a.stage).sort()).toEqual([1, 1, 3, 3]);
  });
});

describe("generators insert sends after producers and receives before consumers", () => {
  it("1F1B p=2 m=2", () => {
    expect(lists(oneFOneB(2, 2))).toEqual([
      "0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0BW0 0RECV_B1 0BW1",
      "1RECV_F0 1F0 1BW0 1SEND_B0 1RECV_F1 1F1 1BW1 1SEND_B1",
    ]);
  });

  it("GPipe p=2 m=2 runs all forwards first", () => {
    expect(lists(generateSchedule("gpipe", { p: 2, m: 2 }))).toEqual([
      "0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0BW0 0RECV_B1 0BW1",
      "1RECV_F0 1F0 1RECV_F1 1F1 1BW0 1SEND_B0 1BW1 1SEND_B1",
    ]);
  });

  it("1F1B warm-up is min(p − r − 1, m) forwards", () => {
    const warmup = (list: readonly { type: string }[]) => {
      const compute = list.filter((a) => ["F", "BW"].includes(a.type));
      return compute.findIndex((a) => a.type === "BW") - 1;
    };
    expect(oneFOneB(4, 8).map(warmup)).toEqual([3, 2, 1, 0]);
    expect(oneFOneB(4, 2).map(warmup)).toEqual([1, 1, 1, 0]); // min(p − r − 1, 2), then 1F1B
  });

  it("ZB-H1 p=2 m=2: the last rank postpones nothing, rank 1 defers one W to the end", () => {
    expect(lists(zbH1(2, 2))).toEqual([
      "0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0B0 0W0 0RECV_B1 0B1 0W1",
      "1RECV_F0 1F0 1B0 1SEND_B0 1RECV_F1 1F1 1B1 1SEND_B1 1W0 1W1",
    ]);
  });

  // m = p: Megatron runs every forward first. Chunk order: forwards go chunk 0 then chunk 1,
  // backwards chunk 1 then chunk 0.
  it("interleaved p=2 m=2 v=2 wraps stage 1 (rank 1) to stage 2 (rank 0)", () => {
    expect(lists(interleaved(2, 2, 2))).toEqual([
      "0F0 0SEND_F0 0F1 0SEND_F1 2RECV_F0 2F0 2SEND_F0 2RECV_F1 2F1 2SEND_F1 2RECV_B0 2BW0 2SEND_B0 2RECV_B1 2BW1 2SEND_B1 0RECV_B0 0BW0 0RECV_B1 0BW1",
      "1RECV_F0 1F0 1SEND_F0 1RECV_F1 1F1 1SEND_F1 3RECV_F0 3F0 3RECV_F1 3F1 3BW0 3SEND_B0 3BW1 3SEND_B1 1RECV_B0 1BW0 1SEND_B0 1RECV_B1 1BW1 1SEND_B1",
    ]);
  });

  // p = 1, v = 2, m = 2: warm-up min(0·2 + (v−1)·p, m·v) = 1 forward, then forward k+1 with
  // backward k. Forward k: chunk ⌊(k mod 2)/1⌋, micro-batch ⌊k/2⌋ → 0F0 1F0 0F1 1F1; backward k:
  // the chunk reversed → 1BW0 0BW0 1BW1 0BW1.
  it("interleaved with one rank has no messages at all", () => {
    expect(lists(interleaved(1, 2, 2))).toEqual(["0F0 1F0 1BW0 0F1 0BW0 1F1 1BW1 0BW1"]);
  });
});
