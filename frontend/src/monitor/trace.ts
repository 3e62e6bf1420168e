// The page's trace, from the server: a page rendered while tracing names its request span in
// <meta name="traceparent" content="00-<trace id>-<span id>-01"> (docs/tracing.md). Errors and
// Web Vitals carry the trace id, and fetch() calls to this origin's /api/ send a traceparent
// whose parent is the page's span, so the API requests a page causes join the page's trace.
// Other origins never get the header: it would make their requests preflighted, and the trace
// is nobody else's business.

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

export const pageTrace: { traceId?: string; spanId?: string } = {};

/** Read the page's trace from its traceparent meta tag (a sampled trace only). */
export function readPageTrace(): void {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="traceparent"]');
  const match = TRACEPARENT.exec(meta ? meta.content : "");
  if (match) {
    pageTrace.traceId = match[1];
    pageTrace.spanId = match[2];
  }
}

/** Return Sentry's trace context for an event, or undefined without a page trace. */
export function traceContext(): { trace: { trace_id: string; span_id: string } } | undefined {
  if (!pageTrace.traceId || !pageTrace.spanId) return undefined;
  return { trace: { trace_id: pageTrace.traceId, span_id: pageTrace.spanId } };
}

function sameOriginApi(input: RequestInfo | URL): boolean {
  try {
    const url = new URL(input instanceof Request ? input.url : String(input), location.href);
    return url.origin === location.origin && url.pathname.startsWith("/api/");
  } catch {
    return false;
  }
}

/** Make fetch() calls to this origin's /api/ carry the page's traceparent (once per page). */
export function propagateTrace(): void {
  if (!pageTrace.traceId || typeof fetch !== "function") return;
  const original = fetch.bind(window);
  const header = `00-${pageTrace.traceId}-${pageTrace.spanId}-01`;
  window.fetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    if (!sameOriginApi(input)) return original(input, init);
    const headers = new Headers(
      init && init.headers ? init.headers : input instanceof Request ? input.headers : undefined,
    );
    if (!headers.has("traceparent")) headers.set("traceparent", header);
    return original(input, { ...init, headers });
  };
}
