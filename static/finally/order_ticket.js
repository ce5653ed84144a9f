/*
 * The order ticket (templates/includes/order_ticket.html): an ES module.
 *
 * Ticker, side (a toggle: no side until the user picks one), type, quantity in shares or dollars,
 * limit/stop prices, time in force; the estimated cost or proceeds and the buying power after the
 * order; a review step ("Buy 10 AAPL limit $185.00, day: est. $1,850.00") before anything is placed;
 * the refusal in place. Enter never places an order: only the review's "Place order" button does.
 * Open orders (with cancel) and order history come from /api/orders/ and follow the stream's "order"
 * and "trade" frames. On /portfolio/, each position row gets a "Close" button (a market sell of it all).
 */

import { openedByKeyboard } from "./keys.js";

const FinAlly = window.FinAlly || {};
const ticket = document.getElementById("order-ticket");

const money = (value) =>
  FinAlly.fmt ? FinAlly.fmt.money(value) : `$${Number(value).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
const TYPE_NAMES = { market: "market", limit: "limit", stop: "stop", stop_limit: "stop limit" };
const TIF_NAMES = { day: "day", gtc: "GTC" };
const TIF_SUMMARIES = { day: "day (cancelled at 16:00 New York time)", gtc: "good till cancelled" };

function csrfToken() {
  const input = ticket.querySelector('input[name="csrfmiddlewaretoken"]');
  return input ? input.value : "";
}

async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = {};
  try {
    data = await response.json();
  } catch {
    data = { error: `The server answered ${response.status}.` };
  }
  return { ok: response.ok, status: response.status, data };
}

function setup() {
  const form = ticket.querySelector("#ticket-form");
  const field = (id) => ticket.querySelector(id);
  const tickerInput = field("#ticket-ticker");
  const typeSelect = field("#ticket-type");
  const quantityInput = field("#ticket-quantity");
  const unitSelect = field("#ticket-unit");
  const limitInput = field("#ticket-limit");
  const stopInput = field("#ticket-stop");
  const tifSelect = field("#ticket-tif");
  const estimate = field("#ticket-estimate");
  const confirmBox = field("#ticket-confirm");
  const summary = field("#ticket-summary");
  const errorBox = field("#ticket-error");
  const note = field("#ticket-note");
  const sideButtons = [...ticket.querySelectorAll(".ticket-side [data-side]")];
  const ordersUrl = ticket.dataset.ordersUrl;
  const portfolioUrl = ticket.dataset.portfolioUrl;
  let side = null;
  let available = null;
  let pending = null; // the order the review shows, placed only by "Place order"

  // Enter never submits: an order is placed only from the review, by its own button.
  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.tagName !== "BUTTON") event.preventDefault();
  });

  function show(element, text) {
    element.textContent = text || "";
    element.hidden = !text;
  }

  function chooseSide(chosen) {
    side = chosen;
    for (const button of sideButtons) button.setAttribute("aria-checked", String(button.dataset.side === chosen));
    changed();
  }
  sideButtons.forEach((button) => button.addEventListener("click", () => chooseSide(button.dataset.side)));

  // The keyboard opens the ticket: b / s on a focused row (keys.js raises "finally:ticket"), or a
  // link to ?ticker=AAPL&side=buy; Escape goes back to the row it came from.
  function open(chosenTicker, chosenSide) {
    if (chosenTicker) tickerInput.value = chosenTicker;
    chooseSide(chosenSide);
    ticket.scrollIntoView({ block: "nearest" });
    quantityInput.focus();
    quantityInput.select();
  }
  openedByKeyboard(form, open);
  const asked = new URLSearchParams(window.location.search);
  if (asked.get("side") === "buy" || asked.get("side") === "sell") {
    window.addEventListener("load", () => open((asked.get("ticker") || "").toUpperCase(), asked.get("side")));
  }

  function showPriceFields() {
    for (const box of ticket.querySelectorAll("[data-for-types]")) {
      box.hidden = !box.dataset.forTypes.split(" ").includes(typeSelect.value);
    }
  }

  function ticker() {
    return tickerInput.value.trim().toUpperCase();
  }

  function livePrice() {
    const update = FinAlly.stream && ticker() ? FinAlly.stream.price(ticker()) : null;
    return update && Number.isFinite(update.price) ? update.price : null;
  }

  /* The price the estimate uses: the limit for limits, the stop for stops, else the live price. */
  function referencePrice() {
    const type = typeSelect.value;
    const limit = parseFloat(limitInput.value);
    const stop = parseFloat(stopInput.value);
    if ((type === "limit" || type === "stop_limit") && limit > 0) return limit;
    if (type === "stop" && stop > 0) return stop;
    return livePrice();
  }

  /* The quantity to send: typed in shares, or a dollar amount turned into whole-cent-safe shares. */
  function quantity() {
    const raw = quantityInput.value.trim();
    if (unitSelect.value === "shares") return raw;
    const dollars = parseFloat(raw);
    const price = referencePrice();
    if (!(dollars > 0) || !price) return "";
    return String(Math.floor((dollars / price) * 1e6) / 1e6);
  }

  function estimateText() {
    const shares = parseFloat(quantity());
    const price = referencePrice();
    if (!(shares > 0) || !price) return { text: "", value: null };
    const value = shares * price;
    const after = available === null ? null : side === "sell" ? available + value : available - value;
    const label = side === "sell" ? "Est. proceeds" : "Est. cost";
    const power = after === null || !side ? "" : ` · buying power after: ${money(after)}`;
    return { text: `${label}: ${money(value)}${power}`, value };
  }

  function changed() {
    showPriceFields();
    show(estimate, estimateText().text);
    confirmBox.hidden = true;
    pending = null;
  }
  for (const input of [tickerInput, quantityInput, limitInput, stopInput]) input.addEventListener("input", changed);
  for (const select of [typeSelect, unitSelect, tifSelect]) select.addEventListener("change", changed);

  function review() {
    show(errorBox, "");
    show(note, "");
    if (!side) return show(errorBox, "Choose Buy or Sell first.");
    if (!ticker()) return show(errorBox, "Enter a ticker.");
    const shares = quantity();
    if (!shares) return show(errorBox, unitSelect.value === "dollars" ? "Enter an amount (a price is needed to turn it into shares)." : "Enter a quantity.");
    const type = typeSelect.value;
    const body = { ticker: ticker(), side, quantity: shares, type, time_in_force: tifSelect.value };
    if (type === "limit" || type === "stop_limit") body.limit_price = limitInput.value.trim();
    if (type === "stop" || type === "stop_limit") body.stop_price = stopInput.value.trim();
    const prices = [];
    if (body.stop_price) prices.push(`stop ${money(parseFloat(body.stop_price) || 0)}`);
    if (body.limit_price) prices.push(`${type === "stop_limit" ? "limit " : ""}${money(parseFloat(body.limit_price) || 0)}`);
    const { value } = estimateText();
    const verb = side === "buy" ? "Buy" : "Sell";
    summary.textContent =
      `${verb} ${shares} ${body.ticker} ${TYPE_NAMES[type]}` +
      (prices.length ? ` ${prices.join(" ")}` : "") +
      `, ${TIF_SUMMARIES[body.time_in_force]}` +
      (value !== null ? `: est. ${money(value)}` : "");
    pending = body;
    confirmBox.hidden = false;
    field("#ticket-place").focus();
  }
  field("#ticket-review").addEventListener("click", review);
  field("#ticket-edit").addEventListener("click", () => {
    confirmBox.hidden = true;
    pending = null;
  });

  field("#ticket-place").addEventListener("click", async () => {
    if (!pending) return;
    const body = pending;
    pending = null;
    confirmBox.hidden = true;
    const { ok, data } = await api("POST", ordersUrl, body);
    if (!ok) return show(errorBox, data.error || "The order was refused.");
    const order = data.order;
    show(note, order.status === "filled" ? `Filled: ${describe(order)} at ${money(parseFloat(order.fill_price))}.` : `Placed: ${describe(order)}.`);
    quantityInput.value = "";
    changed();
    refresh();
  });

  function describe(order) {
    const price = order.limit_price || order.stop_price;
    return `${order.side === "buy" ? "Buy" : "Sell"} ${order.quantity} ${order.ticker} ${TYPE_NAMES[order.type]}${price ? ` ${money(parseFloat(price))}` : ""}`;
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function renderOpen(orders) {
    const body = ticket.querySelector("#open-orders tbody");
    body.replaceChildren(
      ...orders.map((order) => {
        const row = document.createElement("tr");
        row.dataset.orderId = order.id;
        row.dataset.status = order.status;
        const prices = [order.stop_price && `stop ${order.stop_price}`, order.limit_price && `limit ${order.limit_price}`].filter(Boolean).join(" ");
        row.append(cell(`${order.side} ${order.ticker} ${TYPE_NAMES[order.type]}`), cell(order.quantity, "num"), cell(prices, "num"), cell(TIF_NAMES[order.time_in_force]));
        const action = document.createElement("td");
        const cancel = document.createElement("button");
        cancel.type = "button";
        cancel.className = "btn";
        cancel.textContent = "Cancel";
        cancel.setAttribute("aria-label", `Cancel order ${order.id}`);
        cancel.addEventListener("click", async () => {
          cancel.disabled = true;
          const { ok, data } = await api("DELETE", `${ordersUrl}${order.id}/`);
          if (!ok) show(errorBox, data.error || "Could not cancel.");
          refresh();
        });
        action.append(cancel);
        row.append(action);
        return row;
      }),
    );
    ticket.querySelector("#open-orders-empty").hidden = orders.length > 0;
  }

  function renderHistory(orders) {
    const body = ticket.querySelector("#order-history tbody");
    body.replaceChildren(
      ...orders.slice(0, 20).map((order) => {
        const row = document.createElement("tr");
        row.dataset.orderId = order.id;
        row.dataset.status = order.status;
        row.title = order.reason || "";
        row.append(cell(describe(order)), cell(order.quantity, "num"), cell(order.status), cell(order.fill_price ? money(parseFloat(order.fill_price)) : "", "num"));
        return row;
      }),
    );
    ticket.querySelector("#order-history-empty").hidden = orders.length > 0;
  }

  async function refresh() {
    const [open, all, portfolio] = await Promise.all([
      api("GET", `${ordersUrl}?status=open`),
      api("GET", `${ordersUrl}?status=all`),
      api("GET", portfolioUrl),
    ]);
    if (open.ok) renderOpen(open.data.orders);
    if (all.ok) renderHistory(all.data.orders.filter((order) => order.status !== "open"));
    if (portfolio.ok) available = parseFloat(portfolio.data.available_cash);
    show(estimate, estimateText().text);
  }

  if (FinAlly.stream) {
    FinAlly.stream.on("order", refresh);
    FinAlly.stream.on("trade", refresh);
    FinAlly.stream.on("update", () => show(estimate, estimateText().text));
  }

  // One-click close on the portfolio page: a market sell of the whole position.
  for (const row of document.querySelectorAll("#positions tbody tr[data-ticker]")) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-sell";
    button.textContent = "Close";
    button.setAttribute("aria-label", `Close ${row.dataset.ticker}: sell all`);
    button.addEventListener("click", async () => {
      button.disabled = true;
      const { ok, data } = await api("POST", ordersUrl, { ticker: row.dataset.ticker, side: "sell", quantity: row.dataset.quantity, type: "market" });
      if (!ok) {
        button.disabled = false;
        show(errorBox, data.error || "Could not close the position.");
      }
    });
    const td = document.createElement("td");
    td.append(button);
    row.append(td);
  }

  showPriceFields();
  refresh();
}

if (ticket) setup();
