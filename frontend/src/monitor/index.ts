// The browser monitoring SDK as an ES module: call init() once, then use the spec's API.
import { installGlobalHandlers } from "./errors";
import { config, newPageView, parseDsn, startLifecycle } from "./state";
import type { MonitorOptions } from "./state";
import { propagateTrace, readPageTrace } from "./trace";
import { startMeasuring } from "./vitals";

export { trackError, trackMessage } from "./errors";
export { flush } from "./state";
export type { MonitorOptions } from "./state";
export { trackPageLoad, trackUserInteraction } from "./vitals";

let started = false;

/** Start monitoring this page (once; later calls are ignored). */
export function init(options: MonitorOptions = {}): void {
  if (started) return;
  started = true;
  Object.assign(config, options, { dsnParsed: parseDsn(options.dsn) });
  newPageView();
  readPageTrace();
  propagateTrace();
  installGlobalHandlers();
  startMeasuring();
  // After the observers: web-vitals reports its final values on `hidden` before we flush.
  startLifecycle();
}
