export {
  type ClientStage,
  createSecAggClient,
  type SecAggClient,
  type SecAggClientOptions,
} from "./client.js";
export { isSecAggError, SecAggError, SecAggReason } from "./errors.js";
export {
  checkBitBudget,
  decodeMean,
  decodeSum,
  encodeFixedPoint,
  type FixedPointCodec,
  maxFracBits,
  quantisationBound,
} from "./fixed-point.js";
export { defaultDegree, defaultThreshold, neighbourGraph } from "./graph.js";
export type {
  AdvertiseKeys,
  ClientMessage,
  MaskedInput,
  NeighbourKeys,
  RelayedShares,
  SecretKind,
  ServerMessage,
  ShareKeys,
  UnmaskRequest,
  UnmaskResponse,
} from "./messages.js";
export { wireBytes } from "./messages.js";
export {
  assertSameParams,
  createSecAggParams,
  MIN_SURVIVORS_FLOOR,
  paramsDigest,
  type SecAggParams,
  type SecAggParamsOptions,
  validateParams,
} from "./params.js";
export {
  createSecAggServer,
  type Outgoing,
  type SecAggAbort,
  type SecAggFault,
  type SecAggResult,
  type SecAggServer,
  type ServerStage,
  type ServerStep,
} from "./server.js";
