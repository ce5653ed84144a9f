/*
 * The dashboard: live quote rows (price, the day's change, flash, sparkline), adding and
 * removing tickers through the JSON API, and rows following "watchlist" frames so a change made in
 * another tab or in the admin shows up without a reload. Relies on the stream's default subscription.
 * Enter on a row (or a click) charts it.
 */
import { drawSeries, flash, sparkline } from "./charts.js";
import { rules } from "./config.js";
import * as fmt from "./format.js";
import { bounds } from "./geometry.js";
import { syncTabStops } from "./keys.js";
import { stream } from "./stream.js";

const table = document.getElementById("watchlist");
if (table) dashboard(table);

const UNREACHABLE = "Could not reach the server, so nothing changed. Try again once the connection is back.";

function dashboard(table) {
  const body = table.tBodies[0];
  const rowTemplate = document.getElementById("quote-row");
  const addForm = document.getElementById("add-ticker");
  const message = document.getElementById("watchlist-message");
  const emptyNote = document.getElementById("watchlist-empty");
  const focus = document.getElementById("focus");
  let liveSince = null;

  function rowFor(ticker) {
    return body.querySelector('tr[data-ticker="' + CSS.escape(ticker) + '"]');
  }

  function newRow(ticker) {
    const row = rowTemplate.content.firstElementChild.cloneNode(true);
    row.dataset.ticker = ticker;
    row.dataset.state = "pending";
    row.dataset.addedAt = String(Date.now());
    row.querySelector("[data-ticker-name]").textContent = ticker;
    for (const input of row.querySelectorAll('input[name="ticker"]')) input.value = ticker;
    const button = row.querySelector("button[data-remove]");
    if (button) button.setAttribute("aria-label", "Remove " + ticker);
    paint(row, false);
    return row;
  }

  /* Draw one row from the stream's latest price and history; flash when a tick moved it. */
  function paint(row, ticked) {
    const ticker = row.dataset.ticker;
    const update = stream.price(ticker);
    if (!update) return;
    const points = stream.history(ticker);
    // The day's change, against the previous close (the stream carries both).
    const change = typeof update.day_change === "number" ? update.day_change : 0;
    const percent = typeof update.day_change_percent === "number" ? update.day_change_percent : 0;
    const priceCell = row.querySelector("[data-price]");
    priceCell.textContent = fmt.price(update.price);
    const changeCell = row.querySelector("[data-change]");
    const percentCell = row.querySelector("[data-change-percent]");
    changeCell.textContent = fmt.signed(change);
    percentCell.textContent = fmt.percent(percent);
    changeCell.dataset.sign = fmt.sign(change);
    percentCell.dataset.sign = fmt.sign(percent);
    row.dataset.state = "priced";
    sparkline(row.querySelector("svg.sparkline"), points);
    if (ticked) flash(priceCell, update.direction);
  }

  function markUnknown(row) {
    row.dataset.state = "unknown";
    row.querySelector("[data-price]").textContent = "no price / unknown";
  }

  /* The large chart of the selected ticker, with the previous close and the recent ticks' high and low. */
  function paintFocus() {
    if (!focus) return;
    const ticker = focus.dataset.ticker;
    const update = ticker ? stream.price(ticker) : null;
    focus.querySelector("[data-focus-ticker]").textContent = ticker || "—";
    if (!update) return;
    const points = stream.history(ticker);
    const values = points.map((point) => point[1]);
    if (values.length === 0) values.push(update.price);
    const change = typeof update.day_change === "number" ? update.day_change : 0;
    const percent = typeof update.day_change_percent === "number" ? update.day_change_percent : 0;
    focus.querySelector("[data-focus-price]").textContent = fmt.price(update.price);
    const changeCell = focus.querySelector("[data-focus-change]");
    changeCell.textContent = fmt.signed(change) + " (" + fmt.percent(percent) + ")";
    changeCell.dataset.sign = fmt.sign(change);
    drawSeries(focus.querySelector("svg.chart"), values, rules.focusMinSpan);
    const { low, high } = bounds(values, rules.focusMinSpan);
    focus.querySelector("[data-focus-high]").textContent = fmt.price(high);
    focus.querySelector("[data-focus-low]").textContent = fmt.price(low);
    const previousClose = typeof update.previous_close === "number" ? fmt.price(update.previous_close) : "—";
    focus.querySelector('[data-focus-stat="close"]').textContent = previousClose;
    focus.querySelector('[data-focus-stat="high"]').textContent = fmt.price(Math.max(...values));
    focus.querySelector('[data-focus-stat="low"]').textContent = fmt.price(Math.min(...values));
    if (points.length > 1) {
      const seconds = Math.round(points[points.length - 1][0] - points[0][0]);
      const span = "last " + (seconds >= 60 ? Math.floor(seconds / 60) + " min " : "") + (seconds % 60) + " s";
      focus.querySelector("[data-focus-window]").textContent = span;
      focus.querySelector('[data-focus-stat-label="high"]').textContent = "High, " + span;
      focus.querySelector('[data-focus-stat-label="low"]').textContent = "Low, " + span;
    }
  }

  function select(ticker) {
    if (!focus) return;
    focus.dataset.ticker = ticker || "";
    for (const row of body.rows) row.setAttribute("aria-selected", String(row.dataset.ticker === ticker));
    syncTabStops(table);
    paintFocus();
  }

  function showMessage(text, kind) {
    message.textContent = text || "";
    message.dataset.kind = kind || "error";
    message.hidden = !text;
  }

  function syncEmptyNote() {
    if (emptyNote) emptyNote.hidden = body.rows.length > 0;
    if (focus && !rowFor(focus.dataset.ticker)) select(body.rows.length ? body.rows[0].dataset.ticker : "");
    syncTabStops(table);
  }

  /* Make the rows match the watchlist's tickers, in order, keeping rows that stay. */
  function showTickers(tickers) {
    const wanted = new Set(tickers);
    for (const row of [...body.rows]) {
      if (!wanted.has(row.dataset.ticker)) row.remove();
    }
    for (const ticker of tickers) {
      body.appendChild(rowFor(ticker) || newRow(ticker));
    }
    syncEmptyNote();
  }

  function csrfToken() {
    const input = document.querySelector('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  async function callApi(method, url, payload) {
    const response = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });
    let data = {};
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (error) {
        data = {};
      }
    }
    return { status: response.status, data: data };
  }

  async function addTicker(raw) {
    const { status, data } = await callApi("POST", table.dataset.apiUrl, { ticker: raw });
    if (status === 200 || status === 201) {
      const ticker = (data.ticker && (data.ticker.ticker || data.ticker)) || raw.trim().toUpperCase();
      if (!rowFor(ticker)) body.appendChild(newRow(ticker));
      syncEmptyNote();
      showMessage(status === 200 ? ticker + " is already on your watchlist." : "", "info");
      return true;
    }
    showMessage(data.error || "Could not add " + raw + " (HTTP " + status + ").");
    return false;
  }

  async function removeTicker(ticker) {
    const { status, data } = await callApi("DELETE", table.dataset.apiUrl + encodeURIComponent(ticker) + "/");
    if (status === 204 || status === 404) {
      const row = rowFor(ticker);
      if (row) row.remove();
      syncEmptyNote();
      showMessage("");
      return;
    }
    showMessage(data.error || "Could not remove " + ticker + " (HTTP " + status + ").");
  }

  if (addForm) {
    addForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const input = addForm.elements.ticker;
      const raw = input.value;
      showMessage("");
      addTicker(raw)
        .then((added) => {
          if (added) input.value = "";
          else input.focus();
        })
        .catch(() => showMessage(UNREACHABLE));
    });
  }

  body.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-remove-form]");
    if (!form) return;
    event.preventDefault();
    removeTicker(form.elements.ticker.value).catch(() => showMessage(UNREACHABLE));
  });

  body.addEventListener("click", (event) => {
    const row = event.target.closest("tr.quote");
    if (row && !event.target.closest("form")) select(row.dataset.ticker);
  });

  document.addEventListener("finally:chart", (event) => {
    if (!rowFor(event.detail.ticker)) return;
    event.preventDefault();
    select(event.detail.ticker);
  });

  stream.on("update", ({ prices, snapshot }) => {
    for (const ticker of Object.keys(prices)) {
      const row = rowFor(ticker);
      if (row) paint(row, !snapshot);
    }
    if (focus && focus.dataset.ticker in prices) paintFocus();
  });

  // Watchlist frames are about the user's default watchlist, whatever it is called now (a rename, or
  // another list made the default, sends one too).
  stream.on("watchlist", (frame) => {
    if (!Array.isArray(frame.tickers) || !addForm) return;
    if (frame.name) {
      table.dataset.watchlist = frame.name;
      const title = document.getElementById("watchlist-title");
      if (title) title.textContent = frame.name;
    }
    showTickers(frame.tickers.filter((ticker) => typeof ticker === "string" && ticker));
  });

  stream.on("state", (state) => {
    liveSince = state === "live" ? liveSince || Date.now() : null;
  });

  // A ticker that gets no price while the stream is live is one the source cannot price.
  setInterval(() => {
    if (liveSince === null) return;
    const now = Date.now();
    for (const row of body.rows) {
      if (row.dataset.state !== "pending") continue;
      const since = Math.max(liveSince, Number(row.dataset.addedAt) || 0);
      if (now - since > rules.noPriceAfterMs) markUnknown(row);
    }
  }, 500);

  const pageLoaded = String(Date.now());
  for (const row of body.rows) {
    if (!row.dataset.addedAt) row.dataset.addedAt = pageLoaded;
  }
  syncEmptyNote();
  if (focus && focus.dataset.ticker) select(focus.dataset.ticker);
}
