import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts", "test/e2e/**/*.test.ts"],
          // Integration tests start servers and child processes; run files one at a time so
          // that a 2-core CI machine is not oversubscribed.
          fileParallelism: false,
          testTimeout: 300_000,
        },
      },
    ],
  },
});
