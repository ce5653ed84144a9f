/*
 * Drawing on the page (no library, no build step), with geometry.js's rules:
 *
 *   sparkline(svg, points)             // points: [[timestamp, price], ...]; the last sparklinePoints
 *   drawSeries(svg, values, minSpan)   // any chart: the polyline in the svg's viewBox, and its trend
 *   flash(element, direction)          // "up" | "down": a green/red flash fading in 0.5 s
 *   treemap(container, items)          // items: [{weight, element}], lays tiles out
 */
import { rules } from "./config.js";
import { sign } from "./format.js";
import { seriesPoints } from "./geometry.js";

/* Redraw an svg's polyline from values in its own viewBox height; data-trend from first to last. */
export function drawSeries(svg, values, minSpan = 0) {
  if (!svg) return;
  const height = svg.viewBox.baseVal.height;
  svg.querySelector("polyline").setAttribute("points", seriesPoints(values, height, minSpan));
  svg.dataset.points = String(values.length);
  svg.dataset.trend = values.length > 1 ? sign(values[values.length - 1] - values[0]) : "flat";
}

export function sparkline(svg, points) {
  drawSeries(svg, points.slice(-rules.sparklinePoints).map((point) => point[1]));
}

export function flash(element, direction) {
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
export function treemap(container, items) {
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
