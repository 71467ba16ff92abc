// Import rules of the code base, checked by `npm run check:deps` (part of `npm test`), which
// cruises every source folder (test/ and non-code folders left out). The layers are described in
// docs/architecture.md; this file is what keeps them true. Paths are relative to the folder
// depcruise runs in, so test/integration/tooling can run the same rules on fixture trees.
//
// Type-only imports count (tsPreCompilationDeps), in every rule: a cycle or a forbidden edge made
// of types is still coupling that the next change has to untangle (one of the two cycles issue #8
// found, shared/src/ml/data/config.ts <-> loaders/, consisted of type imports only), and a pure
// module that names a concrete adapter's type (the SQLite store, say) is tied to that adapter;
// it should name a port, an interface of its own, that the adapter implements.

/** Pure layers: deterministic logic with no I/O, unit-tested without servers or files. */
const PURE = [
  "^shared/src/(fl|weights|crypto|aggregation|metrics|secagg|privacy)/",
  "^coordinator/src/(strategy|federation)/",
];

/** Modules that do I/O; pure layers may import none of them, directly or through others. */
const IO = [
  "^(node:)?(fs|net|child_process|http|https|http2)(/|$)",
  "(^|/)node_modules/(better-sqlite3|nats|@grpc/grpc-js)/",
  "^proto/gen/",
];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment:
        "No import cycles. Break one by moving what both sides need into a third module. Generated " +
        "protobuf code (proto/gen) is left out: it is regenerated, not edited.",
      from: { pathNot: "^proto/gen/" },
      to: { circular: true },
    },
    {
      name: "coordinator-not-client",
      severity: "error",
      comment: "The coordinator and the hospital client are separate programs; cli/ composes both.",
      from: { path: "^coordinator/" },
      to: { path: "^client/" },
    },
    {
      name: "client-not-coordinator",
      severity: "error",
      comment: "The coordinator and the hospital client are separate programs; cli/ composes both.",
      from: { path: "^client/" },
      to: { path: "^coordinator/" },
    },
    {
      name: "shared-not-sides",
      severity: "error",
      comment: "shared/ is below both programs and may import neither.",
      from: { path: "^shared/" },
      to: { path: "^(coordinator|client)/" },
    },
    {
      name: "cli-is-the-root",
      severity: "error",
      comment: "cli/ composes the programs; nothing below it imports it back.",
      from: { pathNot: ["^cli/", "^bin/"] },
      to: { path: "^cli/" },
    },
    {
      name: "grpc-only-in-transport",
      severity: "error",
      comment:
        "Generated protobuf types and grpc-js stay in the gRPC adapters; everything else speaks " +
        "the domain types of shared/src/fl (ports, messages).",
      from: {
        pathNot: [
          "^(coordinator|client)/src/transport/grpc/",
          "^shared/src/transport/",
          "^proto/gen/",
          // The federation benchmark's yardstick is raw grpc-js streaming throughput: it has to be
          // grpc-js itself, not the project's adapters.
          "^bench/federation/raw-(grpc|server)\\.ts$",
        ],
      },
      to: { path: ["^proto/gen/", "(^|/)node_modules/@grpc/grpc-js/"] },
    },
    {
      name: "nats-only-in-nats-bus",
      severity: "error",
      comment:
        "The NATS client is an adapter of the event bus; code publishes through the EventBus " +
        "interface. cli/ wires the adapter in.",
      from: { pathNot: ["^shared/src/events/nats-bus\\.ts$", "^cli/"] },
      to: { path: "(^|/)node_modules/nats/" },
    },
    {
      name: "events-interface-free-of-nats",
      severity: "error",
      comment:
        "Importing the event-bus interface (shared/src/events, index included) must not load nats, " +
        "not even through a re-export; import the adapter from shared/src/events/nats-bus.ts.",
      from: { path: "^shared/src/events/", pathNot: "^shared/src/events/nats-bus\\.ts$" },
      to: { path: "(^|/)node_modules/nats/", reachable: true },
    },
    {
      name: "pure-no-io",
      severity: "error",
      comment:
        "Pure layers do no I/O, not even through a helper they import: file, socket, process, " +
        "database, NATS and gRPC access lives in the layers that own it.",
      from: { path: PURE },
      to: { path: IO, reachable: true },
    },
    {
      name: "pure-no-ml",
      severity: "error",
      comment:
        "shared/src/ml is the client-side ML layer (tfjs, data); the FL contract and the pure " +
        "layers are used by the coordinator and must not pull it in.",
      from: { path: PURE },
      to: { path: "^shared/src/ml/", reachable: true },
    },
    {
      name: "coordinator-ml-only-in-model-init",
      severity: "error",
      comment:
        "The coordinator needs tfjs only to build the initial model; everything else works on " +
        "plain weight maps.",
      from: { path: "^coordinator/", pathNot: "^coordinator/src/model-init\\.ts$" },
      to: { path: "^shared/src/ml/" },
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      comment: "An import that does not resolve would hide its edge from every rule above.",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "(^|/)node_modules/" },
    tsPreCompilationDeps: true,
    // No tsConfig: dependency-cruiser maps NodeNext `.js` specifiers to `.ts` files by itself
    // (checked: the same 741 edges either way), and without it the config works from any folder.
    // Resolve packages the way Node does (package.json "exports"); without it subpath imports
    // such as @bufbuild/protobuf/wire and tsx/esm/api do not resolve.
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
  },
};
