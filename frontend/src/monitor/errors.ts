// Errors leave as Sentry events in an envelope, to the project's envelope endpoint: the same
// ingestion path as the Sentry SDKs. At most MAX_ERRORS per page view; repeats are folded.
import { config, limits, page, randomId, recordDrop } from "./state";
import { traceContext } from "./trace";
import { post } from "./transport";
import { scrubText, scrubUrl } from "./url";

export type Level = "info" | "warning" | "error";

interface Frame {
  function: string;
  filename: string;
  lineno: number;
  colno: number;
  in_app: boolean;
}

const MAX_ERRORS = 10;
const MAX_FRAMES = 50;
export const SDK = { name: "helpdesk.monitor", version: "1.0.0" };

// Chrome/Edge: "    at fn (https://host/app.js:10:5)" or "    at https://host/app.js:10:5".
const CHROME = /^\s*at (?:(.+?) \()?(?:.+ \()?(.+?):(\d+):(\d+)\)?\s*$/;
// Firefox and Safari: "fn@https://host/app.js:10:5" ("@…" when anonymous).
const GECKO = /^\s*(.*?)@(.+?):(\d+):(\d+)\s*$/;

/** Parse a Chrome, Firefox or Safari stack into Sentry frames, caller first. */
export function parseStack(stack: string | undefined): Frame[] {
  const frames: Frame[] = [];
  for (const line of (stack || "").split("\n")) {
    const match = CHROME.exec(line) || GECKO.exec(line);
    if (!match) continue;
    const filename = scrubUrl(match[2]);
    frames.push({
      function: match[1] || "?",
      filename,
      lineno: +match[3],
      colno: +match[4],
      in_app: /^https?:/.test(filename) && !filename.includes("/node_modules/"),
    });
    if (frames.length >= MAX_FRAMES) break;
  }
  return frames.reverse();
}

// Seconds to wait from a 429: X-Sentry-Rate-Limits ("60::key", the longest), else Retry-After.
function waitSeconds(response: Response): number {
  const header = response.headers.get("X-Sentry-Rate-Limits");
  const limits = header ? header.split(",").map((limit) => parseInt(limit, 10)) : [];
  const seconds = Math.max(0, ...limits.filter((n) => n > 0));
  return seconds || parseInt(response.headers.get("Retry-After") || "", 10) || 60;
}

function envelope(given: Record<string, unknown>): void {
  const dsn = config.dsnParsed;
  if (!dsn) return;
  // Dropped events are counted by Sentry's discard reasons and sent as a client report.
  if (Date.now() < limits.until) return recordDrop("ratelimit_backoff");
  const event = config.beforeSend ? config.beforeSend(given) : given;
  if (!event) return recordDrop("before_send");
  const header = { event_id: event.event_id, sent_at: new Date().toISOString(), sdk: SDK };
  const body = `${JSON.stringify(header)}\n{"type":"event"}\n${JSON.stringify(event)}`;
  void post(dsn.envelope, body).then((response) => {
    if (response === undefined) recordDrop("network_error");
    else if (response === null) return;
    else if (response.status === 429) {
      limits.until = Date.now() + waitSeconds(response) * 1000;
      recordDrop("ratelimit_backoff");
    } else if (response.status >= 400) recordDrop("send_error");
  });
}

// Spend one of the page's error reports on `key`; false when it was seen (folded, as Sentry's
// Dedupe does: event_processor) or the budget is gone (queue_overflow).
function admit(key: string): boolean {
  const reason = page.seen.has(key) ? "event_processor" : page.errors >= MAX_ERRORS && "queue_overflow";
  if (reason) {
    recordDrop(reason);
    return false;
  }
  page.seen.add(key);
  page.errors++;
  return true;
}

function capture(level: Level, body: Record<string, unknown>, extra?: unknown): void {
  envelope({
    event_id: randomId(),
    timestamp: Date.now() / 1000,
    platform: "javascript",
    level,
    release: config.release,
    environment: config.environment,
    request: { url: scrubUrl(location.href), headers: { "User-Agent": navigator.userAgent } },
    tags: config.route ? { route: config.route } : undefined,
    contexts: traceContext(),
    extra,
    sdk: SDK,
    ...body,
  });
}

/** Report an error (an Error, or anything thrown) with optional context. */
export function trackError(
  error: unknown,
  context?: Record<string, unknown>,
  mechanism = { type: "generic", handled: true },
): void {
  const err = error instanceof Error ? error : undefined;
  const type = err ? err.name || "Error" : "Error";
  const value = scrubText(err ? err.message : String(error));
  const frames = parseStack(err && err.stack);
  const top = frames[frames.length - 1];
  if (!admit(`${type}:${value}:${top ? `${top.filename}:${top.lineno}:${top.colno}` : ""}`)) return;
  capture(
    "error",
    {
      exception: {
        values: [{ type, value, mechanism, stacktrace: frames.length ? { frames } : undefined }],
      },
    },
    context,
  );
}

/** Report a message at a level (info, warning or error). */
export function trackMessage(message: string, level: Level = "info"): void {
  const text = scrubText(String(message));
  if (admit(`message:${level}:${text}`)) capture(level, { message: text });
}

/** Report uncaught errors and unhandled promise rejections of this window. */
export function installGlobalHandlers(): void {
  addEventListener("error", (event: ErrorEvent) => {
    trackError(
      event.error ?? event.message,
      { filename: scrubUrl(event.filename || ""), lineno: event.lineno, colno: event.colno },
      { type: "onerror", handled: false },
    );
  });
  addEventListener("unhandledrejection", (event: PromiseRejectionEvent) => {
    trackError(
      event.reason,
      { type: "unhandledrejection" },
      { type: "onunhandledrejection", handled: false },
    );
  });
}
