/*
 * The watchlists page: every cell marked data-live-price="TICKER" follows the stream (with a flash);
 * the page's add and remove forms are plain POST forms, so nothing else happens here.
 */
import { flash } from "./charts.js";
import { price } from "./format.js";
import { stream } from "./stream.js";

const cells = new Map();
for (const cell of document.querySelectorAll("[data-live-price]")) {
  const ticker = cell.dataset.livePrice;
  if (!cells.has(ticker)) cells.set(ticker, []);
  cells.get(ticker).push(cell);
}
stream.on("update", ({ prices, snapshot }) => {
  for (const [ticker, update] of Object.entries(prices)) {
    for (const cell of cells.get(ticker) || []) {
      cell.textContent = price(update.price);
      if (!snapshot) flash(cell, update.direction);
    }
  }
});
