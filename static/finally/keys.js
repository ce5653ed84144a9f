/*
 * The keyboard, on every page:
 *
 *   /            focuses the page's ticker box ([data-ticker-box]; the first one on the page)
 *   Up / Down    move between the rows of a table marked data-rows (Home / End: first / last)
 *   Enter        charts the focused row (the dashboard's chart of that ticker)
 *   b / s        open the order ticket (or the trade form) for the focused row, Buy / Sell chosen
 *
 * Rows are focusable with one tab stop per table (the focused row's tabindex is 0, the others -1).
 * A page handles Enter, b and s itself when it listens for "finally:chart" / "finally:ticket" events
 * (detail: {ticker, side}) and calls preventDefault(); otherwise Enter goes to the table's
 * data-chart-url and b / s to its data-trade-url (with ?ticker=&side=).
 */

const TYPING = "input, textarea, select, [contenteditable]";

function rowsOf(table) {
  return [...table.querySelectorAll("tbody tr[data-ticker]")].filter((row) => row.dataset.ticker && !row.hidden);
}

/* One tab stop per table: the selected (charted) row, else the row last focused, else the first. */
export function syncTabStops(table) {
  const rows = rowsOf(table);
  const current =
    rows.find((row) => row.getAttribute("aria-selected") === "true") || rows.find((row) => row.tabIndex === 0) || rows[0];
  for (const row of rows) row.tabIndex = row === current ? 0 : -1;
}

function focusRow(table, row) {
  if (!row) return;
  for (const other of rowsOf(table)) other.tabIndex = other === row ? 0 : -1;
  row.focus();
}

/* Raise a page event; true when a page handled it (called preventDefault). */
function raise(name, detail) {
  const event = new CustomEvent(name, { detail: detail, cancelable: true });
  document.dispatchEvent(event);
  return event.defaultPrevented;
}

function withQuery(url, params) {
  const target = new URL(url, window.location.href);
  for (const [key, value] of Object.entries(params)) target.searchParams.set(key, value);
  return target.toString();
}

/* Handle a key pressed on a row; true when it was one of the row keys. */
function onRowKey(event, table, row) {
  const rows = rowsOf(table);
  const index = rows.indexOf(row);
  const ticker = row.dataset.ticker;
  switch (event.key) {
    case "ArrowDown":
      focusRow(table, rows[Math.min(rows.length - 1, index + 1)]);
      break;
    case "ArrowUp":
      focusRow(table, rows[Math.max(0, index - 1)]);
      break;
    case "Home":
      focusRow(table, rows[0]);
      break;
    case "End":
      focusRow(table, rows[rows.length - 1]);
      break;
    case "Enter":
      if (!raise("finally:chart", { ticker }) && table.dataset.chartUrl) {
        window.location.assign(withQuery(table.dataset.chartUrl, { ticker }));
      }
      break;
    case "b":
    case "s": {
      const side = event.key === "b" ? "buy" : "sell";
      if (!raise("finally:ticket", { ticker, side }) && table.dataset.tradeUrl) {
        window.location.assign(withQuery(table.dataset.tradeUrl, { ticker, side }) + "#trade-form");
      }
      break;
    }
    default:
      return false;
  }
  event.preventDefault();
  return true;
}

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
  const target = event.target instanceof Element ? event.target : null;
  if (target && target.closest(TYPING)) return;
  const row = target && target.closest("table[data-rows] tbody tr[data-ticker]");
  if (row && row === target && onRowKey(event, row.closest("table"), row)) return;
  if (event.key === "/") {
    const box = document.querySelector("[data-ticker-box]:not([disabled])");
    if (box) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  }
});

for (const table of document.querySelectorAll("table[data-rows]")) syncTabStops(table);

/*
 * A form the keyboard opens (the order ticket, the trade form): each "finally:ticket" calls
 * open(ticker, side) (unless `listen` is false: another form on the page answers), and Escape in the
 * form goes back to the element focused when it was opened, else to fallback(), else out of the form.
 */
export function openedByKeyboard(form, open, { listen = true, fallback = () => null } = {}) {
  let origin = null;
  if (listen) {
    document.addEventListener("finally:ticket", (event) => {
      event.preventDefault();
      origin = document.activeElement;
      open(event.detail.ticker, event.detail.side);
    });
  }
  form.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    event.preventDefault();
    const back = origin && origin.isConnected ? origin : fallback();
    origin = null;
    if (back) back.focus();
    else document.activeElement.blur();
  });
}
