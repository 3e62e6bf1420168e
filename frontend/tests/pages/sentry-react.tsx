// A React page whose component tree is wrapped in @sentry/react's ErrorBoundary, as the
// spec's errorTracking.ts setup would do, pointed at the platform's DSN.
import * as Sentry from "@sentry/react";
import { createRoot } from "react-dom/client";

const script = document.currentScript as HTMLScriptElement;
Sentry.init({ dsn: script.dataset.dsn, release: "helpdesk-web@1.2.3", environment: "test" });

function TicketPanel(): never {
  throw new RangeError("Ticket panel failed to render");
}

addEventListener("DOMContentLoaded", () => {
  createRoot(document.getElementById("root") as HTMLElement).render(
    <Sentry.ErrorBoundary fallback={<p id="fallback">Something went wrong.</p>}>
      <TicketPanel />
    </Sentry.ErrorBoundary>,
  );
});
