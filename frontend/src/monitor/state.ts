// The page view's state and the measurement batch: filled by vitals.ts and the public API,
// sent every 60 s ± 15 s and when the page is hidden or left.
import { pageTrace } from "./trace";
import { send } from "./transport";
import { scrubUrl } from "./url";

export interface MonitorOptions {
  /** Sentry-style DSN `https://<public key>@<host>/<project id>`: errors go to its envelope endpoint. */
  dsn?: string;
  /** Origin of the analytics API; by default the DSN's origin, else this page's. */
  api?: string;
  /** The page's route template (for example `tickets/<int:pk>/`); the server keeps only allowed ones. */
  route?: string;
  /** Share of page views whose measurements are sent, decided once per page view (errors always are). */
  sampleRate?: number;
  release?: string;
  environment?: string;
  /** Change an error event before it is sent, or return null to drop it (counted as `before_send`). */
  beforeSend?: (event: Record<string, unknown>) => Record<string, unknown> | null;
}

export interface Vital {
  name: string;
  value: number;
  id: string;
  rating: string;
  navigationType: string;
  target?: string;
}

export interface Interaction {
  action: string;
  duration: number;
}

export interface PageLoad {
  domContentLoaded: number;
  loadComplete: number;
  totalTime: number;
}

export interface Dsn {
  key: string;
  envelope: string;
}

// A batch stays far below the 64 KiB the endpoints and keepalive fetches accept.
const MAX_QUEUED = 60;
const FLUSH_MS = 60_000;
const JITTER_MS = 15_000;

export const config: MonitorOptions & { dsnParsed?: Dsn } = {};
export const page = { view: "", sampled: true, errors: 0, seen: new Set<string>() };
let vitals: Vital[] = [];
let interactions: Interaction[] = [];
let pageLoad: PageLoad | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;
// Sentry client reports: error events dropped before sending, "reason:category" -> count.
const dropped = new Map<string, number>();
export const limits = { until: 0 }; // epoch ms: the server asked us to wait (429)

/** Count an event this SDK did not send (a Sentry discard reason: queue_overflow, …). */
export function recordDrop(reason: string, category = "error"): void {
  const key = `${reason}:${category}`;
  dropped.set(key, (dropped.get(key) || 0) + 1);
}

/** Return the envelope of a Sentry client report of the drops so far, and forget them. */
function clientReport(): string {
  const discarded_events = Array.from(dropped, ([key, quantity]) => {
    const [reason, category] = key.split(":");
    return { reason, category, quantity };
  });
  dropped.clear();
  const report = { timestamp: Date.now() / 1000, discarded_events };
  return `{}\n{"type":"client_report"}\n${JSON.stringify(report)}`;
}

/** Return 32 random hex digits (Sentry's event id format, and our page view id). */
export function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Parse a DSN into its public key and envelope URL; undefined when it is not one. */
export function parseDsn(dsn: string | undefined): Dsn | undefined {
  const match = /^(https?:\/\/)(\w+)@([^/]+)\/(?:(.*)\/)?(\d+)$/.exec(dsn || "");
  if (!match) return undefined;
  const [, scheme, key, host, path, project] = match;
  const prefix = path ? `/${path}` : "";
  return {
    key,
    envelope: `${scheme}${host}${prefix}/api/${project}/envelope/?sentry_key=${key}&sentry_version=7`,
  };
}

/** Start a page view: a new id, a new sampling decision, a fresh error budget. */
export function newPageView(): void {
  page.view = randomId();
  const rate = config.sampleRate ?? 1;
  page.sampled = Math.random() < rate;
  page.errors = 0;
  page.seen.clear();
}

function schedule(): void {
  clearTimeout(timer);
  timer = setTimeout(() => {
    flush();
    schedule();
  }, FLUSH_MS - JITTER_MS + Math.random() * 2 * JITTER_MS);
}

function queued(): number {
  return vitals.length + interactions.length;
}

export function addVital(vital: Vital): void {
  if (!page.sampled) return;
  vitals.push(vital);
  if (queued() >= MAX_QUEUED) flush();
}

export function addInteraction(interaction: Interaction): void {
  if (!page.sampled) return;
  interactions.push(interaction);
  if (queued() >= MAX_QUEUED) flush();
}

export function setPageLoad(timing: PageLoad): void {
  if (page.sampled) pageLoad = timing;
}

function endpoint(path: string): string {
  const base = config.api || (config.dsn ? new URL(config.dsn).origin : location.origin);
  return base.replace(/\/$/, "") + path;
}

/** Send what is queued, one batch per endpoint. */
export function flush(): void {
  const base = {
    sentAt: Date.now(),
    page: scrubUrl(location.href),
    route: config.route,
    traceId: pageTrace.traceId,
  };
  if (vitals.length || pageLoad) {
    send(endpoint("/api/v1/analytics/performance/"), JSON.stringify({ ...base, vitals, pageLoad }));
  }
  if (interactions.length) {
    send(endpoint("/api/v1/analytics/interactions/"), JSON.stringify({ ...base, interactions }));
  }
  vitals = [];
  interactions = [];
  pageLoad = undefined;
  // While the server asks us to wait, the counts wait too (the report would be refused).
  if (dropped.size && config.dsnParsed && Date.now() >= limits.until) {
    send(config.dsnParsed.envelope, clientReport());
  }
}

/** Wire the page lifecycle: periodic flushes, a flush when hidden or left, new ids on restore. */
export function startLifecycle(): void {
  schedule();
  // Never `unload`/`beforeunload`: they keep the page out of the back/forward cache.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") flush();
  });
  addEventListener("pagehide", flush);
  addEventListener("pageshow", (event) => {
    if (event.persisted) {
      newPageView();
      schedule();
    }
  });
}
