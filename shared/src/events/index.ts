// The event-bus interface and its in-process implementation. The NATS adapter is deliberately not
// re-exported: importing this index must not load the nats client (check:deps rule
// events-interface-free-of-nats); code that connects to NATS imports ./nats-bus.js itself.
// Helpers only the bus implementations use (filter matching, subject validation, the default
// error log) stay internal to this folder.
export { type DecodeEventResult, decodeEvent, encodeEvent, MAX_EVENT_BYTES } from "./codec.js";
export { isFlEventType, type MakeEventFields, makeEvent } from "./event.js";
export { formatEventJson, formatEventLine } from "./format.js";
export { createInProcessEventBus, type InProcessEventBusOptions } from "./in-process-bus.js";
export { createLocalFirstBus, type LocalFirstBusOptions } from "./local-first-bus.js";
export { DEFAULT_SUBJECT_PREFIX, eventSubject, federationSubjects, subjectCovers } from "./subject.js";
export {
  EVENT_TYPES,
  type EventBus,
  type EventFilter,
  type EventHandler,
  type FlEvent,
  type FlEventType,
} from "./types.js";
