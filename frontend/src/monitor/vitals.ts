// Measurements: Core Web Vitals from Google's web-vitals (attribution build), the page's
// navigation timing, and timed interactions.
import type { MetricWithAttribution } from "web-vitals/attribution";
import { onCLS, onFCP, onINP, onLCP, onTTFB } from "web-vitals/attribution";
import { addInteraction, addVital, setPageLoad } from "./state";

let pageLoadSent = false;

// The element to blame, sent only for poor values (where someone will go and look).
function target(metric: MetricWithAttribution): string | undefined {
  const a = metric.attribution as {
    target?: string;
    largestShiftTarget?: string;
    interactionTarget?: string;
  };
  const element = a.target || a.largestShiftTarget || a.interactionTarget;
  return metric.rating === "poor" && element ? element.slice(0, 100) : undefined;
}

function report(metric: MetricWithAttribution): void {
  addVital({
    name: metric.name,
    value: Math.round(metric.value * 10000) / 10000,
    id: metric.id,
    rating: metric.rating,
    navigationType: metric.navigationType,
    target: target(metric),
  });
}

/** Record the page's navigation timing once it has loaded (milliseconds, as the spec's). */
export function trackPageLoad(): void {
  const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
  if (!nav || pageLoadSent) return;
  if (!nav.loadEventEnd) {
    // Not loaded yet: measure right after the load event has finished.
    addEventListener("load", () => setTimeout(trackPageLoad), { once: true });
    return;
  }
  pageLoadSent = true;
  setPageLoad({
    domContentLoaded: nav.domContentLoadedEventEnd - nav.domContentLoadedEventStart,
    loadComplete: nav.loadEventEnd - nav.loadEventStart,
    totalTime: nav.loadEventEnd - nav.fetchStart,
  });
}

/** Record a user interaction: its action name and duration in milliseconds. */
export function trackUserInteraction(action: string, duration: number): void {
  if (action && duration >= 0 && duration < 3_600_000) {
    addInteraction({ action: String(action).slice(0, 64), duration: Math.round(duration) });
  }
}

/** Start the Web Vitals observers and time clicks on elements with `data-action`. */
export function startMeasuring(): void {
  for (const on of [onLCP, onINP, onCLS, onFCP, onTTFB]) on(report);
  trackPageLoad();
  // A click on [data-action] is timed from the input event to the next frame after it.
  document.addEventListener(
    "click",
    (event) => {
      const element = (event.target as Element | null)?.closest?.("[data-action]");
      const action = element?.getAttribute("data-action");
      if (!action) return;
      requestAnimationFrame(() =>
        setTimeout(() => trackUserInteraction(action, performance.now() - event.timeStamp)),
      );
    },
    true,
  );
}
