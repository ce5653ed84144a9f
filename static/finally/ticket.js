/*
 * The trade form (the order ticket): the side is chosen explicitly (a Buy / Sell toggle, nothing
 * chosen at first), and the order button says what it will do ("Buy AAPL"); Enter in a box never
 * places an order of a side the user did not choose (the browser asks for a side first).
 *
 * The keyboard opens it: b / s on a focused row (keys.js raises "finally:ticket"), or a link to
 * /portfolio/?ticker=AAPL&side=buy#trade-form, chooses the ticker and side and focuses the quantity;
 * Escape leaves the form, back to the row it came from.
 */

const form = document.getElementById("trade-form");
if (form) ticket(form);

function ticket(form) {
  const tickerInput = form.elements.ticker;
  const quantityInput = form.elements.quantity;
  const button = document.getElementById("trade-submit");
  let origin = null;

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

  function open(ticker, side, from) {
    if (ticker) tickerInput.value = ticker;
    const radio = form.querySelector('input[name="side"][value="' + side + '"]');
    if (radio) radio.checked = true;
    origin = from || null;
    label();
    form.scrollIntoView({ block: "nearest" });
    quantityInput.focus();
    quantityInput.select();
    tickerInput.dispatchEvent(new Event("change", { bubbles: true }));
  }

  form.addEventListener("change", label);
  tickerInput.addEventListener("input", label);

  document.addEventListener("finally:ticket", (event) => {
    event.preventDefault();
    open(event.detail.ticker, event.detail.side, document.activeElement);
  });

  form.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    event.preventDefault();
    const back = origin && origin.isConnected ? origin : document.querySelector("#positions tbody tr[data-ticker]");
    origin = null;
    if (back) back.focus();
    else document.activeElement.blur();
  });

  label();
  // Focus once the page has loaded: the browser's own scroll to #trade-form comes before it.
  if (window.location.hash === "#trade-form" && chosenSide()) {
    window.addEventListener("load", () => open("", chosenSide(), null), { once: true });
  }
}
