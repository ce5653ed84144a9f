/*
 * The portfolio page, live: each position's price, market value and unrealised P&L, the summary
 * figures, the heatmap (tiles sized by weight, coloured by P&L %) and the value chart's last point.
 * Quantities, average costs and cash come from the server-rendered data attributes.
 */
import { drawSeries, flash, treemap } from "./charts.js";
import { rules } from "./config.js";
import * as fmt from "./format.js";
import { bounds } from "./geometry.js";
import { stream } from "./stream.js";
import "./ticket.js";

const page = document.getElementById("portfolio");
if (page) portfolio(page);

function portfolio(page) {
  const cash = parseFloat(page.dataset.cash);
  const heatmap = document.getElementById("heatmap");
  const chart = document.getElementById("value-chart");
  const historyScript = document.getElementById("value-history");
  const recorded = historyScript ? JSON.parse(historyScript.textContent) : [];

  const positions = [...document.querySelectorAll("#positions tbody tr[data-ticker]")].map((row) => ({
    row: row,
    ticker: row.dataset.ticker,
    quantity: parseFloat(row.dataset.quantity),
    avgCost: parseFloat(row.dataset.avgCost),
    price: row.dataset.price ? parseFloat(row.dataset.price) : null,
    tile: heatmap ? heatmap.querySelector('[data-ticker="' + CSS.escape(row.dataset.ticker) + '"]') : null,
  }));

  function setSigned(cell, value, text) {
    cell.textContent = text;
    cell.dataset.sign = fmt.sign(value);
  }

  function paintPosition(position, ticked) {
    const { row, quantity, avgCost, price } = position;
    if (price == null) return;
    const cost = quantity * avgCost;
    const value = quantity * price;
    const pnl = value - cost;
    const pnlPercent = cost ? (pnl / cost) * 100 : 0;
    const priceCell = row.querySelector("[data-price-cell]");
    priceCell.textContent = fmt.price(price);
    row.querySelector("[data-market-value]").textContent = fmt.money(value);
    setSigned(row.querySelector("[data-pnl]"), pnl, fmt.signedMoney(pnl));
    setSigned(row.querySelector("[data-pnl-percent]"), pnl, fmt.percent(pnlPercent));
    if (ticked) {
      const update = stream.price(position.ticker);
      if (update) flash(priceCell, update.direction);
    }
    position.value = value;
    position.pnlPercent = pnlPercent;
  }

  function heatColor(pnlPercent) {
    // Grey at zero, saturating at +-5 %: contrast for intraday moves without washing out big ones.
    const strength = Math.min(1, Math.abs(pnlPercent) / 5);
    const hue = pnlPercent >= 0 ? 142 : 0;
    return "hsl(" + hue + " " + (12 + strength * 55) + "% " + (20 + strength * 14) + "%)";
  }

  function paintHeatmap() {
    if (!heatmap) return;
    const invested = positions.reduce((sum, position) => sum + (position.value || 0), 0);
    for (const position of positions) {
      if (!position.tile) continue;
      const weight = invested ? (position.value || 0) / invested : 0;
      position.tile.querySelector("[data-weight]").textContent = (weight * 100).toFixed(1) + "%";
      position.tile.querySelector("[data-tile-pnl]").textContent = fmt.percent(position.pnlPercent || 0);
      position.tile.style.background = heatColor(position.pnlPercent || 0);
      position.tile.title =
        position.ticker + ": " + fmt.money(position.value || 0) + ", " + (weight * 100).toFixed(1) + "% of positions";
    }
    treemap(
      heatmap,
      positions.filter((position) => position.tile).map((position) => ({
        weight: position.value || 0,
        element: position.tile,
      }))
    );
  }

  function paintSummary() {
    let invested = 0;
    let cost = 0;
    for (const position of positions) {
      // Without any price a position counts at its cost, as the server counts it.
      const price = position.price == null ? position.avgCost : position.price;
      invested += position.quantity * price;
      cost += position.quantity * position.avgCost;
    }
    const total = cash + invested;
    const pnl = invested - cost;
    document.querySelector("[data-summary=total]").textContent = fmt.money(total);
    document.querySelector("[data-summary=invested]").textContent = fmt.money(invested);
    setSigned(document.querySelector("[data-summary=pnl]"), pnl, fmt.signedMoney(pnl));
    return total;
  }

  function paintChart(total) {
    if (!chart) return;
    const now = Date.now() / 1000;
    const series = recorded.map((point) => [point[0], parseFloat(point[1])]);
    series.push([now, total]);
    const values = series.map((point) => point[1]);
    drawSeries(chart, values, rules.valueMinSpan);
    const { low, high } = bounds(values, rules.valueMinSpan);
    chart.parentElement.querySelector("[data-chart-high]").textContent = fmt.money(high);
    chart.parentElement.querySelector("[data-chart-low]").textContent = fmt.money(low);
  }

  let chartDrawnAt = 0;
  function paintAll(ticked, changed) {
    for (const position of positions) {
      if (changed && !changed.has(position.ticker)) continue;
      const update = stream.price(position.ticker);
      if (update) position.price = update.price;
      paintPosition(position, ticked);
    }
    const total = paintSummary();
    paintHeatmap();
    // The chart is a minutes-scale picture: redrawing it once a second is plenty.
    if (Date.now() - chartDrawnAt > 1000) {
      chartDrawnAt = Date.now();
      paintChart(total);
    }
  }

  stream.on("update", ({ prices, snapshot }) => {
    const changed = new Set(Object.keys(prices));
    if (positions.some((position) => changed.has(position.ticker)) || snapshot) {
      paintAll(!snapshot, changed);
    }
  });

  // A trade made elsewhere (another tab, the API) changes positions: re-render the page, unless the
  // user is typing an order here (then say so instead of throwing the input away).
  stream.on("trade", () => {
    const form = document.getElementById("trade-form");
    const typing = form && [...form.querySelectorAll("input[type=text]")].some((input) => input.value);
    if (!typing) {
      window.location.reload();
      return;
    }
    const note = document.getElementById("portfolio-changed");
    if (note) note.hidden = false;
  });

  window.addEventListener("resize", () => paintHeatmap());
  paintAll(false, null);
}
