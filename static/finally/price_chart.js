/*
 * A ticker's price chart on TradingView's lightweight-charts (vendored, the global LightweightCharts):
 * candles or a line (a toggle), ranges 1H/1D/5D/1M/6M/1Y loaded from /api/history/<ticker>/, a time
 * axis in New York time, a crosshair legend with the bar's OHLC, the previous close as a price line,
 * and the current bar moving with the price stream.
 *
 *   import { mountPriceChart } from "./price_chart.js"
 *   const chart = mountPriceChart(element, { ticker: "AAPL" });
 *   chart.setTicker("MSFT"); chart.setRange("5D"); chart.setType("line"); chart.destroy();
 *
 * The element gets the toolbar, the legend and the canvas, and says what it shows in data attributes
 * (data-ticker, data-range, data-interval, data-type, data-state: loading | ready | empty | error,
 * data-bars, data-last-close, data-last-time), which the browser tests read.
 */

import { attribution, button, buttonGroup, COLORS, frameOptions, fullDate, fullTime, NEW_YORK, shortDate, shortTime } from "./chart_frame.js";
import { price } from "./format.js";

export const RANGES = ["1H", "1D", "5D", "1M", "6M", "1Y"];
const INTERVAL_SECONDS = { "1m": 60, "5m": 300, "30m": 1800, "1h": 3600, "1d": 86400 };
const BACKFILL_RETRY_MS = 3000;
const BACKFILL_RETRIES = 40;
const dateParts = new Intl.DateTimeFormat("en-US", {
  timeZone: NEW_YORK,
  hourCycle: "h23",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

function newYork(seconds) {
  const parts = {};
  for (const part of dateParts.formatToParts(new Date(seconds * 1000))) parts[part.type] = Number(part.value);
  return parts;
}

/* Midnight in New York starting the day that holds `seconds` (a daily bar's start). */
export function newYorkMidnight(seconds) {
  const p = newYork(seconds);
  return Math.floor(seconds) - (p.hour * 3600 + p.minute * 60 + p.second);
}

function sameNewYorkDay(a, b) {
  const x = newYork(a);
  const y = newYork(b);
  return x.year === y.year && x.month === y.month && x.day === y.day;
}

export function mountPriceChart(element, options = {}) {
  const LightweightCharts = window.LightweightCharts;
  const stream = options.stream || (window.FinAlly && window.FinAlly.stream);
  const state = {
    ticker: options.ticker || "",
    range: RANGES.includes(options.range) ? options.range : "1D",
    type: options.type === "line" ? "line" : "candles",
    interval: 300,
    bars: [],
    previousClose: null,
    request: 0,
    retries: 0,
    retryTimer: null,
    hovering: false,
  };

  element.classList.add("pchart");
  const toolbar = document.createElement("div");
  toolbar.className = "pchart-toolbar";
  const ranges = buttonGroup(
    "Range",
    RANGES.map((range) => button(range, { "data-range": range, "aria-pressed": "false" })),
  );
  const types = buttonGroup("Chart type", [
    button("Candles", { "data-type": "candles", "aria-pressed": "false" }),
    button("Line", { "data-type": "line", "aria-pressed": "false" }),
  ]);
  const legend = document.createElement("div");
  legend.className = "pchart-legend num";
  legend.setAttribute("data-legend", "");
  const note = document.createElement("div");
  note.className = "pchart-note";
  note.setAttribute("data-note", "");
  note.setAttribute("role", "status");
  toolbar.append(ranges, types, legend);
  const canvas = document.createElement("div");
  canvas.className = "pchart-canvas";
  element.replaceChildren(toolbar, canvas, note, attribution());

  const chart = LightweightCharts.createChart(
    canvas,
    frameOptions(
      // maxBarSpacing: a range with few bars yet (a fresh ticker, a morning's 1D) keeps candles candle-sized;
      // rightOffset: room after the current bar for its time label and the next bar.
      { maxBarSpacing: 24, rightOffset: 2, tickMarkFormatter: tickMark },
      {
        crosshair: { mode: LightweightCharts.CrosshairMode.Normal },
        localization: { timeFormatter: (time) => (state.interval >= 86400 ? fullDate : fullTime).format(new Date(time * 1000)) + " ET" },
      },
    ),
  );
  let series = null;
  let closeLine = null;

  function tickMark(time, kind) {
    const date = new Date(time * 1000);
    const { Year, Month, DayOfMonth } = LightweightCharts.TickMarkType;
    if (kind === Year || kind === Month || kind === DayOfMonth || state.interval >= 86400) return shortDate.format(date);
    return shortTime.format(date);
  }

  function makeSeries() {
    if (series) chart.removeSeries(series);
    closeLine = null;
    series =
      state.type === "line"
        ? chart.addSeries(LightweightCharts.LineSeries, { color: COLORS.line, lineWidth: 2, priceLineVisible: false })
        : chart.addSeries(LightweightCharts.CandlestickSeries, {
            upColor: COLORS.up,
            downColor: COLORS.down,
            borderUpColor: COLORS.up,
            borderDownColor: COLORS.down,
            wickUpColor: COLORS.up,
            wickDownColor: COLORS.down,
            priceLineVisible: false,
          });
    series.setData(state.bars.map(point));
    drawPreviousClose();
  }

  function point(bar) {
    return state.type === "line"
      ? { time: bar.t, value: bar.c }
      : { time: bar.t, open: bar.o, high: bar.h, low: bar.l, close: bar.c };
  }

  function drawPreviousClose() {
    if (closeLine) series.removePriceLine(closeLine);
    closeLine = null;
    if (typeof state.previousClose === "number") {
      closeLine = series.createPriceLine({
        price: state.previousClose,
        color: COLORS.close,
        lineWidth: 1,
        lineStyle: LightweightCharts.LineStyle.Dashed,
        axisLabelVisible: true,
        title: "prev close",
      });
    }
  }

  function showLegend(bar) {
    if (!bar) {
      legend.textContent = state.ticker ? state.ticker : "";
      return;
    }
    legend.textContent =
      state.ticker + "  O " + price(bar.o) + "  H " + price(bar.h) + "  L " + price(bar.l) + "  C " + price(bar.c);
  }

  function describe(status) {
    const last = state.bars[state.bars.length - 1];
    element.dataset.ticker = state.ticker;
    element.dataset.range = state.range;
    element.dataset.type = state.type;
    element.dataset.interval = Object.keys(INTERVAL_SECONDS).find((k) => INTERVAL_SECONDS[k] === state.interval) || "";
    element.dataset.state = status;
    element.dataset.bars = String(state.bars.length);
    element.dataset.lastClose = last ? String(last.c) : "";
    element.dataset.lastTime = last ? String(last.t) : "";
    for (const node of ranges.querySelectorAll("[data-range]")) {
      node.setAttribute("aria-pressed", String(node.dataset.range === state.range));
    }
    for (const node of types.querySelectorAll("[data-type]")) {
      node.setAttribute("aria-pressed", String(node.dataset.type === state.type));
    }
  }

  function say(text) {
    note.textContent = text || "";
    note.hidden = !text;
  }

  async function load() {
    clearTimeout(state.retryTimer);
    const request = ++state.request;
    if (!state.ticker) {
      state.bars = [];
      series.setData([]);
      describe("empty");
      say("");
      return;
    }
    describe("loading");
    let response;
    let body = {};
    try {
      const url = "/api/history/" + encodeURIComponent(state.ticker) + "/?range=" + encodeURIComponent(state.range);
      response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      body = await response.json();
    } catch (error) {
      if (request === state.request) {
        describe("error");
        say("Could not load the history; retrying.");
        state.retryTimer = setTimeout(load, BACKFILL_RETRY_MS);
      }
      return;
    }
    if (request !== state.request) return; // a newer choice of ticker or range is loading
    if (!response.ok) {
      state.bars = [];
      series.setData([]);
      describe("error");
      say(body.error || "No history (HTTP " + response.status + ").");
      return;
    }
    state.interval = INTERVAL_SECONDS[body.interval] || 300;
    state.bars = Array.isArray(body.bars) ? body.bars.filter((bar) => bar && typeof bar.t === "number") : [];
    state.previousClose = typeof body.previous_close === "number" ? body.previous_close : null;
    series.setData(state.bars.map(point));
    drawPreviousClose();
    chart.timeScale().fitContent();
    showLegend(state.bars[state.bars.length - 1]);
    describe(state.bars.length ? "ready" : "empty");
    if (body.backfilling && state.retries < BACKFILL_RETRIES) {
      state.retries += 1;
      say("Fetching more history from Massive…");
      state.retryTimer = setTimeout(load, BACKFILL_RETRY_MS);
    } else {
      say(state.bars.length ? "" : "No history yet.");
    }
  }

  /* A new price: the current bar moves, or a new bar begins. */
  function tick(update) {
    if (!update || typeof update.price !== "number" || !state.bars.length) return;
    const seconds = typeof update.timestamp === "number" ? update.timestamp : Date.now() / 1000;
    const last = state.bars[state.bars.length - 1];
    let start;
    if (state.interval >= 86400) {
      start = sameNewYorkDay(seconds, last.t + 43200) ? last.t : newYorkMidnight(seconds);
    } else {
      start = Math.floor(seconds / state.interval) * state.interval;
    }
    if (start < last.t) return;
    if (start === last.t) {
      last.h = Math.max(last.h, update.price);
      last.l = Math.min(last.l, update.price);
      last.c = update.price;
    } else {
      state.bars.push({ t: start, o: update.price, h: update.price, l: update.price, c: update.price });
    }
    if (typeof update.previous_close === "number" && update.previous_close !== state.previousClose) {
      state.previousClose = update.previous_close;
      drawPreviousClose();
    }
    series.update(point(state.bars[state.bars.length - 1]));
    if (!state.hovering) showLegend(state.bars[state.bars.length - 1]);
    describe("ready");
  }

  const byTime = () => new Map(state.bars.map((bar) => [bar.t, bar]));
  chart.subscribeCrosshairMove((param) => {
    state.hovering = Boolean(param && param.time !== undefined);
    showLegend(state.hovering ? byTime().get(param.time) : state.bars[state.bars.length - 1]);
  });

  ranges.addEventListener("click", (event) => {
    const target = event.target.closest("[data-range]");
    if (target) setRange(target.dataset.range);
  });
  types.addEventListener("click", (event) => {
    const target = event.target.closest("[data-type]");
    if (target) setType(target.dataset.type);
  });

  const onUpdate = ({ prices }) => {
    if (state.ticker && prices && state.ticker in prices) tick(prices[state.ticker]);
  };
  if (stream) stream.on("update", onUpdate);

  function setTicker(ticker) {
    if (ticker === state.ticker) return;
    state.ticker = ticker || "";
    state.retries = 0;
    load();
  }
  function setRange(range) {
    if (!RANGES.includes(range) || range === state.range) return;
    state.range = range;
    state.retries = 0;
    load();
  }
  function setType(type) {
    if (type !== "candles" && type !== "line") return;
    state.type = type;
    makeSeries();
    describe(element.dataset.state || "ready");
  }
  function destroy() {
    clearTimeout(state.retryTimer);
    if (stream && stream.off) stream.off("update", onUpdate);
    chart.remove();
    element.replaceChildren();
  }

  makeSeries();
  describe("loading");
  load();
  return { setTicker, setRange, setType, destroy, reload: load };
}
