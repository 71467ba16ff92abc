import { expect, it } from "vitest";
import { federatedGrid, phasesFor, scaledSizes, settingName } from "../../../cli/bench/paper-grid.js";
import { estimate } from "../../../cli/bench/stats.js";

it("covers {scratch, MoCo, inpainting} × {classification, multi-task} × {10 %, 100 %}", () => {
  const names = federatedGrid().map(settingName);
  expect(names).toHaveLength(12);
  expect(new Set(names).size).toBe(12);
  expect(names).toContain("moco-mtl-10pct");
  expect(names).toContain("scratch-cls-100pct");
});

it("pre-trains only when the encoder is not from scratch, and fine-tunes with the label fraction", () => {
  const sizes = scaledSizes(1);
  expect(
    phasesFor({ init: "scratch", head: "multitask", labelFraction: 0.1 }, sizes).map((p) => p.task),
  ).toEqual(["multitask"]);
  const moco = phasesFor({ init: "moco", head: "classify", labelFraction: 0.1 }, sizes);
  expect(moco.map((p) => [p.task, p.rounds])).toEqual([
    ["moco", sizes.pretrainRounds],
    ["classify", sizes.finetuneRounds],
  ]);
  expect(moco[1]).toMatchObject({ labelFraction: 0.1 });
});

it("pre-trains the inpaint settings with the inpainting task and keeps their committed names", () => {
  const setting = { init: "inpaint", head: "classify", labelFraction: 0.1 } as const;
  expect(settingName(setting)).toBe("inpaint-cls-10pct");
  expect(phasesFor(setting, scaledSizes(1))[0]).toMatchObject({ task: "inpainting" });
});

it("computes mean and sample standard deviation by hand", () => {
  // mean of 2, 4, 9 = 5; deviations -3, -1, 4 → (9 + 1 + 16) / 2 = 13
  const r = estimate([2, 4, 9, Number.NaN]);
  expect(r.mean).toBe(5);
  expect(r.sd).toBeCloseTo(Math.sqrt(13), 12);
  expect(r.n).toBe(3);
  expect(estimate([]).mean).toBeNaN();
});
