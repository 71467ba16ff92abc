import type { SignedTaskFields } from "../../../shared/src/crypto/session-auth.js";
import { isFlError } from "../../../shared/src/errors.js";
import { failureReport } from "../../../shared/src/fl/limits.js";
import type { ReceivedPull } from "../../../shared/src/fl/messages.js";
import { parseTaskSpec } from "../../../shared/src/fl/task.js";

/**
 * A task as it came over a transport, its signed fields kept as they came: the one parse of its
 * spec on the hospital. A spec this
 * client cannot run is not an error of the pull: it is reported back as unrunnable, so that the
 * coordinator can fail the task at once instead of waiting for its deadline.
 */
export function receiveTask(signed: SignedTaskFields, signature: Uint8Array): ReceivedPull {
  const { kind, configJson, ...envelope } = signed;
  try {
    return { kind: "task", task: { ...envelope, ...parseTaskSpec(kind, configJson) }, signed, signature };
  } catch (error) {
    if (!isFlError(error)) throw error;
    return {
      kind: "unrunnable",
      taskId: envelope.taskId,
      round: envelope.round,
      // Sent to the coordinator as the task's failure: its code and a bounded, one-line message.
      reason: failureReport(error),
      signed,
      signature,
    };
  }
}
