// One way out for every report: navigator.sendBeacon, else fetch with keepalive. Bodies are
// text/plain, a CORS-safelisted type, so a cross-origin report needs no preflight and the
// browser may still deliver it after the page is gone.

/**
 * Post `body` with fetch (keepalive) and return its answer, so a caller sees a 429; undefined
 * when the request failed (network, CORS); null when sent as a beacon (no fetch: no answer).
 */
export async function post(url: string, body: string): Promise<Response | null | undefined> {
  if (typeof fetch !== "function") return send(url, body) ? null : undefined;
  try {
    return await fetch(url, {
      method: "POST",
      body,
      keepalive: true,
      credentials: "omit",
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
    });
  } catch {
    return undefined;
  }
}

/** Queue `body` for `url`; returns false when neither transport accepted it. */
export function send(url: string, body: string): boolean {
  try {
    // A string body is sent as text/plain;charset=UTF-8.
    if (navigator.sendBeacon && navigator.sendBeacon(url, body)) return true;
  } catch {
    // A beacon refused (over the browser's quota): fall through to fetch.
  }
  if (typeof fetch !== "function") return false;
  fetch(url, {
    method: "POST",
    body,
    keepalive: true,
    credentials: "omit",
    headers: { "Content-Type": "text/plain;charset=UTF-8" },
  }).catch(() => undefined);
  return true;
}
