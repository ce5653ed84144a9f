/*
 * The dashboard's large chart: mounts the price chart (./price_chart.js) in the focus panel and follows
 * the row the user selects (dashboard.js sets #focus's data-ticker; this only watches it). Where the
 * chart library did not load, the panel keeps its server-drawn line.
 */
import { mountPriceChart } from "./price_chart.js";

const focus = document.getElementById("focus");
const element = document.getElementById("price-chart");
if (focus && element && window.LightweightCharts) {
  const chart = mountPriceChart(element, { ticker: focus.dataset.ticker || "" });
  focus.classList.add("has-price-chart");
  new MutationObserver(() => chart.setTicker(focus.dataset.ticker || "")).observe(focus, {
    attributes: true,
    attributeFilter: ["data-ticker"],
  });
}
