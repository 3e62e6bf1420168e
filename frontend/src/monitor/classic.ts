// The classic script: <script src="/static/helpdesk/monitor.js" data-dsn="…" data-route="…">
// starts monitoring from its data attributes and exposes the API as window.helpdeskMonitor.
import * as monitor from "./index";

declare global {
  interface Window {
    helpdeskMonitor: typeof monitor;
  }
}

const script = document.currentScript as HTMLScriptElement | null;
const data = script ? script.dataset : {};
const rate = data.sampleRate === undefined ? undefined : Number(data.sampleRate);
monitor.init({
  dsn: data.dsn,
  api: data.api || (script && script.src ? new URL(script.src).origin : undefined),
  route: data.route,
  sampleRate: rate === undefined || Number.isNaN(rate) ? undefined : rate,
  release: data.release,
  environment: data.environment,
});
window.helpdeskMonitor = monitor;
