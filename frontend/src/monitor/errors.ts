// Errors leave as Sentry events in an envelope, to the project's envelope endpoint: the same
// ingestion path as the Sentry SDKs. At most MAX_ERRORS per page view; repeats are folded.
import { config, page, randomId } from "./state";
import { traceContext } from "./trace";
import { send } from "./transport";
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

function envelope(event: Record<string, unknown>): void {
  const dsn = config.dsnParsed;
  if (!dsn) return;
  const header = { event_id: event.event_id, sent_at: new Date().toISOString(), sdk: SDK };
  send(dsn.envelope, `${JSON.stringify(header)}\n{"type":"event"}\n${JSON.stringify(event)}`);
}

// Spend one of the page's error reports on `key`; false when it was seen or the budget is gone.
function admit(key: string): boolean {
  if (page.seen.has(key) || page.errors >= MAX_ERRORS) return false;
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
