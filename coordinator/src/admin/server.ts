import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import { ErrorCode, errorMessage, FlError } from "../../../shared/src/errors.js";
import { writeFileAtomic } from "../../../shared/src/io/atomic-file.js";
import { Dashboard, isDashboardPath, type LiveFeed } from "./dashboard/http.js";

/** The prefix of generated tokens, so that log redaction can recognise one wherever it appears. */
export const ADMIN_TOKEN_PREFIX = "fla_";
const MIN_TOKEN_CHARS = 16;

/**
 * The operator token: read from `path`, or, when the file does not exist, a new random one
 * written there with mode 600 (so a first start needs no extra step, and the operator copies the
 * file to where `fl status` runs).
 */
export function loadOrCreateAdminToken(path: string, log: (line: string) => void): string {
  if (!existsSync(path)) {
    const token = `${ADMIN_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
    try {
      // A first start with tokenFile: secrets/admin.token should not need a mkdir first.
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileAtomic(path, `${token}\n`, { mode: 0o600 });
    } catch (error) {
      throw new FlError(
        ErrorCode.InvalidConfig,
        `cannot create admin.tokenFile ${path}: ${errorMessage(error)}; point it at a writable folder`,
        { cause: error },
      );
    }
    log(`operator token created in ${path} (mode 600): fl status --token-file reads it`);
    return token;
  }
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new FlError(
      ErrorCode.InvalidConfig,
      `cannot read admin.tokenFile ${path}: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
  const token = text.trim();
  if (token.length < MIN_TOKEN_CHARS || /\s/.test(token))
    throw new FlError(
      ErrorCode.InvalidConfig,
      `admin.tokenFile ${path} holds no usable token (one line of at least ${MIN_TOKEN_CHARS} characters without spaces is needed): delete the file to have the coordinator create one, or write one with: openssl rand -hex 32 > ${path}`,
    );
  if (process.platform !== "win32" && (statSync(path).mode & 0o077) !== 0)
    log(`WARNING: admin.tokenFile ${path} is readable by other users: chmod 600 ${path}`);
  return token;
}

export interface AdminRoutes {
  /** `GET /status`: JSON. */
  status(): unknown;
  /** `GET /metrics`: Prometheus text. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** `GET /healthz` (no token needed): whether the federation is running. */
  healthy(): boolean;
  /** `GET /sites`, `POST /sites` (a public identity file) and `POST /sites/<id>/revoke` (`{reason}`). */
  sites?: SiteRoutes;
  /** `GET /dashboard` (its page and files) and `GET /events/stream`, which a session cookie also opens. */
  live?: LiveFeed;
}

/** Enrolment while the federation runs (`fl sites`); errors are FlErrors with what to do. */
export interface SiteRoutes {
  list(): unknown;
  /** The body is the text of an `<id>.public.json`; answers whether the site was new. */
  enrol(publicIdentityJson: string): { enrolled: boolean; site: unknown };
  revoke(siteId: string, reason: string): void;
}

/** A public identity file is a few hundred bytes; nothing an operator sends is larger. */
const MAX_BODY_BYTES = 64 * 1024;

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The operator endpoint: plain HTTP, every route but `/healthz` behind `Authorization: Bearer`.
 * Binds `listen` ("host:port", port 0 for a free one) and resolves once it listens.
 */
export function startAdminServer(options: {
  listen: string;
  token: string;
  routes: AdminRoutes;
  log: (line: string) => void;
}): Promise<AdminServer> {
  const { routes, log } = options;
  const expected = digest(options.token);
  // Digests have the same length whatever was sent, so the comparison's time tells nothing.
  const tokenMatches = (token: string) => timingSafeEqual(digest(token), expected);
  const authorised = (request: IncomingMessage) => {
    const header = request.headers.authorization ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1] !== undefined && tokenMatches(match[1]);
  };
  const dashboard = routes.live && new Dashboard(routes.live, tokenMatches, authorised);
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? "/", "http://admin");
    const path = url.pathname;
    const revoke = /^\/sites\/([^/]+)\/revoke$/.exec(path);
    const writes = request.method === "POST" && (path === "/sites" || revoke !== null);
    if (request.method !== "GET" && request.method !== "HEAD" && !writes)
      return send(response, 405, {
        error: `${request.method} ${path} is not supported: only POST /sites and POST /sites/<id>/revoke change anything`,
      });
    if (path === "/healthz") {
      const healthy = routes.healthy();
      return send(response, healthy ? 200 : 503, { status: healthy ? "SERVING" : "NOT_SERVING" });
    }
    if (dashboard && isDashboardPath(path) && request.method !== "POST")
      return dashboard.handle(request, response, url);
    if (!authorised(request))
      return send(
        response,
        401,
        { error: "missing or wrong bearer token: send Authorization: Bearer <the token in admin.tokenFile>" },
        { "www-authenticate": 'Bearer realm="fl-coordinator"' },
      );
    if (path === "/status") return send(response, 200, routes.status());
    if (routes.sites && (path === "/sites" || revoke))
      return handleSites(routes.sites, request, response, revoke?.[1]);
    if (path === "/metrics") {
      const { contentType, body } = await routes.metrics();
      response.writeHead(200, { "content-type": contentType });
      response.end(body);
      return;
    }
    return send(response, 404, {
      error: `no route ${path}: try /status, /metrics, /healthz${dashboard ? " or /dashboard" : ""}`,
    });
  };
  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      log(`operator endpoint: ${request.url} failed: ${errorMessage(error)}`);
      if (!response.headersSent) send(response, 500, { error: "internal error (see the coordinator's log)" });
    });
  });
  // A scrape or `fl status` is one short request: idle sockets must not hold shutdown up.
  server.keepAliveTimeout = 1000;
  const separator = options.listen.lastIndexOf(":");
  const host = options.listen.slice(0, separator).replace(/^\[(.*)\]$/, "$1");
  const port = Number(options.listen.slice(separator + 1));
  if (separator < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new FlError(ErrorCode.InvalidConfig, `admin.listen "${options.listen}" is not host:port`);
  return new Promise((resolve, reject) => {
    server.once("error", (error) =>
      reject(
        new FlError(
          ErrorCode.InvalidConfig,
          `operator endpoint cannot listen on ${options.listen}: ${error.message}`,
          {
            cause: error,
          },
        ),
      ),
    );
    server.listen(port, host, () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

async function handleSites(
  sites: SiteRoutes,
  request: IncomingMessage,
  response: ServerResponse,
  revokeId: string | undefined,
): Promise<void> {
  if (request.method !== "POST") return send(response, 200, sites.list());
  const body = await readBody(request);
  try {
    if (revokeId === undefined) return send(response, 200, sites.enrol(body));
    const parsed = body ? (JSON.parse(body) as { reason?: unknown }) : {};
    sites.revoke(decodeURIComponent(revokeId), typeof parsed.reason === "string" ? parsed.reason : "");
    return send(response, 200, { revoked: decodeURIComponent(revokeId) });
  } catch (error) {
    if (error instanceof SyntaxError)
      return send(response, 400, { error: `the body is not JSON: ${error.message}` });
    if (!(error instanceof FlError) || error.code === ErrorCode.Internal) throw error;
    return send(response, error.code === ErrorCode.NotFound ? 404 : 400, {
      error: error.message,
      code: error.code,
    });
  }
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new FlError(ErrorCode.TooLarge, `request body over ${MAX_BODY_BYTES} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
  response.end(`${JSON.stringify(body, null, 2)}\n`);
}
