import { expect, it } from "vitest";
import { LineTail, restartDelayMs } from "../../../cli/simulate/restarts.js";

it("waits 1 s before the first restart and doubles the wait up to 10 s", () => {
  expect([1, 2, 3, 4, 5, 9].map(restartDelayMs)).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
});

it("keeps a process's last lines, whole, across chunk boundaries", () => {
  const tail = new LineTail(3);
  tail.write("one\ntw");
  tail.write(Buffer.from("o\n\nthree\nfour\nfi"));
  // Blank lines are dropped; the unfinished last line counts as one of the three kept.
  expect(tail.lines()).toEqual(["three", "four", "fi"]);
  tail.write("ve\n");
  expect(tail.lines()).toEqual(["three", "four", "five"]);
});
