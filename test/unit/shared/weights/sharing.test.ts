import { expect, it } from "vitest";
import {
  createManifest,
  matchingTensors,
  selectTensors,
  sharingRule,
  withSharing,
} from "../../../../shared/src/weights/index.js";

const weights = {
  manifest: createManifest([
    { name: "enc.conv1/kernel", shape: [2] },
    { name: "enc.conv1.bn/moving_mean", shape: [1] },
    { name: "enc.conv1.bn/gamma", shape: [1] },
    { name: "cls.logits/kernel", shape: [3] },
  ]),
  values: Float32Array.from([1, 2, 3, 4, 5, 6, 7]),
};

it("keeps tensors matching the local patterns at the hospital and shares the rest", () => {
  const rule = sharingRule(["*moving_*", "cls.*"]);
  expect(weights.manifest.tensors.map((t) => rule(t.name))).toEqual(["shared", "local", "shared", "local"]);
  const shared = selectTensors(withSharing(weights, rule), "shared");
  expect(shared.manifest.tensors.map((t) => t.name)).toEqual(["enc.conv1/kernel", "enc.conv1.bn/gamma"]);
  expect(Array.from(shared.values)).toEqual([1, 2, 4]);
});

it("treats dots and slashes literally and ? as one character", () => {
  expect(sharingRule(["enc.conv?/kernel"])("enc.conv1/kernel")).toBe("local");
  expect(sharingRule(["enc.conv?/kernel"])("encXconv1/kernel")).toBe("shared");
  expect(matchingTensors(weights, ["enc.*"])).toEqual([
    "enc.conv1/kernel",
    "enc.conv1.bn/moving_mean",
    "enc.conv1.bn/gamma",
  ]);
  expect(sharingRule([])("anything")).toBe("shared");
});
