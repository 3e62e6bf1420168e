// A React page using our SDK's React entry: init(), our ErrorBoundary around a component that
// throws, and a button timed with useInteractionTimer.
import { createRoot } from "react-dom/client";
import { ErrorBoundary, init, trackMessage, useInteractionTimer } from "../../src/monitor/react";

const script = document.currentScript as HTMLScriptElement;
init({
  dsn: script.dataset.dsn,
  api: script.dataset.api,
  route: "/react/page",
  // An application's filter: dropped, and counted in the SDK's client report.
  beforeSend: (event) => (event.message === "polling noise" ? null : event),
});
trackMessage("polling noise");

function Broken(): never {
  throw new SyntaxError("Ticket template is malformed");
}

function Assign() {
  const start = useInteractionTimer("assign-ticket");
  return (
    <button
      id="assign"
      onClick={() => {
        const stop = start();
        setTimeout(stop, 120);
      }}
    >
      Assign
    </button>
  );
}

addEventListener("DOMContentLoaded", () => {
  createRoot(document.getElementById("root") as HTMLElement).render(
    <>
      <ErrorBoundary fallback={<p id="fallback">This panel failed.</p>}>
        <Broken />
      </ErrorBoundary>
      <Assign />
    </>,
  );
});
