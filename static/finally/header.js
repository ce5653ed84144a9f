/*
 * The header's live account figures: total value = cash + sum(quantity x live price), computed here
 * from what the server rendered (cash, positions with their quantities and last prices) and the
 * stream's prices. The stream's default subscription includes the user's position tickers.
 */
(function () {
  "use strict";

  const FinAlly = window.FinAlly;
  const account = document.getElementById("account");
  const positionsScript = document.getElementById("account-positions");
  if (!account || !positionsScript) return;

  const cash = parseFloat(account.dataset.cash);
  const positions = JSON.parse(positionsScript.textContent).map((position) => ({
    ticker: position.ticker,
    quantity: parseFloat(position.quantity),
    price: position.price == null ? null : parseFloat(position.price),
  }));
  const totalCell = account.querySelector("[data-total-value]");

  function totalValue() {
    let total = cash;
    for (const position of positions) {
      const live = FinAlly.stream.price(position.ticker);
      const price = live ? live.price : position.price;
      if (price != null) total += position.quantity * price;
    }
    return total;
  }

  FinAlly.account = { cash, positions, totalValue };

  FinAlly.stream.on("update", ({ prices }) => {
    if (positions.some((position) => position.ticker in prices)) {
      totalCell.textContent = FinAlly.fmt.money(totalValue());
    }
  });
})();
