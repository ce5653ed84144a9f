/*
 * The display rules the server defines (portfolio/charts.py client_rules), read once from base.html's
 * json_script block: sparklinePoints, sparklineHeight, valueChartHeight, focusChartHeight,
 * focusMinSpan, valueMinSpan, streamHistoryPoints, noPriceAfterMs.
 */

function read() {
  const script = document.getElementById("finally-rules");
  try {
    return Object.freeze(JSON.parse(script.textContent));
  } catch (error) {
    console.error("finally: the page has no display rules (#finally-rules)", error);
    return Object.freeze({});
  }
}

export const rules = read();
