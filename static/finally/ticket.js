/*
 * The trade form (the order ticket): the side is chosen explicitly (a Buy / Sell toggle, nothing
 * chosen at first), and the order button says what it will do ("Buy AAPL"); Enter in a box never
 * places an order of a side the user did not choose (the browser asks for a side first).
 *
 * The keyboard opens it: b / s on a focused row (keys.js raises "finally:ticket"), or a link to
 * /portfolio/?ticker=AAPL&side=buy#trade-form, chooses the ticker and side and focuses the quantity;
 * Escape leaves the form, back to the row it came from.
 *
 * Under the ticker box, a note says whether the ticker can be traded: its last price, or why not
 * (not a ticker, no price yet, not tracked, unknown to Massive), from the stream's prices, the ticker
 * suggestions (suggest.js) and the watchlist's row states (/api/watchlist/).
 */
import { price } from "./format.js";
import { openedByKeyboard } from "./keys.js";
import { stream } from "./stream.js";
import { suggestions } from "./suggest.js";

const TICKER = /^[A-Z0-9.-]{1,10}$/;

const form = document.getElementById("trade-form");
if (form) ticket(form);

function ticket(form) {
  const tickerInput = form.elements.ticker;
  const quantityInput = form.elements.quantity;
  const button = document.getElementById("trade-submit");

  function chosenSide() {
    const checked = form.querySelector('input[name="side"]:checked');
    return checked ? checked.value : "";
  }

  function label() {
    const side = chosenSide();
    const ticker = tickerInput.value.trim().toUpperCase();
    button.dataset.side = side;
    button.textContent = side ? (side === "buy" ? "Buy" : "Sell") + (ticker ? " " + ticker : "") : "Place order";
  }

  function open(ticker, side) {
    if (ticker) tickerInput.value = ticker;
    const radio = form.querySelector('input[name="side"][value="' + side + '"]');
    if (radio) radio.checked = true;
    label();
    form.scrollIntoView({ block: "nearest" });
    quantityInput.focus();
    quantityInput.select();
    tickerInput.dispatchEvent(new Event("change", { bubbles: true }));
  }

  const note = document.getElementById("trade-ticker-note");
  let noteTimer = null;
  let unknown = null; // tickers Massive does not know, from the default watchlist's rows (read once)

  function unknownTickers() {
    if (!unknown) {
      unknown = fetch("/api/watchlist/", { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : { tickers: [] }))
        .then((data) => new Set((data.tickers || []).filter((row) => row.state === "unknown").map((row) => row.ticker)))
        .catch(() => {
          unknown = null;
          return new Set();
        });
    }
    return unknown;
  }

  function say(text, kind) {
    note.textContent = text;
    note.dataset.kind = kind;
    note.hidden = !text;
  }

  /*
   * What the note says about the ticker typed: its last price, or (once the box is left or a
   * suggestion taken: not while typing) why it cannot be traded now.
   */
  async function explain(event) {
    const ticker = tickerInput.value.trim().toUpperCase();
    const typing = !event || event.type !== "change";
    if (!ticker) return say("", "info");
    const live = stream.price(ticker);
    if (live) return say(ticker + ": last " + price(live.price), "info");
    if (typing) return say("", "info");
    if (!TICKER.test(ticker)) return say("A ticker is 1 to 10 letters, digits, '.' or '-'.", "warn");
    const [found, unknownSet] = await Promise.all([suggestions(ticker), unknownTickers()]);
    if (tickerInput.value.trim().toUpperCase() !== ticker) return;
    const row = found.find((candidate) => candidate.ticker === ticker);
    if (unknownSet.has(ticker)) {
      say("Massive does not know " + ticker + ": it has no price, so it cannot be traded.", "warn");
    } else if (row && row.price != null) {
      say(ticker + (row.name ? " (" + row.name + ")" : "") + ": last " + price(row.price), "info");
    } else if (row) {
      say("No live price for " + ticker + " yet: a trade needs one. It comes with the next update.", "warn");
    } else {
      say(ticker + " is not tracked, so it has no price: add it to a watchlist to trade it.", "warn");
    }
  }

  function explainSoon() {
    clearTimeout(noteTimer);
    noteTimer = setTimeout(explain, 300);
  }

  function explainNow(event) {
    clearTimeout(noteTimer);
    explain(event);
  }

  form.addEventListener("change", label);
  tickerInput.addEventListener("input", label);
  if (note) {
    tickerInput.addEventListener("input", explainSoon);
    tickerInput.addEventListener("change", explainNow);
  }

  // Where the page has the order ticket, the keyboard and links open that instead (order_ticket.js).
  const orderTicket = document.getElementById("order-ticket");
  openedByKeyboard(form, open, {
    listen: !orderTicket,
    fallback: () => document.querySelector("#positions tbody tr[data-ticker]"),
  });

  label();
  if (note) {
    // The note's last price follows the stream (and a ticker filled in by a link gets its note).
    stream.on("update", ({ prices }) => {
      if (tickerInput.value.trim().toUpperCase() in prices) explain(null);
    });
  }
  // Focus once the page has loaded: the browser's own scroll to #trade-form comes before it.
  if (!orderTicket && window.location.hash === "#trade-form" && chosenSide()) {
    window.addEventListener("load", () => open("", chosenSide()), { once: true });
  }
}
