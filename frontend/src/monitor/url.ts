// URLs leave the browser without query, fragment or credentials: they carry tokens, emails
// and search terms far more often than anything a performance or error report needs.

/** Return `raw` (absolute or relative to this page) as origin + path only; "" if unparsable. */
export function scrubUrl(raw: string): string {
  try {
    const url = new URL(raw, location.href);
    return /^https?:$/.test(url.protocol) ? url.origin + url.pathname : url.protocol;
  } catch {
    return "";
  }
}

/** Return `text` with every http(s) URL in it scrubbed (error messages quote URLs). */
export function scrubText(text: string): string {
  return text.replace(/\bhttps?:\/\/[^\s"'<>`]+/g, scrubUrl);
}
