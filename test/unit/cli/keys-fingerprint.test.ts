import { createHash } from "node:crypto";
import { expect, it } from "vitest";
import { describePublicIdentity } from "../../../cli/commands/keys.js";
import { generateIdentity, publicIdentity } from "../../../shared/src/crypto/index.js";
import { seededRandom } from "../../helpers/crypto-fixtures.js";

it("prints the id and the first 16 hex digits of each key's SHA-256, as the owner computes them", () => {
  const site = publicIdentity(generateIdentity("st-marys", seededRandom(5)));
  const sha = (key: Uint8Array) => createHash("sha256").update(key).digest("hex").slice(0, 16);
  expect(describePublicIdentity(site)).toBe(
    `st-marys  signing ${sha(site.signingPublicKey)}  encryption ${sha(site.encryptionPublicKey)}`,
  );
});
