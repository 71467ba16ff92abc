import { ErrorCode, FlError } from "../errors.js";
import type { UploadVerdict } from "./messages.js";

/**
 * What a refused upload becomes on the way back to the hospital. A session error fails the call
 * itself, because the hospital must join again before any upload can succeed; every other
 * refusal (replay, wrong round, bad signature, a stage's veto, …) is the verdict, so the hospital
 * logs it and carries on.
 */
export function rejectionVerdict(error: unknown): Extract<UploadVerdict, { accepted: false }> {
  const flError = FlError.from(error);
  if (flError.code === ErrorCode.Unauthenticated || flError.code === ErrorCode.UnknownSite) throw flError;
  return { accepted: false, reasonCode: flError.code, message: flError.message };
}
