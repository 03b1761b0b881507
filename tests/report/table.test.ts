import { describe, expect, it } from "vitest";
import { formatBytes, formatCount, formatSeconds, formatTable } from "../../src/report/table.js";

describe("human units", () => {
  it("counts and rates carry an SI prefix and three significant digits, never an exponent", () => {
    expect(formatCount(950)).toBe("950");
    expect(formatCount(999.4)).toBe("999");
    expect(formatCount(999.6)).toBe("1.00 k");
    expect(formatCount(4100)).toBe("4.10 k");
    expect(formatCount(1_574_519.93)).toBe("1.57 M");
    expect(formatCount(2.31e9)).toBe("2.31 G");
    expect(formatCount(0.5)).toBe("0.500");
    for (const x of [1.166e8, 3.2e12, 7.7e15]) expect(formatCount(x)).not.toMatch(/e/);
  });

  it("seconds and bytes pick the unit that keeps the digits readable", () => {
    expect(formatSeconds(1.92)).toBe("1.920 s");
    expect(formatSeconds(325e-6)).toBe("325 µs");
    expect(formatBytes(61.2 * 2 ** 30)).toBe("61.20 GiB");
    expect(formatBytes(512)).toBe("512 B");
  });

  it("tables right-align numbers and left-align text", () => {
    expect(formatTable(["name", "n"], [["a", 5], ["bcd", 120]])).toBe(["name    n", "----  ---", "a       5", "bcd   120"].join("\n"));
  });
});
