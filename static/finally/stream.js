/*
 * FinAlly's one price-stream client, shared by every page (an ES module: every page script that
 * imports it gets the same instance).
 *
 * Opens ws(s)://<host>/ws/prices/, keeps the latest price and a short history per ticker, and hands
 * every frame to page code:
 *
 *   import { stream } from "./stream.js"
 *   stream.on("update", ({prices, snapshot}) => ...)  // after a snapshot or a prices frame
 *   stream.on("watchlist", (frame) => ...)           // the user's default watchlist changed
 *   stream.on("state", (state) => ...)               // "connecting" | "live" | "stale" |
 *                                                      // "reconnecting" | "down"
 *   also "snapshot", "prices", "status", "error" with the raw frame.
 *   stream.price(ticker), .history(ticker), .subscribe(tickers), .unsubscribe(tickers),
 *   .state, .lastTimestamp (Unix seconds of the newest price received, or null)
 *
 * It is also window.FinAlly.stream, for the browser tests and a console.
 *
 * Pages that rely on the default subscription (the user's watchlists and positions) never call
 * subscribe. The client reconnects by itself with exponential back-off capped at 5 s, re-sends what
 * was subscribed explicitly, and marks <html data-feed="..."> so stale data is dimmed, never shown
 * as live.
 */
import { rules } from "./config.js";

const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;
const HISTORY_POINTS = rules.streamHistoryPoints;
const STALE_NOTES = {
  stale: "Feed stale: last known prices",
  reconnecting: "Reconnecting: prices paused",
  down: "Disconnected: prices are not live",
};
const STATE_LABELS = {
  connecting: "Connecting",
  live: "Live",
  stale: "Stale",
  reconnecting: "Reconnecting",
  down: "Disconnected",
};

// Events the client raises itself: a frame naming one of them is not handed to their handlers.
const LOCAL_EVENTS = new Set(["update", "state"]);

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/* The entries of a frame's "prices" that are PriceUpdates with a finite price. */
function validPrices(prices) {
  const valid = {};
  if (!isObject(prices)) return valid;
  for (const [ticker, update] of Object.entries(prices)) {
    if (isObject(update) && Number.isFinite(update.price)) valid[ticker] = update;
  }
  return valid;
}

/* The last HISTORY_POINTS [timestamp, price] points of a history, skipping malformed ones. */
function validPoints(points) {
  return points
    .filter((point) => Array.isArray(point) && Number.isFinite(point[0]) && Number.isFinite(point[1]))
    .slice(-HISTORY_POINTS);
}

class PriceStream {
  constructor(url) {
    this.url = url;
    this.socket = null;
    this.handlers = new Map();
    this.prices = new Map();
    this.histories = new Map();
    this.explicit = new Set();
    this.state = "connecting";
    this.failures = 0;
    this.opened = false;
    this.timer = null;
    this.lastTimestamp = null;
  }

  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(handler);
    return this;
  }

  emit(type, detail) {
    for (const handler of this.handlers.get(type) || []) {
      try {
        handler(detail);
      } catch (error) {
        console.error("finally: a", type, "handler failed", error);
      }
    }
  }

  price(ticker) {
    return this.prices.get(ticker) || null;
  }

  history(ticker) {
    return this.histories.get(ticker) || [];
  }

  subscribe(tickers) {
    tickers.forEach((ticker) => this.explicit.add(ticker));
    this.send({ action: "subscribe", tickers: tickers });
  }

  unsubscribe(tickers) {
    tickers.forEach((ticker) => this.explicit.delete(ticker));
    this.send({ action: "unsubscribe", tickers: tickers });
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  connect() {
    // One socket at a time: while one is open or opening, its close schedules the next attempt.
    if (this.socket) return;
    clearTimeout(this.timer);
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (error) {
      this.closed();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.failures = 0;
      // The state turns live only when the snapshot has replaced what we showed before a drop.
      this.opened = true;
      if (this.explicit.size) this.send({ action: "subscribe", tickers: [...this.explicit] });
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = () => {
      if (this.socket === socket) this.closed();
    };
  }

  closed() {
    this.socket = null;
    this.failures += 1;
    // The first drop of a working connection is "reconnecting"; a failed attempt is "down".
    this.setState(this.opened && this.failures === 1 ? "reconnecting" : "down");
    const delay = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (this.failures - 1));
    this.timer = setTimeout(() => this.connect(), delay * (0.8 + Math.random() * 0.4));
  }

  /* Any frame is read without throwing: what is not an object with a known shape is skipped. */
  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch (error) {
      return;
    }
    if (!isObject(frame) || typeof frame.type !== "string" || LOCAL_EVENTS.has(frame.type)) return;
    switch (frame.type) {
      case "snapshot": {
        const prices = validPrices(frame.prices);
        this.store(prices, isObject(frame.history) ? frame.history : {});
        if (this.state !== "stale") this.setState("live");
        this.emit("snapshot", frame);
        this.emit("update", { prices: prices, snapshot: true });
        break;
      }
      case "prices": {
        const prices = validPrices(frame.prices);
        this.store(prices, null);
        this.emit("prices", frame);
        this.emit("update", { prices: prices, snapshot: false });
        break;
      }
      case "status":
        this.setState(frame.status === "stale" || frame.stale === true ? "stale" : "live");
        this.emit("status", frame);
        break;
      default:
        this.emit(frame.type, frame);
    }
  }

  store(prices, histories) {
    for (const [ticker, update] of Object.entries(prices)) {
      this.prices.set(ticker, update);
      if (Number.isFinite(update.timestamp) && !(update.timestamp <= this.lastTimestamp)) {
        this.lastTimestamp = update.timestamp;
      }
      let points = histories && Array.isArray(histories[ticker]) ? validPoints(histories[ticker]) : null;
      if (!points) {
        points = this.histories.get(ticker) || [];
        const last = points[points.length - 1];
        if (!last || last[0] !== update.timestamp) points.push([update.timestamp, update.price]);
        if (points.length > HISTORY_POINTS) points.splice(0, points.length - HISTORY_POINTS);
      }
      this.histories.set(ticker, points);
    }
  }

  setState(state) {
    if (state === this.state && document.documentElement.dataset.feed === state) return;
    this.state = state;
    document.documentElement.dataset.feed = state;
    const indicator = document.getElementById("connection");
    if (indicator) {
      indicator.dataset.state = state;
      indicator.title = "Price stream: " + STATE_LABELS[state];
      const label = indicator.querySelector(".conn-label");
      if (label) label.textContent = STATE_LABELS[state];
    }
    for (const note of document.querySelectorAll(".stale-note")) {
      note.textContent = STALE_NOTES[state] || "";
    }
    this.emit("state", state);
  }
}

function streamUrl() {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return scheme + "//" + window.location.host + "/ws/prices/";
}

export const stream = new PriceStream(streamUrl());
window.FinAlly = Object.assign(window.FinAlly || {}, { stream });
stream.setState("connecting");
// Module scripts all run before DOMContentLoaded: every page script has registered its handlers
// before the first frame.
document.addEventListener("DOMContentLoaded", () => stream.connect());
window.addEventListener("online", () => {
  if (!stream.socket) stream.connect();
});
