/*
 * The portfolio page's value chart with ranges: mounts ./value_chart.js on #value-chart-ranges. Where
 * the chart library did not load, the panel keeps its server-drawn line.
 */
import { mountValueChart } from "./value_chart.js";

const element = document.getElementById("value-chart-ranges");
if (element && window.LightweightCharts) {
  mountValueChart(element, { range: "1D" });
  element.parentElement.classList.add("has-price-chart");
}
