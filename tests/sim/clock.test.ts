import { describe, expect, it } from "vitest";
import { Clock } from "../../src/sim/clock.js";
import { resolveHardware } from "../../src/sim/hardware.js";

const unit = resolveHardware({ profile: "unit" });
const sum = (t: { computeSeconds: number; commSeconds: number; idleSeconds: number }) => t.computeSeconds + t.commSeconds + t.idleSeconds;

describe("Clock", () => {
  it("charges compute at flops / (peak × efficiency)", () => {
    const c = new Clock(0, resolveHardware({ peakFlops: 100, efficiency: 0.5 }));
    c.compute("f", 100);
    expect(c.now).toBe(2);
    expect(c.events).toMatchObject([{ rank: 0, stream: "compute", kind: "compute", label: "f", start: 0, end: 2 }]);
  });

  it("splits a blocking collective into idle (waiting for the last member) and comm", () => {
    const hw = resolveHardware({ profile: "unit", intraNode: { latency: 1, bandwidth: 4 } });
    const c = new Clock(1, hw);
    c.compute("f", 2); // ready at 2, the other member at 5
    c.collective("ar", "all-reduce", [0, 1], 8, [5, 2], false, 0);
    // T = 5; cost 2(n-1)α + 2(n-1)/n·S/β = 2 + 8/4 = 4
    expect(c.now).toBe(9);
    expect(c.totals()).toEqual({ computeSeconds: 2, commSeconds: 4, idleSeconds: 3, makespan: 9 });
    expect(c.events.filter((e) => e.stream === "compute").map((e) => [e.kind, e.start, e.end])).toEqual([
      ["compute", 0, 2],
      ["idle", 2, 5],
      ["comm", 5, 9],
    ]);
    expect(c.events.find((e) => e.stream === "comm")).toMatchObject({ kind: "comm", start: 5, end: 9 });
  });

  it("hides an overlapped collective behind compute and exposes only the rest", () => {
    const hw = resolveHardware({ profile: "unit", intraNode: { latency: 0, bandwidth: 1 } });
    const c = new Clock(0, hw);
    const op = c.collective("ar", "all-reduce", [0, 1], 10, [0, 0], true, 0); // 0..10
    c.compute("b", 6);
    c.wait(op);
    expect(c.totals()).toEqual({ computeSeconds: 6, commSeconds: 4, idleSeconds: 0, makespan: 10 });
    c.waitAll();
    expect(c.now).toBe(10);
  });

  it("a send does not block compute; the receiver is idle until send time, then comm", () => {
    const hw = resolveHardware({ profile: "unit", intraNode: { latency: 1, bandwidth: 2 } });
    const s = new Clock(0, hw);
    s.compute("f", 3);
    const { sendTime, arrival } = s.send("send", 1, 4, 0);
    expect([sendTime, arrival, s.now, s.commFree]).toEqual([3, 6, 3, 6]);
    const r = new Clock(1, hw);
    r.recv("recv", 0, 4, sendTime, 0);
    expect(r.totals()).toEqual({ computeSeconds: 0, commSeconds: 3, idleSeconds: 3, makespan: 6 });
    // queued sends are FIFO on the comm stream
    expect(s.send("send", 1, 4, 0).sendTime).toBe(6);
  });

  it("keeps compute + comm + idle = makespan", () => {
    const c = new Clock(0, unit);
    c.compute("a", 3);
    c.collective("x", "all-gather", [0, 1, 2], 0, [3, 7, 1], false, 0);
    c.compute("b", 2);
    expect(sum(c.totals())).toBe(c.totals().makespan);
    expect(c.totals()).toEqual({ computeSeconds: 5, commSeconds: 0, idleSeconds: 4, makespan: 9 });
  });
});
