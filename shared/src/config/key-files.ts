import {
  type Identity,
  identityFromJson,
  type PublicIdentity,
  publicIdentityFromJson,
} from "../crypto/index.js";
import { readTextFile } from "./load.js";

/** A secret identity file written by `fl keys generate`. */
export function readIdentityFile(path: string): Identity {
  return identityFromJson(readTextFile(path, "identity file", "Create one with 'fl keys generate'."), path);
}

/** A public key file (`<id>.public.json`). */
export function readPublicIdentityFile(path: string): PublicIdentity {
  return publicIdentityFromJson(readTextFile(path, "public key file"), path);
}
