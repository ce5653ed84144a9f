/*
 * Ticker boxes ([data-suggest]) suggest tickers as one types, from GET /api/tickers/?q=<text>
 * ({"tickers": [{"ticker", "name", "price" (null when not priced)}, ...]}, at most 10): a listbox under
 * the box (the ARIA combobox pattern). Up / Down choose, Enter or a click takes one, Escape closes
 * the list (a second Escape goes on to the page). Without the endpoint (or offline) the box is a
 * plain text box.
 *
 *   suggestions(text) -> Promise of the endpoint's list (cached per text), for the ticket's notes.
 */
import { price } from "./format.js";

const URL_PATH = "/api/tickers/";
const DELAY_MS = 120;
const cache = new Map();
let serial = 0;

export function suggestions(text) {
  const query = text.trim();
  if (!query) return Promise.resolve([]);
  if (!cache.has(query)) {
    const request = fetch(URL_PATH + "?q=" + encodeURIComponent(query), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then((response) => (response.ok ? response.json() : { tickers: [] }))
      .then((data) => (data && Array.isArray(data.tickers) ? data.tickers.filter((row) => row && typeof row.ticker === "string") : []))
      .catch(() => {
        cache.delete(query); // offline: ask again next time
        return [];
      });
    cache.set(query, request);
  }
  return cache.get(query);
}

function combobox(input) {
  const list = document.createElement("ul");
  const id = "suggest-" + ++serial;
  list.id = id;
  list.className = "suggestions";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Suggested tickers");
  list.hidden = true;
  input.after(list);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", id);
  let rows = [];
  let active = -1;
  let timer = null;
  let asked = "";

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function highlight(index) {
    active = index;
    [...list.children].forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
    if (index >= 0) input.setAttribute("aria-activedescendant", id + "-" + index);
    else input.removeAttribute("aria-activedescendant");
  }

  function take(index) {
    const row = rows[index];
    if (!row) return;
    input.value = row.ticker;
    close();
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function show(found) {
    rows = found.slice(0, 10);
    list.replaceChildren(
      ...rows.map((row, index) => {
        const option = document.createElement("li");
        option.id = id + "-" + index;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        const symbol = document.createElement("strong");
        symbol.textContent = row.ticker;
        const name = document.createElement("span");
        name.className = "name";
        name.textContent = row.name || "";
        const last = document.createElement("span");
        last.className = "num";
        last.textContent = row.price == null ? "no price yet" : price(row.price);
        option.append(symbol, name, last);
        option.addEventListener("mousedown", (event) => {
          event.preventDefault(); // keep the focus in the box
          take(index);
        });
        return option;
      })
    );
    const open = rows.length > 0 && document.activeElement === input;
    list.hidden = !open;
    input.setAttribute("aria-expanded", String(open));
    highlight(-1);
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const text = input.value;
    if (!text.trim()) {
      close();
      return;
    }
    timer = setTimeout(() => {
      asked = text;
      suggestions(text).then((found) => {
        if (asked === text && input.value === text) show(found);
      });
    }, DELAY_MS);
  });

  input.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      // From the box (-1) down through the options and back to the box, either way round.
      let next = active + (event.key === "ArrowDown" ? 1 : -1);
      if (next >= rows.length) next = -1;
      if (next < -1) next = rows.length - 1;
      highlight(next);
    } else if (event.key === "Enter" && active >= 0) {
      event.preventDefault(); // takes the suggestion; the form is sent by the next Enter
      take(active);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
    } else if (event.key === "Tab") {
      close();
    }
  });

  input.addEventListener("blur", close);
}

for (const input of document.querySelectorAll("input[data-suggest]")) combobox(input);
