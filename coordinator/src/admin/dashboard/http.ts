import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** What the live view shows and when it changed; the operator endpoint's `live` route. */
export interface LiveFeed {
  snapshot(): unknown;
  /** Calls `changed` after each change; returns the unsubscribe. */
  subscribe(changed: () => void): () => void;
}

/** Changes come with every heartbeat of every site: a browser needs no more than a few a second. */
export const STREAM_MIN_INTERVAL_MS = 250;
/** A comment this often keeps proxies and the browser from timing an idle stream out. */
export const STREAM_HEARTBEAT_MS = 15_000;
/** Logins kept; the oldest is forgotten beyond this (its browser then needs the token URL again). */
const MAX_SESSIONS = 256;

const here = dirname(fileURLToPath(import.meta.url));
// Exactly these files, by fixed path: nothing under the folder or node_modules is listed or reachable.
const ASSETS: Record<string, { file: string; type: string }> = {
  "/dashboard": { file: join(here, "index.html"), type: "text/html; charset=utf-8" },
  "/dashboard/app.js": { file: join(here, "app.js"), type: "text/javascript; charset=utf-8" },
  "/dashboard/style.css": { file: join(here, "style.css"), type: "text/css; charset=utf-8" },
  "/dashboard/chart.umd.min.js": {
    // The package exports only its entry points; its UMD build sits next to the CommonJS one.
    file: join(dirname(createRequire(import.meta.url).resolve("chart.js")), "chart.umd.min.js"),
    type: "text/javascript; charset=utf-8",
  },
};
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

export function isDashboardPath(path: string): boolean {
  return path in ASSETS || path === "/events/stream";
}

/**
 * The browser's way in to the operator endpoint. A browser cannot send the bearer header when it
 * opens a page, so `/dashboard?token=…` trades the token for a random session cookie (HttpOnly,
 * SameSite=Strict) and redirects to a URL without it, out of the history and the address bar.
 */
export class Dashboard {
  private readonly assets = new Map<string, Buffer>();
  private readonly sessions = new Set<string>();

  constructor(
    private readonly feed: LiveFeed,
    /** Whether `token` is the operator's (in constant time). */
    private readonly tokenMatches: (token: string) => boolean,
    private readonly bearerAuthorised: (request: IncomingMessage) => boolean,
  ) {}

  handle(request: IncomingMessage, response: ServerResponse, url: URL): void {
    const token = url.searchParams.get("token");
    if (url.pathname === "/dashboard" && token !== null) {
      if (!this.tokenMatches(token)) {
        this.refuse(response, "That token is not this coordinator's.");
        return;
      }
      const session = randomBytes(32).toString("base64url");
      this.remember(session);
      response.writeHead(303, {
        ...SECURITY_HEADERS,
        location: "/dashboard",
        "set-cookie": `${cookieName(request)}=${session}; HttpOnly; SameSite=Strict; Path=/`,
      });
      response.end();
      return;
    }
    if (!this.bearerAuthorised(request) && !this.hasSession(request)) {
      this.refuse(response, "This browser has not signed in to this coordinator.");
      return;
    }
    if (url.pathname === "/events/stream") {
      this.stream(request, response);
      return;
    }
    const asset = ASSETS[url.pathname];
    if (!asset) throw new Error(`not a dashboard path: ${url.pathname}`);
    let body = this.assets.get(url.pathname);
    if (!body) {
      body = readFileSync(asset.file);
      this.assets.set(url.pathname, body);
    }
    response.writeHead(200, { ...SECURITY_HEADERS, "content-type": asset.type });
    response.end(request.method === "HEAD" ? undefined : body);
  }

  /** Server-sent events: the feed's snapshot at once, then after changes, at most every 250 ms. */
  private stream(request: IncomingMessage, response: ServerResponse): void {
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      "content-type": "text/event-stream; charset=utf-8",
      connection: "keep-alive",
    });
    let lastSentMs = 0;
    let pending: NodeJS.Timeout | undefined;
    const send = () => {
      pending = undefined;
      lastSentMs = Date.now();
      response.write(`data: ${JSON.stringify(this.feed.snapshot())}\n\n`);
    };
    response.write("retry: 2000\n\n");
    send();
    const unsubscribe = this.feed.subscribe(() => {
      if (pending === undefined)
        pending = setTimeout(send, Math.max(0, lastSentMs + STREAM_MIN_INTERVAL_MS - Date.now()));
    });
    const heartbeat = setInterval(() => response.write(": heartbeat\n\n"), STREAM_HEARTBEAT_MS);
    request.socket.once("close", () => {
      unsubscribe();
      clearInterval(heartbeat);
      clearTimeout(pending);
    });
  }

  private refuse(response: ServerResponse, why: string): void {
    response.writeHead(401, { ...SECURITY_HEADERS, "content-type": "text/html; charset=utf-8" });
    response.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Federation dashboard: sign-in needed</title></head>
<body><h1>Sign-in needed</h1><p>${why}</p>
<p>Open <code>/dashboard?token=&lt;the operator token&gt;</code> on this address once: the token is
the one line of the file named by <code>admin.tokenFile</code> in the coordinator's config
(<code>admin.token</code> in the run folder of <code>fl simulate</code>).
<code>fl status --run &lt;dir&gt;</code> prints the address to open.</p></body></html>
`);
  }

  private remember(session: string): void {
    this.sessions.add(sessionDigest(session));
    for (const oldest of this.sessions) {
      if (this.sessions.size <= MAX_SESSIONS) break;
      this.sessions.delete(oldest);
    }
  }

  private hasSession(request: IncomingMessage): boolean {
    const name = cookieName(request);
    for (const part of (request.headers.cookie ?? "").split(";")) {
      const [key, value] = part.trim().split("=", 2);
      // Looked up by digest: the time a set lookup takes says nothing about the session id.
      if (key === name && value && this.sessions.has(sessionDigest(value))) return true;
    }
    return false;
  }
}

/** Cookies ignore ports: two coordinators on one host must not overwrite each other's. */
function cookieName(request: IncomingMessage): string {
  return `fl_dashboard_${request.socket.localPort ?? 0}`;
}

function sessionDigest(session: string): string {
  return createHash("sha256").update(session, "utf8").digest("hex");
}
