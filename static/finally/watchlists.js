/*
 * The watchlists page: every cell marked data-live-price="TICKER" follows the stream (with a flash);
 * the page's add and remove forms are plain POST forms, so nothing else happens here.
 */
(function () {
  "use strict";

  const FinAlly = window.FinAlly;
  const cells = new Map();
  for (const cell of document.querySelectorAll("[data-live-price]")) {
    const ticker = cell.dataset.livePrice;
    if (!cells.has(ticker)) cells.set(ticker, []);
    cells.get(ticker).push(cell);
  }
  if (cells.size === 0) return;

  FinAlly.stream.on("update", ({ prices, snapshot }) => {
    for (const [ticker, update] of Object.entries(prices)) {
      for (const cell of cells.get(ticker) || []) {
        cell.textContent = FinAlly.fmt.price(update.price);
        if (!snapshot) FinAlly.charts.flash(cell, update.direction);
      }
    }
  });
})();
