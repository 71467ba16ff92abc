import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkCentralEvaluation } from "../../../cli/commands/central-evaluator.js";
import { REFERENCE_SEED_OFFSET, referenceEvaluation } from "../../../cli/simulate/central-reference.js";
import { type SimulationConfig, SimulationConfigSchema } from "../../../cli/simulate/config.js";
import { CentralEvaluationSchema, loadCoordinatorConfig } from "../../../coordinator/src/config.js";
import { FlError } from "../../../shared/src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "fl-central-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function rejection(promise: Promise<unknown>): Promise<FlError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FlError);
  expect((error as FlError).code).toBe("FL_INVALID_CONFIG");
  return error as FlError;
}

const central = (input: object) => CentralEvaluationSchema.parse(input);
const SYNTH = { kind: "synthetic", preset: "3-hospitals", imagesPerSite: 20, imageSize: 32 };

describe("checkCentralEvaluation (fl coordinator, before it starts)", () => {
  it("names a dataset folder that does not exist, and where relative roots are read from", async () => {
    const error = await rejection(
      checkCentralEvaluation(central({ data: { kind: "folder", root: join(dir, "no-such-folder") } })),
    );
    expect(error.message).toContain(
      `centralEvaluation.data.root: ${join(dir, "no-such-folder")} does not exist`,
    );
    expect(error.message).toContain("read from the config file's folder");
  });

  it("lists the data config's wrong keys under centralEvaluation", async () => {
    const error = await rejection(checkCentralEvaluation(central({ data: { ...SYNTH, imagesPerSit: 3 } })));
    expect(error.message).toMatch(/^centralEvaluation: invalid data config: data\.\(root\): .*imagesPerSit/);
    const preset = await rejection(
      checkCentralEvaluation(central({ data: { ...SYNTH, preset: "9-hospitals" } })),
    );
    expect(preset.message).toContain("data.preset: unknown preset");
  });

  it("asks which site holds the set when the data defines several, and refuses one it lacks", async () => {
    const several = await rejection(checkCentralEvaluation(central({ data: SYNTH })));
    expect(several.message).toBe(
      "centralEvaluation.data defines 3 sites (metro-icu, community, outpatient): name the one that holds the coordinator's test set in centralEvaluation.site",
    );
    const missing = await rejection(checkCentralEvaluation(central({ data: SYNTH, site: "rural" })));
    expect(missing.message).toBe(
      'centralEvaluation.site: "rural" is not a site of centralEvaluation.data; its sites are metro-icu, community, outpatient',
    );
    await expect(checkCentralEvaluation(central({ data: SYNTH, site: "community" }))).resolves.toBe(
      "community",
    );
    await expect(checkCentralEvaluation(central({ data: { ...SYNTH, preset: "1-central" } }))).resolves.toBe(
      "central",
    );
  });

  it("says so when a folder dataset's labels name no image that is there", async () => {
    const root = join(dir, "xrays");
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, "labels.csv"), "image,label,site\na.png,0,ref\nb.png,1,ref\n");
    const error = await rejection(
      checkCentralEvaluation(central({ data: { kind: "folder", root, siteColumn: "site" } })),
    );
    expect(error.message).toBe(
      "centralEvaluation.data holds no usable image: check that the files its labels name are there and readable",
    );
  });
});

describe("centralEvaluation in the coordinator config", () => {
  const base = {
    federationId: "f",
    stateDir: "state",
    identity: "i.json",
    sitesDir: "sites",
    insecure: true,
    model: { architecture: "small-cnn", imageSize: 32, widths: [4], numClasses: 4, seed: 0 },
    plan: { phases: [{ name: "p", task: "classify", rounds: 1 }] },
  };

  it("reads a relative data root from the config file's folder and fills the defaults", () => {
    writeFileSync(
      join(dir, "central.json"),
      JSON.stringify({ ...base, centralEvaluation: { data: { kind: "folder", root: "reference" } } }),
    );
    const config = loadCoordinatorConfig(join(dir, "central.json"));
    expect(config.centralEvaluation).toEqual({
      data: { kind: "folder", root: join(dir, "reference") },
      split: "test",
      backend: "auto",
    });
  });

  it("refuses unknown keys and a zero interval, naming them", () => {
    writeFileSync(
      join(dir, "typo.json"),
      JSON.stringify({ ...base, centralEvaluation: { data: SYNTH, evry: 2, every: 0 } }),
    );
    let message = "";
    try {
      loadCoordinatorConfig(join(dir, "typo.json"));
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("centralEvaluation");
    expect(message).toContain("evry");
    expect(message).toContain("centralEvaluation.every");
  });
});

describe("the simulation's reference site", () => {
  const simulation = (input: object): SimulationConfig => {
    const parsed = SimulationConfigSchema.parse(input);
    return {
      ...parsed,
      data: {
        kind: "synthetic",
        preset: parsed.preset,
        imagesPerSite: 400,
        imageSize: 64,
        seed: parsed.seed,
      },
    };
  };

  it("is a hospital whose scanner no participant has, with patients of its own seed", () => {
    expect(referenceEvaluation(simulation({}))).toEqual({
      data: {
        kind: "synthetic",
        preset: "5-hospitals",
        imagesPerSite: 400,
        imageSize: 64,
        seed: 7 + REFERENCE_SEED_OFFSET,
        splits: { val: 0.05, test: 0.9 },
      },
      site: "university",
      split: "test",
      backend: "auto",
    });
    // The IID and central presets use the university's scanner: the rural hospital is chosen.
    expect(referenceEvaluation(simulation({ preset: "4-iid" }))?.site).toBe("rural");
    expect(referenceEvaluation(simulation({ preset: "1-central" }))?.site).toBe("rural");
    expect(referenceEvaluation(simulation({ preset: "5-hospitals" }))?.site).toBe("university");
  });

  it("is absent with --no-central-eval and for a real dataset", () => {
    expect(referenceEvaluation(simulation({ centralEval: false }))).toBeUndefined();
    const real = { ...simulation({}), data: { kind: "folder", root: "/data/xrays" } };
    expect(referenceEvaluation(real)).toBeUndefined();
  });
});
