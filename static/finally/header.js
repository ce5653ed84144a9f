/*
 * The header's live account figures: total value = cash + sum(quantity x live price), computed here
 * from what the server rendered (cash, positions with quantity, average cost and last price) and the
 * stream's prices; a position with no price at all counts at its cost, as on the server. The
 * stream's default subscription includes the user's position tickers. After a trade (a "trade"
 * frame, e.g. from another tab) the figures are re-read from /api/portfolio/.
 */
(function () {
  "use strict";

  const FinAlly = window.FinAlly;
  const account = document.getElementById("account");
  const positionsScript = document.getElementById("account-positions");
  if (!account || !positionsScript) return;

  const totalCell = account.querySelector("[data-total-value]");
  const cashCell = account.querySelector("[data-cash-value]");
  let cash = parseFloat(account.dataset.cash);
  let positions = read(JSON.parse(positionsScript.textContent));

  function read(list) {
    return list.map((position) => ({
      ticker: position.ticker,
      quantity: parseFloat(position.quantity),
      avgCost: parseFloat(position.avg_cost),
      price: position.price == null ? null : parseFloat(position.price),
    }));
  }

  function totalValue() {
    let total = cash;
    for (const position of positions) {
      const live = FinAlly.stream.price(position.ticker);
      const price = live ? live.price : position.price != null ? position.price : position.avgCost;
      total += position.quantity * price;
    }
    return total;
  }

  function paint() {
    totalCell.textContent = FinAlly.fmt.money(totalValue());
    cashCell.textContent = FinAlly.fmt.money(cash);
  }

  FinAlly.stream.on("update", ({ prices }) => {
    if (positions.some((position) => position.ticker in prices)) paint();
  });

  FinAlly.stream.on("trade", () => {
    fetch("/api/portfolio/", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((data) => {
        cash = parseFloat(data.cash);
        positions = read(data.positions);
        paint();
      })
      .catch(() => {});
  });
})();
