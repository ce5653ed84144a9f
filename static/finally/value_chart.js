/*
 * The portfolio's value over time on lightweight-charts (vendored, the global LightweightCharts), with
 * ranges 1D/5D/1M/6M/1Y from /api/portfolio/history/ (the value downsampled in the database, then the
 * live value), refreshed every 30 s as snapshots are recorded.
 *
 *   import { mountValueChart } from "./value_chart.js"
 *   const chart = mountValueChart(element, { range: "1D" });
 *
 * The element says what it shows in data attributes (data-range, data-interval, data-state: loading |
 * ready | empty | error, data-points), which the browser tests read.
 */

import { attribution, button, buttonGroup, COLORS, frameOptions, fullTime, shortDate, shortTime } from "./chart_frame.js";
import { money } from "./format.js";

export const VALUE_RANGES = ["1D", "5D", "1M", "6M", "1Y"];
const REFRESH_MS = 30000;

export function mountValueChart(element, options = {}) {
  const LightweightCharts = window.LightweightCharts;
  const state = { range: VALUE_RANGES.includes(options.range) ? options.range : "1D", request: 0, timer: null, daily: false };

  element.classList.add("pchart", "value");
  const toolbar = document.createElement("div");
  toolbar.className = "pchart-toolbar";
  const ranges = buttonGroup(
    "Range",
    VALUE_RANGES.map((range) => button(range, { "data-range": range, "aria-pressed": "false" })),
  );
  const note = document.createElement("div");
  note.className = "pchart-note";
  note.setAttribute("role", "status");
  toolbar.appendChild(ranges);
  const canvas = document.createElement("div");
  canvas.className = "pchart-canvas";
  element.replaceChildren(toolbar, canvas, note, attribution());

  const chart = LightweightCharts.createChart(
    canvas,
    frameOptions(
      { tickMarkFormatter: (time) => (state.daily ? shortDate : shortTime).format(new Date(time * 1000)) },
      {
        localization: {
          timeFormatter: (time) => fullTime.format(new Date(time * 1000)) + " ET",
          priceFormatter: (value) => money(value),
        },
      },
    ),
  );
  const series = chart.addSeries(LightweightCharts.AreaSeries, {
    lineColor: COLORS.line,
    topColor: "rgba(56, 189, 248, 0.35)",
    bottomColor: "rgba(56, 189, 248, 0.02)",
    lineWidth: 2,
    priceFormat: { type: "price", precision: 2, minMove: 0.01 },
  });

  function describe(status, points) {
    element.dataset.range = state.range;
    element.dataset.state = status;
    if (points !== undefined) element.dataset.points = String(points);
    for (const node of ranges.querySelectorAll("[data-range]")) {
      node.setAttribute("aria-pressed", String(node.dataset.range === state.range));
    }
  }

  async function load() {
    clearTimeout(state.timer);
    const request = ++state.request;
    describe("loading");
    let response;
    let body = {};
    try {
      response = await fetch("/api/portfolio/history/?range=" + encodeURIComponent(state.range), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      body = await response.json();
    } catch (error) {
      body = { error: "Could not load the value history." };
    }
    if (request !== state.request) return;
    state.timer = setTimeout(load, REFRESH_MS);
    if (!response || !response.ok) {
      describe("error");
      note.textContent = body.error || "Could not load the value history.";
      return;
    }
    element.dataset.interval = body.interval || "";
    state.daily = body.interval === "1d";
    const data = [];
    for (const point of Array.isArray(body.points) ? body.points : []) {
      const value = Number(point && point.value);
      if (typeof point.t !== "number" || !isFinite(value)) continue;
      if (data.length && point.t <= data[data.length - 1].time) data.pop(); // times strictly ascending
      data.push({ time: point.t, value: value });
    }
    series.setData(data);
    chart.timeScale().fitContent();
    note.textContent = data.length > 1 ? "" : "The value is recorded every 30 s: the chart fills as it goes.";
    describe(data.length ? "ready" : "empty", data.length);
  }

  ranges.addEventListener("click", (event) => {
    const target = event.target.closest("[data-range]");
    if (target && target.dataset.range !== state.range) {
      state.range = target.dataset.range;
      load();
    }
  });

  load();
  return {
    reload: load,
    destroy() {
      clearTimeout(state.timer);
      chart.remove();
      element.replaceChildren();
    },
  };
}
