import type { RandomSource } from "../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../shared/src/errors.js";
import type { RequestAuth, UploadVerdict } from "../../shared/src/fl/messages.js";
import type { CoordinatorPort } from "../../shared/src/fl/ports.js";
import { LONG_POLL_MS } from "../../shared/src/fl/protocol-constants.js";
import { secAggContribution } from "../../shared/src/fl/secagg-contribution.js";
import { NOISE_TAIL_SIGMAS, siteNoiseStd } from "../../shared/src/fl/secagg-dp.js";
import {
  encodeMaskedPayload,
  type SecAggAnswer,
  type SecAggAwaiting,
  type SecAggDownstream,
  type SecAggRequest,
  type SecAggUpstream,
} from "../../shared/src/fl/secagg-exchange.js";
import { answerBody, callBody, SessionMethod } from "../../shared/src/fl/session-calls.js";
import { isSiteNoise } from "../../shared/src/fl/stages/dp-site-noise.js";
import type { TrainTask } from "../../shared/src/fl/task.js";
import {
  createSecAggClient,
  type MaskedInput,
  type SecAggParams,
  type ServerMessage,
  validateParams,
} from "../../shared/src/secagg/index.js";

/** What the site's session offers this module: MACs on its calls and checks on the answers. */
export interface SecAggCalls {
  authorize(method: SessionMethod, body: unknown): RequestAuth;
  checkAnswerMac(
    method: SessionMethod,
    auth: RequestAuth,
    body: unknown,
    mac: Uint8Array,
    what: string,
  ): void;
}

export interface SecAggSessionOptions {
  readonly siteId: string;
  readonly port: CoordinatorPort;
  readonly session: SecAggCalls;
  readonly task: { readonly taskId: string; readonly round: number; readonly spec: TrainTask };
  /** The (clipped) delta of the shared tensors, after the client stages. */
  readonly delta: Float32Array;
  readonly numExamples: number;
  /** Seals, signs and uploads the masked input as the task's update. */
  readonly upload: (plaintext: Uint8Array) => Promise<UploadVerdict>;
  /** Aborts when the coordinator no longer expects the task. */
  readonly ended: AbortSignal;
  readonly log: (line: string) => void;
  /** Keys, seeds and shares; default: the system's secure random source. */
  readonly random?: RandomSource;
}

export type SecAggSessionResult =
  | { readonly kind: "unmasked" }
  /** The coordinator ended this site's part (the round aborted, the site was left out, or the task ended). */
  | { readonly kind: "ended"; readonly reason: string };

/**
 * One site's side of a secure-aggregation round (shared/src/secagg/client.ts) over the
 * SecAggExchange call: the site contributes w·Δ and its weight coordinate (secagg-contribution.ts),
 * masked; the coordinator learns only the cohort's sum. The client state machine refuses
 * anything the protocol forbids (both secrets of one site, too few survivors, another
 * attempt's messages), and that refusal ends the task here: nothing more is sent.
 */
export async function runSecAggSession(options: SecAggSessionOptions): Promise<SecAggSessionResult> {
  const { siteId, task } = options;
  let session = "";
  const exchange = async (awaiting: SecAggAwaiting, message?: SecAggUpstream, waitMs = LONG_POLL_MS) => {
    if (!options.port.secAggExchange)
      throw new FlError(ErrorCode.Unsupported, "this transport cannot carry secure aggregation");
    const request: SecAggRequest = {
      taskId: task.taskId,
      round: task.round,
      session,
      awaiting,
      ...(message && { message }),
      waitMs,
    };
    const auth = options.session.authorize(SessionMethod.SecAggExchange, callBody.secAggExchange(request));
    const signed = await options.port.secAggExchange(auth, request);
    const { mac, ...answer } = signed;
    options.session.checkAnswerMac(
      SessionMethod.SecAggExchange,
      auth,
      answerBody.secAggExchange(answer as SecAggAnswer),
      mac,
      "the coordinator's secure-aggregation answer",
    );
    return answer as SecAggAnswer;
  };
  /** Sends `message` (once), then asks until the coordinator's `awaiting` message or the end. */
  const step = async (
    awaiting: SecAggAwaiting,
    message?: SecAggUpstream,
  ): Promise<Exclude<SecAggAnswer, { kind: "wait" }>> => {
    let pending = message;
    for (;;) {
      if (options.ended.aborted) return { kind: "ended", reason: "the coordinator ended the task" };
      const answer = await exchange(awaiting, pending);
      pending = undefined;
      if (answer.kind !== "wait") return answer;
    }
  };

  const setup = await step("setup");
  if (setup.kind === "ended") return setup;
  if (setup.kind !== "setup") throw unexpected(setup, "setup");
  checkSetup(setup.params, setup.weightScale, options);
  const { params } = setup;
  session = params.session;
  const client = createSecAggClient({
    id: siteId,
    params,
    input: secAggContribution(options.delta, options.numExamples, setup.weightScale, params.clip),
    ...(options.random && { random: options.random }),
  });
  const envelope = { session: params.session, round: params.round };
  const receive = (message: SecAggDownstream) => client.receive({ ...message, ...envelope } as ServerMessage);

  const keys = await step("neighbour-keys", strip(client.advertise()));
  if (keys.kind === "ended") return keys;
  const relayed = await step("relayed-shares", strip(receive(messageOf(keys, "neighbour-keys"))));
  if (relayed.kind === "ended") return relayed;
  const masked = receive(messageOf(relayed, "relayed-shares")) as MaskedInput;
  const verdict = await options.upload(encodeMaskedPayload(masked));
  if (!verdict.accepted)
    throw new FlError(
      ErrorCode.FailedPrecondition,
      `the masked input was refused: ${verdict.reasonCode}: ${verdict.message}`,
    );
  const request = await step("unmask-request");
  if (request.kind === "ended") return request;
  const response = strip(receive(messageOf(request, "unmask-request")));
  // The last message of the protocol: the answer (the sum unmasked, or not yet) changes nothing here.
  await exchange("unmask-request", response, 0);
  options.log(
    `round ${task.round}: secure aggregation: revealed ${response.type === "unmask-response" ? response.shares.length : 0} shares for the unmasking`,
  );
  return { kind: "unmasked" };
}

/**
 * The parts of the coordinator's parameters this site can check itself: its round, its task's
 * cohort, the length of its own update; the protocol checks the rest (sizes, bit budget).
 */
function checkSetup(params: SecAggParams, weightScale: number, options: SecAggSessionOptions): void {
  const { task, siteId } = options;
  const mismatch = (what: string) =>
    new FlError(
      ErrorCode.InvalidConfig,
      `the coordinator's secure-aggregation setup does not fit this site's task: ${what}; refusing to take part`,
    );
  validateParams(params);
  if (params.round !== task.round)
    throw mismatch(`it is for round ${params.round}, the task for ${task.round}`);
  if (!params.cohort.includes(siteId)) throw mismatch("this site is not in its cohort");
  const cohort = task.spec.privacy.cohort;
  if (cohort > 0 && params.cohort.length !== cohort)
    throw mismatch(`its cohort has ${params.cohort.length} sites, the signed task says ${cohort}`);
  if (params.vectorLength !== options.delta.length + 1)
    throw mismatch(
      `it expects ${params.vectorLength - 1} values, this site's update has ${options.delta.length}`,
    );
  if (!(weightScale >= options.numExamples))
    throw mismatch(`its weight scale ${weightScale} is below this site's ${options.numExamples} examples`);
  checkNoiseSetup(params, weightScale, task.spec, mismatch);
}

/**
 * Under distributed DP the site's noise share was sized for a sum of at least t inputs and a
 * ring that keeps its tails: a setup that lets the sum have fewer (a lower minSurvivors), cuts
 * the noise (a smaller codec clip) or scales the update (a weight scale other than 1, which
 * would scale the noise with it) would make the accountant's ε a false promise.
 */
function checkNoiseSetup(
  params: SecAggParams,
  weightScale: number,
  spec: TrainTask,
  mismatch: (what: string) => FlError,
): void {
  const noise = spec.pipeline.find(isSiteNoise);
  if (spec.privacy.dp?.mode === "distributed" && !noise)
    throw mismatch("the task promises distributed DP but its pipeline adds no noise at this site");
  if (!noise) return;
  if (params.minSurvivors < noise.survivors)
    throw mismatch(
      `it unmasks sums of as few as ${params.minSurvivors} sites, but this site's noise share is sized for at least ${noise.survivors}`,
    );
  const needed = noise.clipNorm + NOISE_TAIL_SIGMAS * siteNoiseStd(noise);
  if (params.clip < needed)
    throw mismatch(
      `its codec clips values at ${params.clip}, which would cut this site's noise (it needs at least ${needed})`,
    );
  if (weightScale !== 1)
    throw mismatch(`its weight scale is ${weightScale}; distributed DP weighs every update 1`);
}

function strip<M extends { session: string; round: number }>(message: M): SecAggUpstream {
  const { session: _s, round: _r, from: _f, ...rest } = message as M & { from?: string };
  return rest as unknown as SecAggUpstream;
}

function messageOf<T extends SecAggDownstream["type"]>(
  answer: SecAggAnswer,
  type: T,
): Extract<SecAggDownstream, { type: T }> {
  if (answer.kind !== "message" || answer.message.type !== type) throw unexpected(answer, type);
  return answer.message as Extract<SecAggDownstream, { type: T }>;
}

function unexpected(answer: SecAggAnswer, wanted: string): FlError {
  const got = answer.kind === "message" ? answer.message.type : answer.kind;
  return new FlError(ErrorCode.InvalidArgument, `the coordinator answered ${got} where ${wanted} was due`);
}
