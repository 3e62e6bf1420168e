// Numbers in the console's chart units, the same way the server's `figure` filter writes them
// (helpdesk/monitoring/console/templatetags/console.py).

export type Unit = "req/s" | "ratio" | "seconds" | "bytes" | "count" | string;

export function formatValue(value: number | null | undefined, unit: Unit): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  switch (unit) {
    case "ratio":
      return `${(value * 100).toFixed(2)} %`;
    case "seconds":
      return value < 1 ? `${Math.round(value * 1000)} ms` : `${value.toFixed(2)} s`;
    case "req/s":
      return value < 100 ? `${value.toFixed(2)}/s` : `${Math.round(value)}/s`;
    case "bytes": {
      let number = value;
      for (const suffix of ["B", "KiB", "MiB", "GiB"]) {
        if (Math.abs(number) < 1024) return `${Math.round(number)} ${suffix}`;
        number /= 1024;
      }
      return `${Math.round(number)} TiB`;
    }
    default:
      return Number.isInteger(value) ? value.toLocaleString("en") : value.toFixed(2);
  }
}

export function formatTime(epochSeconds: number, step: number): string {
  const date = new Date(epochSeconds * 1000);
  const iso = date.toISOString();
  // Hour steps (7 d, 30 d) need the day; minute steps the time of day.
  return step >= 3600 ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
}
