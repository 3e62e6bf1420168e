// Charts of the console: every <figure data-chart data-src> is filled from its JSON endpoint
// (/api/v1/monitoring/console/charts/<name>/?range=…) with a uPlot chart and a table of the
// same numbers (the fallback: screen readers, copying, a chart too small to read).
//
// When done, the figure's data-state says what happened: "drawn", "empty" (no data in the
// range) or "error" (the endpoint failed; the message is in the figure).
import uPlot from "uplot";
import { formatTime, formatValue } from "./format";

export interface ChartSeries {
  legend: string;
  values: (number | null)[];
}

export interface ChartData {
  name: string;
  title: string;
  unit: string;
  range: string;
  step: number;
  backend: string;
  timestamps: number[];
  series: ChartSeries[];
}

const charts = new Map<HTMLElement, uPlot>();

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

// Colours mean the same on every page: the status ones for status-like series, the
// neutral palette for the rest.
export function seriesColour(label: string, index: number): string {
  const lower = label.toLowerCase();
  if (/^5(xx|\d\d)\b|error|fail|poor/.test(lower)) return cssVar("--fail", "#c62828");
  if (/^4(xx|\d\d)\b|warn|needs/.test(lower)) return cssVar("--warn", "#b26a00");
  if (/^[23](xx|\d\d)\b|^good|^ok/.test(lower)) return cssVar("--ok", "#2e7d32");
  const palette = ["--c1", "--c2", "--c3", "--c4", "--c5", "--c6"];
  return cssVar(palette[index % palette.length], "#1565c0");
}

function hasValues(data: ChartData): boolean {
  return data.series.some((line) => line.values.some((v) => v !== null));
}

export function renderTable(container: HTMLElement, data: ChartData): void {
  const table = document.createElement("table");
  table.className = "data";
  const head = table.createTHead().insertRow();
  for (const text of ["Time (UTC)", ...data.series.map((line) => line.legend)]) {
    const cell = document.createElement("th");
    cell.scope = "col";
    cell.textContent = text;
    head.appendChild(cell);
  }
  const body = table.createTBody();
  // Newest first; rows where every series is empty say nothing.
  for (let i = data.timestamps.length - 1; i >= 0; i--) {
    if (!data.series.some((line) => line.values[i] !== null)) continue;
    const row = body.insertRow();
    const when = document.createElement("th");
    when.scope = "row";
    when.textContent = formatTime(data.timestamps[i], data.step);
    row.appendChild(when);
    for (const line of data.series) row.insertCell().textContent = formatValue(line.values[i], data.unit);
  }
  container.replaceChildren(table);
}

function plotWidth(figure: HTMLElement): number {
  return Math.max(120, Math.floor(figure.getBoundingClientRect().width) - 2);
}

function draw(figure: HTMLElement, plot: HTMLElement, data: ChartData): void {
  const small = figure.classList.contains("chart-small");
  const opts: uPlot.Options = {
    width: plotWidth(figure),
    height: small ? 36 : 200,
    legend: { show: !small },
    cursor: { show: !small },
    scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
    axes: small
      ? [{ show: false }, { show: false }]
      : [
          { stroke: cssVar("--muted", "#555") },
          {
            stroke: cssVar("--muted", "#555"),
            size: 64,
            values: (_u, ticks) => ticks.map((tick) => formatValue(tick, data.unit)),
          },
        ],
    series: [
      {},
      ...data.series.map((line, index) => ({
        label: line.legend,
        stroke: seriesColour(line.legend, index),
        width: small ? 1 : 1.5,
        spanGaps: false,
        value: (_u: uPlot, value: number | null) => formatValue(value, data.unit),
      })),
    ],
  };
  const aligned = [data.timestamps, ...data.series.map((line) => line.values)] as uPlot.AlignedData;
  const existing = charts.get(figure);
  if (existing) existing.destroy();
  charts.set(figure, new uPlot(opts, aligned, plot));
}

// Figures that show the same chart (a sparkline per route) share one request.
const requests = new Map<string, Promise<ChartData>>();

async function fetchChart(source: string): Promise<ChartData> {
  const response = await fetch(source, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`the chart's data answered ${response.status}`);
  return (await response.json()) as ChartData;
}

function only(data: ChartData, legend: string | undefined): ChartData {
  return legend === undefined ? data : { ...data, series: data.series.filter((line) => line.legend === legend) };
}

export async function loadChart(figure: HTMLElement): Promise<void> {
  const source = figure.dataset.src;
  const plot = figure.querySelector<HTMLElement>(".chart-plot");
  const table = figure.querySelector<HTMLElement>(".chart-table-body");
  if (!source || !plot || !table) return;
  figure.dataset.state = "loading";
  let data: ChartData;
  try {
    let pending = requests.get(source);
    if (!pending) {
      pending = fetchChart(source);
      requests.set(source, pending);
    }
    data = only(await pending, figure.dataset.series);
  } catch (error) {
    figure.dataset.state = "error";
    plot.replaceChildren();
    const message = document.createElement("p");
    message.className = "st-fail chart-message";
    message.textContent = `No data: ${error instanceof Error ? error.message : "request failed"}.`;
    plot.appendChild(message);
    return;
  }
  renderTable(table, data);
  if (!hasValues(data)) {
    const small = figure.classList.contains("chart-small");
    figure.dataset.state = "empty";
    charts.get(figure)?.destroy();
    charts.delete(figure);
    const message = document.createElement("p");
    message.className = "muted chart-message";
    message.textContent = small ? "—" : "No data in this range yet.";
    plot.replaceChildren(message);
    return;
  }
  plot.replaceChildren();
  draw(figure, plot, data);
  figure.dataset.state = "drawn";
}

// Charts follow their figure's width (phone rotation, window resizes).
const resizer =
  typeof ResizeObserver === "undefined"
    ? null
    : new ResizeObserver((entries) => {
        // Resize in the next frame, and only on a real change: resizing inside the callback
        // makes the browser report a "ResizeObserver loop" error.
        const figures = entries.map((entry) => entry.target as HTMLElement);
        window.requestAnimationFrame(() => {
          for (const figure of figures) {
            const chart = charts.get(figure);
            const width = plotWidth(figure);
            if (chart && Math.abs(chart.width - width) > 1) chart.setSize({ width, height: chart.height });
          }
        });
      });

export function loadCharts(root: ParentNode = document): Promise<void[]> {
  requests.clear();
  const figures = Array.from(root.querySelectorAll<HTMLElement>("figure[data-chart]"));
  for (const figure of figures) resizer?.observe(figure);
  return Promise.all(figures.map(loadChart));
}

export function chartCount(): number {
  return charts.size;
}
