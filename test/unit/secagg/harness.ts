import { Buffer } from "node:buffer";
import { createCipheriv, createHash } from "node:crypto";
import type { RandomSource } from "../../../shared/src/crypto/encoding.js";
import {
  type ClientMessage,
  createSecAggClient,
  createSecAggParams,
  createSecAggServer,
  type Outgoing,
  type SecAggClient,
  type SecAggParams,
  type SecAggServer,
  type ServerMessage,
} from "../../../shared/src/secagg/index.js";

/** A reproducible stand-in for secureRandom: the ChaCha20 stream of SHA-256(label). */
export function seededRandom(label: string): RandomSource {
  const cipher = createCipheriv("chacha20", createHash("sha256").update(label).digest(), Buffer.alloc(16));
  return (n) => new Uint8Array(cipher.update(Buffer.alloc(n)));
}

export const STEPS = ["advertise-keys", "share-keys", "masked-input", "unmask-response"] as const;
export type Step = (typeof STEPS)[number];

export interface RoundOptions {
  readonly n: number;
  readonly vectorLength: number;
  readonly inputs: readonly Float32Array[];
  readonly clip?: number;
  readonly fracBits?: number;
  readonly degree?: number;
  readonly threshold?: number;
  readonly minSurvivors?: number;
  /** Clients that go silent instead of sending this message (and everything after). */
  readonly drop?: Partial<Record<Step, readonly string[]>>;
  /** Labels the randomness, so two runs with the same label draw the same keys and seeds. */
  readonly seed?: string;
  /** Rewrites a client's message on its way to the server (a faulty or malicious client). */
  readonly tamperClient?: (message: ClientMessage) => ClientMessage;
  /** Rewrites a server message on its way to a client (a faulty or malicious server). */
  readonly tamperServer?: (out: Outgoing) => ServerMessage;
}

export interface RoundRun {
  readonly params: SecAggParams;
  readonly server: SecAggServer;
  readonly clients: readonly SecAggClient[];
  /** Every message the server accepted, in order: the server's view. */
  readonly received: ClientMessage[];
  /** Every message the server sent. */
  readonly sent: Outgoing[];
  /** Errors clients threw when refusing a server message. */
  readonly clientErrors: { client: string; error: unknown }[];
  /** Errors the server threw when refusing a client message. */
  readonly serverErrors: { client: string; error: unknown }[];
}

export const ids = (n: number): string[] =>
  Array.from({ length: n }, (_, i) => `h${String(i).padStart(2, "0")}`);

export function makeParams(options: Omit<RoundOptions, "inputs" | "drop">): SecAggParams {
  return createSecAggParams({
    session: `test/${options.seed ?? "s"}/1`,
    round: 7,
    cohort: ids(options.n),
    vectorLength: options.vectorLength,
    clip: options.clip ?? 1,
    fracBits: options.fracBits ?? 16,
    graphSeed: createHash("sha256")
      .update(`graph/${options.seed ?? "s"}`)
      .digest("hex"),
    ...(options.degree === undefined ? {} : { degree: options.degree }),
    ...(options.threshold === undefined ? {} : { threshold: options.threshold }),
    ...(options.minSurvivors === undefined ? {} : { minSurvivors: options.minSurvivors }),
  });
}

/** Plays one round between real clients and a real server, with the drops and tampering asked for. */
export function runRound(options: RoundOptions): RoundRun {
  const params = makeParams(options);
  const server = createSecAggServer(params);
  const seed = options.seed ?? "s";
  const clients = params.cohort.map((id, i) =>
    createSecAggClient({
      id,
      params,
      input: options.inputs[i] as Float32Array,
      random: seededRandom(`${seed}/${id}`),
    }),
  );
  const byId = new Map(clients.map((c) => [c.id, c]));
  const received: ClientMessage[] = [];
  const sent: Outgoing[] = [];
  const clientErrors: { client: string; error: unknown }[] = [];
  const silent = new Set<string>();
  const tamperClient = options.tamperClient ?? ((m: ClientMessage) => m);
  const tamperServer = options.tamperServer ?? ((o: Outgoing) => o.message);

  let outbox: Outgoing[] = [];
  const serverErrors: { client: string; error: unknown }[] = [];
  const toServer = (message: ClientMessage): void => {
    const tampered = tamperClient(message);
    try {
      const step = server.receive(tampered);
      received.push(tampered);
      outbox.push(...step.send);
    } catch (error) {
      serverErrors.push({ client: message.from, error });
    }
  };

  for (const [s, step] of STEPS.entries()) {
    for (const id of options.drop?.[step] ?? []) silent.add(id);
    const stageBefore = server.stage;
    if (s === 0) {
      for (const client of clients) if (!silent.has(client.id)) toServer(client.advertise());
    } else {
      const deliveries = outbox;
      outbox = [];
      for (const out of deliveries) {
        sent.push(out);
        if (silent.has(out.to)) continue;
        let reply: ClientMessage;
        try {
          reply = (byId.get(out.to) as SecAggClient).receive(tamperServer(out));
        } catch (error) {
          clientErrors.push({ client: out.to, error });
          continue;
        }
        toServer(reply);
      }
    }
    // The deadline: whoever has not answered by now has dropped.
    if (server.stage === stageBefore) outbox.push(...server.closeStage().send);
    if (server.stage === "aborted" || server.stage === "done") break;
  }
  sent.push(...outbox);
  return { params, server, clients, received, sent, clientErrors, serverErrors };
}

/** Σ round(clip(x)·2^f) over the chosen inputs, mod 2^32: an independent reference sum. */
export function plainFixedPointSum(
  inputs: readonly Float32Array[],
  options: { clip: number; fracBits: number },
): Uint32Array {
  const length = inputs[0]?.length ?? 0;
  const out = new Uint32Array(length);
  for (let i = 0; i < length; i++) {
    let total = 0;
    for (const input of inputs) {
      const v = Math.min(options.clip, Math.max(-options.clip, input[i] as number));
      total += Math.round(v * 2 ** options.fracBits);
    }
    out[i] = ((total % 2 ** 32) + 2 ** 32) % 2 ** 32;
  }
  return out;
}

export function randomInputs(n: number, length: number, label: string, scale = 1.5): Float32Array[] {
  const random = seededRandom(`inputs/${label}`);
  return Array.from({ length: n }, () => {
    const words = new Uint32Array(random(4 * length).buffer);
    return Float32Array.from(words, (w) => (w / 2 ** 32 - 0.5) * 2 * scale);
  });
}
