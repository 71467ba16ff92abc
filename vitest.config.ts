import { defineConfig } from "vitest/config";

// Four projects that run alone: `npm run test:unit` (pure, no TensorFlow, milliseconds a file),
// `test:tf` (tfjs-backed unit tests), `test:integration` (real gRPC, nats-server, SQLite, child
// processes) and `test:e2e` (the CLI end to end). `npm test` runs them all.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          testTimeout: 10_000,
          // Pure tests share no global state (no mocks, fake timers or backends), so one module
          // graph for all files is safe and makes the project about 3x faster to run on every save.
          isolate: false,
        },
      },
      { extends: true, test: { name: "tf", include: ["test/tf/**/*.test.ts"] } },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          // Integration tests start servers and child processes; run files one at a time so
          // that a 2-core CI machine is not oversubscribed.
          fileParallelism: false,
          testTimeout: 300_000,
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          fileParallelism: false,
          testTimeout: 300_000,
        },
      },
    ],
  },
});
