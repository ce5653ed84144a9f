/*
 * The geometry of the inline SVG charts: exactly the rules of portfolio/charts.py (bounds,
 * series_points, coordinate), operation for operation, so a redraw gives the server's first paint
 * to the last digit for the same data (a browser test compares them). Series are drawn by position,
 * evenly over a box 100 wide and `height` high.
 */

const PAD = 1.5; // room above the highest and below the lowest point, in box units

/*
 * The vertical range a chart shows: the data's, widened to at least minSpan (a fraction of the
 * level) so that a few cents of noise on $10,000 does not look like a crash; 1 when flat at zero.
 */
export function bounds(values, minSpan = 0) {
  let low = Math.min(...values);
  let high = Math.max(...values);
  let span = Math.max(high - low, Math.abs(high) * minSpan);
  if (!span) span = 1;
  if (high - low < span) {
    const middle = (high + low) / 2;
    low = middle - span / 2;
    high = middle + span / 2;
  }
  return { low, high };
}

/* Two decimals, rounded half up from the binary value (toFixed breaks ties unlike Python's :.2f). */
export function coordinate(value) {
  const hundredths = Math.floor(value * 100 + 0.5);
  const whole = Math.floor(Math.abs(hundredths) / 100);
  const part = Math.abs(hundredths) % 100;
  return (hundredths < 0 ? "-" : "") + whole + "." + String(part).padStart(2, "0");
}

/* The polyline points of a series in a 100 x height box. */
export function seriesPoints(values, height, minSpan = 0) {
  if (values.length === 0) return "";
  if (values.length === 1) values = [values[0], values[0]];
  const { low, high } = bounds(values, minSpan);
  const step = 100 / (values.length - 1);
  const inner = height - 2 * PAD;
  return values
    .map((value, index) => coordinate(index * step) + "," + coordinate(PAD + (1 - (value - low) / (high - low)) * inner))
    .join(" ");
}
