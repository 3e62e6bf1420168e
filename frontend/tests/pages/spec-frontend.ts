// A frontend written exactly as the spec's errorTracking.ts and performanceMonitoring.ts (the
// two files beside this one, unchanged), with Sentry's DSN set to the platform's project.
import * as Sentry from "@sentry/react";
import { trackMessage } from "./spec/errorTracking";
import { trackPageLoad, trackUserInteraction } from "./spec/performanceMonitoring";

const script = document.currentScript as HTMLScriptElement;
Sentry.init({ dsn: script.dataset.dsn, release: "spec-frontend@1.0" });

addEventListener("load", () => {
  setTimeout(() => {
    trackPageLoad();
    trackUserInteraction("save-ticket", 180);
    trackMessage("Spec page ready", "warning");
    throw new Error("Spec page failed");
  });
});
