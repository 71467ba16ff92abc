import type { FlError } from "../../../shared/src/errors.js";
import type { RequestAuth } from "../../../shared/src/fl/messages.js";
import type { CoordinatorService, UploadSink } from "../../../shared/src/fl/ports.js";
import type { SecAggRequest } from "../../../shared/src/fl/secagg-exchange.js";

/** What the operator surface learns from the transport's calls. */
export interface CallObserver {
  /** An authenticated call of the site's session succeeded: the site is alive now. */
  seen(siteId: string): void;
  uploadOpened(): void;
  uploadChunk(bytes: number): void;
  uploadClosed(): void;
}

/**
 * The coordinator as the transport sees it, reporting signs of life and upload traffic to
 * `observer`. Only calls the coordinator accepted count: their session token maps to the site
 * that joined with it, so a call with a stale or forged token is never taken for one.
 */
export function observedService(service: CoordinatorService, observer: CallObserver): CoordinatorService {
  const siteOf = new Map<string, string>();
  const seen = (call: RequestAuth) => {
    const siteId = siteOf.get(call.sessionToken);
    if (siteId !== undefined) observer.seen(siteId);
  };
  return {
    getChallenge: (request) => service.getChallenge(request),
    join(request) {
      const grant = service.join(request);
      for (const [token, siteId] of siteOf) if (siteId === request.siteId) siteOf.delete(token);
      siteOf.set(grant.sessionToken, request.siteId);
      observer.seen(request.siteId);
      return grant;
    },
    async pullTask(call, waitMs, signal) {
      const outcome = await service.pullTask(call, waitMs, signal);
      seen(call);
      return outcome;
    },
    heartbeat(call, beat) {
      const ack = service.heartbeat(call, beat);
      seen(call);
      return ack;
    },
    model(call, version) {
      const blob = service.model(call, version);
      seen(call);
      return blob;
    },
    beginUpload(call, header, onEnded) {
      let open = true;
      const close = () => {
        if (open) observer.uploadClosed();
        open = false;
      };
      const sink = service.beginUpload(call, header, (reason: FlError) => {
        close();
        onEnded?.(reason);
      });
      seen(call);
      observer.uploadOpened();
      return observedSink(sink, observer, close, () => seen(call));
    },
    reportEvaluation(call, report) {
      service.reportEvaluation(call, report);
      seen(call);
    },
    leave(call, reason) {
      service.leave(call, reason);
      siteOf.delete(call.sessionToken);
    },
    ...(service.secAggExchange && {
      secAggExchange: async (call: RequestAuth, request: SecAggRequest, signal?: AbortSignal) => {
        const answer = await service.secAggExchange?.(call, request, signal);
        if (!answer) throw new Error("unreachable: the service has secAggExchange");
        seen(call);
        return answer;
      },
    }),
  };
}

function observedSink(
  sink: UploadSink,
  observer: CallObserver,
  close: () => void,
  seen: () => void,
): UploadSink {
  return {
    addChunk(index, ciphertext) {
      observer.uploadChunk(ciphertext.byteLength);
      try {
        sink.addChunk(index, ciphertext);
      } catch (error) {
        close();
        throw error;
      }
      seen();
    },
    async finish() {
      try {
        await sink.finish();
      } finally {
        close();
      }
    },
    abort(reason) {
      try {
        sink.abort(reason);
      } finally {
        close();
      }
    },
  };
}
