import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { kitClientYaml, readKitData } from "../../../cli/provision/kit.js";
import { ErrorCode } from "../../../shared/src/errors.js";
import { expectFlError } from "../../helpers/expect-fl-error.js";

const settings = {
  federationId: "cxr-demo",
  coordinator: "coordinator:50051",
  coordinatorPublicKeyFile: "/unused/coordinator.public.json",
};
const dir = mkdtempSync(join(tmpdir(), "fl-kit-data-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe("kitClientYaml", () => {
  it("without --data: a placeholder data section to edit and a work dir next to the config", () => {
    expect(YAML.parse(kitClientYaml("st-marys", settings))).toEqual({
      siteId: "st-marys",
      federationId: "cxr-demo",
      coordinator: "coordinator:50051",
      identity: "./st-marys.identity.json",
      coordinatorPublicKey: "./coordinator.public.json",
      tls: { ca: "./ca.crt", cert: "./st-marys.crt", key: "./st-marys.tls.key" },
      data: { kind: "folder", root: "/path/to/this/hospitals/xrays", labels: "labels.csv" },
      workDir: "./work",
    });
    expect(kitClientYaml("st-marys", settings)).toContain("# EDIT: where this hospital's images");
  });

  it("with --data and --work-dir: those, as given, and nothing else changed", () => {
    const data = { kind: "siim", root: "/data", siteColumn: "site", imageSize: 64, splits: { val: 0.2 } };
    const parsed = YAML.parse(kitClientYaml("st-marys", { ...settings, data, workDir: "/var/lib/fl" }));
    expect(parsed.data).toEqual(data);
    expect(parsed.workDir).toBe("/var/lib/fl");
    expect(parsed.siteId).toBe("st-marys");
  });

  it("no value can add keys to the document", () => {
    const hostile = 'x"\nadmin: true\n# ';
    const parsed = YAML.parse(
      kitClientYaml("st-marys", { ...settings, workDir: hostile, data: { kind: "folder", root: hostile } }),
    );
    expect(parsed.workDir).toBe(hostile);
    expect(parsed.data.root).toBe(hostile);
    expect(parsed.admin).toBeUndefined();
  });
});

describe("readKitData", () => {
  it("reads a data section, or the data: of a whole config, in YAML or JSON", () => {
    expect(readKitData(file("a.yaml", "kind: siim\nroot: /data\nsiteColumn: site\n"))).toEqual({
      kind: "siim",
      root: "/data",
      siteColumn: "site",
    });
    expect(
      readKitData(file("b.json", JSON.stringify({ siteId: "x", data: { kind: "folder", root: "/d" } }))),
    ).toEqual({ kind: "folder", root: "/d" });
  });

  it("refuses a section the data module would refuse, naming the file and the key", () => {
    const bad = file("bad.yaml", "kind: siim\nroot: /data\nsiteColum: site\n");
    expectFlError(() => readKitData(bad), ErrorCode.InvalidConfig, `--data ${bad}: invalid data config`);
    expectFlError(() => readKitData(bad), ErrorCode.InvalidConfig, "siteColum");
    const list = file("list.yaml", "- kind: siim\n");
    expectFlError(() => readKitData(list), ErrorCode.InvalidConfig, "not a data section");
  });
});
