// The monitored test page: it paints, shifts its layout, throws, rejects a promise and takes a
// slow click, with monitor.js (loaded before it) reporting all of it.
const save = document.getElementById("save") as HTMLButtonElement;
save.addEventListener("click", () => {
  // Busy for 250 ms: a poor-ish INP and a timed "save-ticket" interaction.
  const end = performance.now() + 250;
  while (performance.now() < end) {
    // the work of a slow handler
  }
  save.textContent = "Saved";
});

addEventListener("load", () => {
  setTimeout(() => {
    // A banner pushed in above the content, without user input: a layout shift.
    const banner = document.createElement("div");
    banner.style.height = "400px";
    banner.textContent = "Maintenance tonight";
    document.body.prepend(banner);
  }, 100);
  setTimeout(() => {
    throw new TypeError("Cannot read properties of undefined (reading 'subject')");
  });
  Promise.reject(new Error("Comment not saved: https://bob:pw@api.example.com/c?token=s3cret"));
});

// Tell the test when the click's event timing entry has been seen and the browser was idle
// after it (web-vitals processes INP entries in an idle callback queued before this one).
new PerformanceObserver((list) => {
  const entries = list.getEntries() as (PerformanceEntry & { interactionId?: number })[];
  if (entries.some((entry) => entry.interactionId)) {
    requestIdleCallback(() => {
      document.body.dataset.interaction = "measured";
    });
  }
}).observe({ type: "event", durationThreshold: 16 } as PerformanceObserverInit);

addEventListener("pageshow", (event) => {
  if (event.persisted) document.body.dataset.restored = "yes";
});

// For the test: errors on demand (repeats and many distinct ones).
(window as unknown as { raise: (n: number, same: boolean) => void }).raise = (n, same) => {
  for (let i = 0; i < n; i++) {
    const helpdesk = (window as unknown as { helpdeskMonitor: { trackError(e: Error): void } })
      .helpdeskMonitor;
    helpdesk.trackError(new Error(same ? "same failure" : `failure ${i}`));
  }
};
