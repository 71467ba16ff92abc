import { Command, CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import { authOfFlags, parseEventTypes, registerEventsCommands } from "../../../cli/commands/events.js";
import { ErrorCode, isFlError } from "../../../shared/src/errors.js";

describe("parseEventTypes", () => {
  it("trims, drops empty entries and duplicates, keeps order", () => {
    expect(parseEventTypes(" round.completed, site.joined,,round.completed ")).toEqual([
      "round.completed",
      "site.joined",
    ]);
  });

  it("names every unknown type and lists the known ones", () => {
    let error: unknown;
    try {
      parseEventTypes("round.completed,round.done,clients.joined");
    } catch (e) {
      error = e;
    }
    expect(isFlError(error, ErrorCode.InvalidConfig)).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain("round.done, clients.joined");
    expect(message).toContain("evaluation.completed");
  });
});

describe("fl events watch options", () => {
  function program(): { cli: Command; errors: string[] } {
    const errors: string[] = [];
    const cli = new Command("fl").exitOverride().configureOutput({
      writeErr: (text) => errors.push(text),
      writeOut: () => {},
    });
    registerEventsCommands(cli);
    return { cli, errors };
  }

  it("refuses an unknown --types entry before connecting", async () => {
    const { cli, errors } = program();
    const args = [
      "events",
      "watch",
      "--nats",
      "nats://127.0.0.1:1",
      "--federation",
      "f",
      "--types",
      "round.done",
    ];
    await expect(cli.parseAsync(args, { from: "user" })).rejects.toBeInstanceOf(CommanderError);
    expect(errors.join("")).toContain("unknown event type round.done");
  });

  it("requires --nats and --federation", async () => {
    const { cli, errors } = program();
    await expect(
      cli.parseAsync(["events", "watch", "--federation", "f"], { from: "user" }),
    ).rejects.toBeInstanceOf(CommanderError);
    expect(errors.join("")).toContain("--nats <url>");
  });

  it("refuses a --count that is not a positive integer", async () => {
    const { cli, errors } = program();
    const args = ["events", "watch", "--nats", "nats://127.0.0.1:1", "--federation", "f", "--count", "0"];
    await expect(cli.parseAsync(args, { from: "user" })).rejects.toBeInstanceOf(CommanderError);
    expect(errors.join("")).toContain("positive integer");
  });
});

describe("fl events watch credentials", () => {
  it("maps each kind of credential flag to the bus's auth, and none to anonymous", () => {
    expect(authOfFlags({})).toBeUndefined();
    expect(authOfFlags({ user: "watcher", passwordFile: "w.pass" })).toEqual({
      user: "watcher",
      passwordFile: "w.pass",
    });
    expect(authOfFlags({ tokenFile: "t" })).toEqual({ tokenFile: "t" });
    expect(authOfFlags({ creds: "w.creds" })).toEqual({ credsFile: "w.creds" });
    expect(authOfFlags({ nkeySeed: "w.nk" })).toEqual({ nkeySeedFile: "w.nk" });
  });

  it("refuses two kinds at once, or a user without a password file", () => {
    expect(() => authOfFlags({ tokenFile: "t", creds: "c" })).toThrow(
      "give one kind of NATS credentials, not --token-file and --creds",
    );
    expect(() => authOfFlags({ user: "watcher" })).toThrow("--user and --password-file go together");
  });
});
