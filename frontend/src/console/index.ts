// The console's script (console.js, loaded with `defer` by console/base.html; no inline code,
// so the strict CSP holds): the range and refresh controls, auto-refresh, and the charts.
import "uplot/dist/uPlot.min.css";
import "./console.css";
import { chartCount, loadCharts } from "./charts";

declare global {
  interface Window {
    helpdeskConsole: { charts: () => number; ready: Promise<void> };
  }
}

function controls(): void {
  // The picker is a plain GET form (it works without JavaScript); with it, a change applies.
  for (const select of Array.from(document.querySelectorAll<HTMLSelectElement>("form.controls select"))) {
    select.addEventListener("change", () => select.form?.submit());
  }
  for (const button of Array.from(document.querySelectorAll<HTMLElement>("form.controls .apply"))) {
    button.hidden = true;
  }
}

function autoRefresh(): void {
  const seconds = Number(document.body.dataset.refresh || "0");
  if (!seconds) return;
  // Reload the whole page: server-rendered figures (health, alerts) refresh with the charts.
  window.setTimeout(() => {
    if (document.visibilityState === "visible") window.location.reload();
    else document.addEventListener("visibilitychange", () => window.location.reload(), { once: true });
  }, seconds * 1000);
}

controls();
autoRefresh();
const ready = loadCharts().then(() => undefined);
window.helpdeskConsole = { charts: chartCount, ready };
