/*
 * What every page's header does: the live account figures, the time of the last price ("as of
 * 14:32:05", local time), and every <time data-local> on the page shown in the browser's time zone
 * (the server renders UTC, kept on hover). It also brings what every page has: forms submitted
 * through fetch (forms.js) and the keyboard (keys.js).
 *
 * Total value = cash + sum(quantity x live price), computed here from what the server rendered (cash,
 * positions with quantity, average cost and last price) and the stream's prices; a position with no
 * price at all counts at its cost, as on the server. The stream's default subscription includes the
 * user's position tickers. After a trade (a "trade" frame, e.g. from another tab) the figures are
 * re-read from /api/portfolio/.
 */
import { localClock, localDateTime, money } from "./format.js";
import { stream } from "./stream.js";
import "./forms.js";
import "./keys.js";
import "./suggest.js";

const LOCAL_FORMATS = {
  datetime: localDateTime,
  clock: localClock,
  minute: (moment) => localClock(moment).slice(0, 5),
};

/* <time datetime="...Z" data-local="datetime|clock|minute">: the text in local time, UTC on hover. */
export function localizeTimes(root = document) {
  for (const element of root.querySelectorAll("time[data-local]")) {
    const moment = new Date(element.dateTime);
    const format = LOCAL_FORMATS[element.dataset.local];
    if (Number.isNaN(moment.getTime()) || !format) continue;
    if (!element.title) element.title = element.textContent.trim();
    element.textContent = format(moment);
  }
}

function accountFigures() {
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
      const live = stream.price(position.ticker);
      const price = live ? live.price : position.price != null ? position.price : position.avgCost;
      total += position.quantity * price;
    }
    return total;
  }

  function paint() {
    totalCell.textContent = money(totalValue());
    cashCell.textContent = money(cash);
  }

  stream.on("update", ({ prices }) => {
    if (positions.some((position) => position.ticker in prices)) paint();
  });

  stream.on("trade", () => {
    fetch("/api/portfolio/", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((data) => {
        cash = parseFloat(data.cash);
        positions = read(data.positions);
        paint();
      })
      .catch(() => {});
  });
}

/* "as of 14:32:05": the newest price's time, repainted at most once a second. */
function lastPriceTime() {
  const element = document.getElementById("last-price");
  if (!element) return;
  const clock = element.querySelector("time");
  let shown = null;
  stream.on("update", () => {
    const seconds = stream.lastTimestamp;
    if (seconds == null || Math.floor(seconds) === shown) return;
    shown = Math.floor(seconds);
    const moment = new Date(seconds * 1000);
    clock.dateTime = moment.toISOString();
    clock.textContent = localClock(moment);
    element.title = "Time of the last price received: " + moment.toISOString().replace("T", " ").slice(0, 19) + " UTC";
    element.hidden = false;
  });
}

accountFigures();
lastPriceTime();
localizeTimes();
