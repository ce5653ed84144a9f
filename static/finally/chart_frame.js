/*
 * What the price chart and the value chart share on lightweight-charts: New York time formats, the
 * colours, the chart's frame (layout, grid, scales), toolbar buttons and the licence's attribution.
 */

export const NEW_YORK = "America/New_York";
export const COLORS = { up: "#22c55e", down: "#f05252", text: "#7f8c9b", grid: "#1e2935", line: "#38bdf8", close: "#eab308" };

export const shortTime = new Intl.DateTimeFormat("en-US", { timeZone: NEW_YORK, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
export const shortDate = new Intl.DateTimeFormat("en-US", { timeZone: NEW_YORK, month: "short", day: "numeric" });
export const fullDate = new Intl.DateTimeFormat("en-US", { timeZone: NEW_YORK, year: "numeric", month: "short", day: "numeric" });
export const fullTime = new Intl.DateTimeFormat("en-US", {
  timeZone: NEW_YORK,
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});

/* createChart's options: the frame both charts draw, with each chart's own time scale and the rest. */
export function frameOptions(timeScale, options = {}) {
  return {
    autoSize: true,
    layout: { background: { color: "transparent" }, textColor: COLORS.text, fontSize: 11, attributionLogo: false },
    grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
    rightPriceScale: { borderColor: COLORS.grid },
    timeScale: { borderColor: COLORS.grid, timeVisible: true, secondsVisible: false, ...timeScale },
    ...options,
  };
}

export function button(label, attributes) {
  const node = document.createElement("button");
  node.type = "button";
  node.className = "pchart-btn";
  node.textContent = label;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

/* A labelled group of toolbar buttons (the ranges, the chart types). */
export function buttonGroup(label, buttons) {
  const node = document.createElement("div");
  node.className = "pchart-group";
  node.setAttribute("role", "group");
  node.setAttribute("aria-label", label);
  node.append(...buttons);
  return node;
}

/* The licence's attribution (NOTICE and a link to TradingView), instead of the library's own logo,
 * which injects an inline style that a strict Content-Security-Policy refuses. */
export function attribution() {
  const link = document.createElement("a");
  link.className = "pchart-attribution";
  link.href = "https://www.tradingview.com/";
  link.target = "_blank";
  link.rel = "noopener";
  link.textContent = "Charts: TradingView Lightweight Charts™, © 2026 TradingView, Inc.";
  return link;
}
