/*
 * Forms that change state (marked data-change-form) submit through fetch when scripts run, so a
 * server that cannot be reached is an in-page message, never the browser's error page; without
 * scripts they are plain POST forms. They ask for JSON (Accept: application/json): the page views
 * answer {"message", "redirect"} (the page then goes there, where the message waits) or 400
 * {"error"}, shown in place with the values kept.
 *
 * While prices are not live (the stream's state, also on <html data-feed>), forms marked
 * data-needs-live (trading) are disabled with a note saying why; the others only while the server
 * cannot be reached. A page script that handles a form itself calls preventDefault() on its submit.
 */
import { stream } from "./stream.js";

const UNREACHABLE = "Could not reach the server, so nothing changed. Try again once the connection is back.";
const ORDER_UNREACHABLE =
  "Could not reach the server, so the order was not placed. Try again once the connection is back.";
const PAUSED = {
  connecting: "Waiting for live prices before trading…",
  stale: "Trading is paused: prices are stale (the market data feed is not updating). It resumes by itself.",
  reconnecting: "Trading is paused: the connection to the server was lost; reconnecting…",
  down: "Trading is paused: the server cannot be reached. This page reconnects by itself.",
};
const OFFLINE = {
  reconnecting: "The connection to the server was lost: changes are paused while this page reconnects.",
  down: "The server cannot be reached: changes are paused until the connection is back.",
};

function csrfToken(form) {
  const input = form.querySelector('input[name="csrfmiddlewaretoken"]');
  return input ? input.value : "";
}

/* The element showing this form's refusals: the form's own [data-form-message] or its panel's. */
function messageFor(form) {
  const scope = form.closest("section, .panel-body") || document;
  return scope.querySelector("[data-form-message]") || document.getElementById("watchlist-message");
}

export function showMessage(form, text, kind) {
  const element = messageFor(form);
  if (!element) return;
  element.textContent = text || "";
  element.dataset.kind = kind || "error";
  element.hidden = !text;
}

function submitButtons(form) {
  return [...form.querySelectorAll('button[type="submit"], button:not([type]), input[type="submit"]')];
}

/* The note under a form saying why it is disabled (made on first use). */
function noteFor(form) {
  let note = form.nextElementSibling && form.nextElementSibling.matches("[data-paused-note]") ? form.nextElementSibling : null;
  if (!note) {
    note = document.createElement("p");
    note.className = "form-note";
    note.dataset.pausedNote = "";
    note.setAttribute("role", "status");
    note.hidden = true;
    form.after(note);
  }
  return note;
}

function pausedReason(form, state) {
  if (form.hasAttribute("data-needs-live")) return state === "live" ? "" : PAUSED[state] || PAUSED.down;
  return OFFLINE[state] || "";
}

function applyState(state) {
  for (const form of document.querySelectorAll("form[data-change-form]")) {
    const reason = pausedReason(form, state);
    form.dataset.paused = reason ? "true" : "false";
    for (const button of submitButtons(form)) {
      button.disabled = Boolean(reason) || form.dataset.sending === "true";
      if (reason) button.title = reason;
      else button.removeAttribute("title");
    }
    // Trading says why under its own form; the other forms share the page's note.
    if (form.hasAttribute("data-needs-live")) {
      const note = noteFor(form);
      note.textContent = reason;
      note.hidden = !reason;
    }
  }
  const pageNote = document.getElementById("offline-note");
  if (pageNote && document.querySelector("form[data-change-form]:not([data-needs-live])")) {
    pageNote.textContent = OFFLINE[state] || "";
    pageNote.hidden = !OFFLINE[state];
  }
}

async function send(form, submitter) {
  const body = new URLSearchParams(new FormData(form, submitter));
  let response;
  try {
    response = await fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken(form) },
      body: body,
    });
  } catch (error) {
    showMessage(form, form.hasAttribute("data-needs-live") ? ORDER_UNREACHABLE : UNREACHABLE);
    return;
  }
  let data = null;
  if ((response.headers.get("Content-Type") || "").includes("application/json")) {
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
  }
  if (data && response.ok && typeof data.redirect === "string") {
    window.location.assign(data.redirect);
  } else if (data && typeof data.error === "string") {
    showMessage(form, data.error);
  } else if (response.redirected) {
    window.location.assign(response.url); // e.g. to the login page when the session ended
  } else {
    showMessage(form, "The server could not take this form (HTTP " + response.status + "): reload the page and try again.");
  }
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (event.defaultPrevented || !form.matches("form[data-change-form]")) return;
  event.preventDefault();
  if (form.dataset.paused === "true" || form.dataset.sending === "true") return;
  form.dataset.sending = "true";
  for (const button of submitButtons(form)) button.disabled = true;
  showMessage(form, "");
  send(form, event.submitter).finally(() => {
    form.dataset.sending = "false";
    applyState(stream.state);
  });
});

stream.on("state", applyState);
applyState(stream.state);
