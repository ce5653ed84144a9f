/*
 * Small drawing and formatting helpers shared by the page scripts (no library, no build step).
 *
 *   FinAlly.fmt.money(1234.5) -> "$1,234.50"; .price, .signed, .signedMoney, .percent, .sign
 *   FinAlly.charts.sparkline(svg, points)      // points: [[timestamp, price], ...]
 *   FinAlly.charts.seriesPoints(values, height, minSpan), .bounds(values, minSpan)
 *   FinAlly.charts.flash(element, direction)   // "up" | "down": a green/red flash fading in 0.5 s
 *   FinAlly.charts.treemap(container, items)   // items: [{weight, element}], lays tiles out
 */
(function () {
  "use strict";

  const FinAlly = (window.FinAlly = window.FinAlly || {});

  const twoDecimals = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  /* Round to the cent first, so a tiny negative value shows as 0.00, never -0.00. */
  function cents(value) {
    const rounded = Math.round(value * 100) / 100;
    return rounded === 0 ? 0 : rounded;
  }

  FinAlly.fmt = {
    price(value) {
      return value == null || !isFinite(value) ? "—" : twoDecimals.format(value);
    },
    money(value) {
      if (value == null || !isFinite(value)) return "—";
      return (value < 0 ? "-$" : "$") + twoDecimals.format(Math.abs(value));
    },
    signed(value) {
      if (value == null || !isFinite(value)) return "—";
      value = cents(value);
      return (value > 0 ? "+" : value < 0 ? "-" : "") + twoDecimals.format(Math.abs(value));
    },
    signedMoney(value) {
      if (value == null || !isFinite(value)) return "—";
      value = cents(value);
      return (value > 0 ? "+$" : value < 0 ? "-$" : "$") + twoDecimals.format(Math.abs(value));
    },
    percent(value) {
      if (value == null || !isFinite(value)) return "—";
      value = cents(value);
      return (value > 0 ? "+" : value < 0 ? "-" : "") + twoDecimals.format(Math.abs(value)) + "%";
    },
    sign(value) {
      value = cents(value);
      return value > 0 ? "up" : value < 0 ? "down" : "flat";
    },
  };

  /*
   * The vertical range a chart shows: the data's, widened to at least minSpan (a fraction of the
   * level) so that a few cents of noise on $10,000 does not look like a crash.
   */
  function bounds(values, minSpan) {
    let low = Math.min(...values);
    let high = Math.max(...values);
    const span = Math.max(high - low, Math.abs(high) * (minSpan || 0), 1e-6);
    const middle = (high + low) / 2;
    if (high - low < span) {
      low = middle - span / 2;
      high = middle + span / 2;
    }
    return { low, high };
  }

  /* The polyline points of a series in a 100 x height box, indexed by position (fills the width). */
  function seriesPoints(values, height, minSpan) {
    if (values.length === 0) return "";
    if (values.length === 1) values = [values[0], values[0]];
    const { low, high } = bounds(values, minSpan);
    const pad = 1.5;
    const step = 100 / (values.length - 1);
    return values
      .map((value, index) => {
        const x = index * step;
        const y = pad + (1 - (value - low) / (high - low)) * (height - 2 * pad);
        return x.toFixed(2) + "," + y.toFixed(2);
      })
      .join(" ");
  }

  function sparkline(svg, points) {
    if (!svg) return;
    const height = svg.viewBox.baseVal.height || 24;
    const values = points.slice(-120).map((point) => point[1]);
    const line = svg.querySelector("polyline");
    line.setAttribute("points", seriesPoints(values, height));
    svg.dataset.points = String(values.length);
    svg.dataset.trend = values.length > 1 ? FinAlly.fmt.sign(values[values.length - 1] - values[0]) : "flat";
  }

  function flash(element, direction) {
    if (!element || (direction !== "up" && direction !== "down")) return;
    element.classList.remove("flash-up", "flash-down");
    // Reading layout restarts the CSS animation when the same class comes back.
    void element.offsetWidth;
    element.classList.add(direction === "up" ? "flash-up" : "flash-down");
  }

  document.addEventListener("animationend", (event) => {
    if (event.animationName === "flash-up" || event.animationName === "flash-down") {
      event.target.classList.remove("flash-up", "flash-down");
    }
  });

  /*
   * Lays items out as a treemap inside container (absolute positions in %): split the list in two
   * halves of about equal weight along the longer side, recursively. Good enough aspect ratios
   * for a few dozen positions, and stable from one tick to the next.
   */
  function treemap(container, items) {
    const sorted = items.filter((item) => item.weight > 0).sort((a, b) => b.weight - a.weight);
    const width = container.clientWidth || 1;
    const height = container.clientHeight || 1;
    function place(list, x, y, w, h) {
      if (list.length === 0) return;
      if (list.length === 1) {
        const style = list[0].element.style;
        style.left = (x / width) * 100 + "%";
        style.top = (y / height) * 100 + "%";
        style.width = (w / width) * 100 + "%";
        style.height = (h / height) * 100 + "%";
        list[0].element.hidden = false;
        return;
      }
      const total = list.reduce((sum, item) => sum + item.weight, 0);
      let running = 0;
      let split = 1;
      for (let i = 0; i < list.length - 1; i += 1) {
        running += list[i].weight;
        split = i + 1;
        if (running >= total / 2) break;
      }
      const first = list.slice(0, split);
      const share = first.reduce((sum, item) => sum + item.weight, 0) / total;
      if (w >= h) {
        place(first, x, y, w * share, h);
        place(list.slice(split), x + w * share, y, w * (1 - share), h);
      } else {
        place(first, x, y, w, h * share);
        place(list.slice(split), x, y + h * share, w, h * (1 - share));
      }
    }
    for (const item of items) {
      if (!(item.weight > 0)) item.element.hidden = true;
    }
    place(sorted, 0, 0, width, height);
  }

  FinAlly.charts = { bounds, seriesPoints, sparkline, flash, treemap };
})();
