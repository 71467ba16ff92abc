export { type DecodeEventResult, decodeEvent, encodeEvent, eventProblem, MAX_EVENT_BYTES } from "./codec.js";
export { isFlEventType, type MakeEventFields, makeEvent, matchesFilter } from "./event.js";
export { formatEventJson, formatEventLine } from "./format.js";
export { defaultEventLog } from "./handlers.js";
export { createInProcessEventBus, type InProcessEventBusOptions } from "./in-process-bus.js";
export {
  createNatsEventBus,
  DEFAULT_BACKLOG_LIMIT,
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_PUBLISH_TIMEOUT_MS,
  type NatsEventBus,
  type NatsEventBusOptions,
  type NatsTlsOptions,
  redactUrl,
} from "./nats-bus.js";
export {
  DEFAULT_SUBJECT_PREFIX,
  eventSubject,
  federationSubjects,
  subjectCovers,
  subjectPrefixProblem,
  subjectTokenProblem,
} from "./subject.js";
export {
  EVENT_TYPES,
  type EventBus,
  type EventFilter,
  type EventHandler,
  type FlEvent,
  type FlEventType,
} from "./types.js";
