import { describe, expect, it } from "vitest";
import { RecentlyUsed } from "../../../../client/src/virtual/lru.js";
import { pickJob } from "../../../../client/src/virtual/schedule.js";

describe("RecentlyUsed", () => {
  it("pushes out the least recently used entry, counting reads as use", () => {
    const lru = new RecentlyUsed<string, number>(2);
    expect(lru.set("a", 1)).toEqual([]);
    expect(lru.set("b", 2)).toEqual([]);
    expect(lru.get("a")).toBe(1);
    expect(lru.set("c", 3)).toEqual([["b", 2]]);
    expect([lru.has("a"), lru.has("b"), lru.has("c")]).toEqual([true, false, true]);
    lru.delete("a");
    expect(lru.size).toBe(1);
    expect(() => new RecentlyUsed(0)).toThrow(/positive integer/);
  });
});

describe("pickJob", () => {
  const jobs = [{ siteId: "x" }, { siteId: "y" }, { siteId: "z" }];

  it("takes the oldest job of a site the worker has loaded, else the oldest job", () => {
    expect(pickJob(jobs, (s) => s === "z" || s === "y")).toBe(1);
    expect(pickJob(jobs, () => false)).toBe(0);
    expect(pickJob([], () => true)).toBe(-1);
  });
});
