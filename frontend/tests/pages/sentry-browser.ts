// A page instrumented with the official @sentry/browser SDK, pointed at the platform's DSN.
import * as Sentry from "@sentry/browser";

const script = document.currentScript as HTMLScriptElement;
Sentry.init({ dsn: script.dataset.dsn, release: "helpdesk-web@1.2.3", environment: "test" });

addEventListener("load", () => {
  try {
    JSON.parse("{not json");
  } catch (error) {
    Sentry.captureException(error);
  }
  Sentry.captureMessage("Checkout opened", "warning");
});
