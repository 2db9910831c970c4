/* The dashboard's URL state: reads the times the API takes (ISO-8601) from the page's query string.
 *
 * A deep link such as ?start=2021-02-09T00:00:00Z&end=2021-02-10T00:00:00Z (or with an offset
 * like +00:00, or a date alone) opens that custom range. No DOM here, so tests run it in node
 * (tests/unit/test_dashboard_static.py); the page uses window.dashboardUrlState.
 */
(function (root, factory) {
  "use strict";
  const api = factory();
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.dashboardUrlState = api;
})(typeof self !== "undefined" ? self : this, () => {
  "use strict";

  const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

  /**
   * A UTC Date from an ISO-8601 string as the API accepts it, or null when it is not one.
   * No offset means UTC (as the API does); a date alone is midnight UTC. A "+" that the query
   * string turned into a space ("...T00:00:00 00:00") is read as the "+" it was.
   */
  function parseTime(value) {
    if (value == null) return null;
    let text = String(value).trim();
    if (!text) return null;
    text = text.replace(/^(\d{4}-\d{2}-\d{2}T[\d:.]+) (\d{2}(?::?\d{2})?)$/i, "$1+$2");
    const m = ISO.exec(text);
    if (!m) return null;
    const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const [hour, minute, second] = [Number(m[4] || 0), Number(m[5] || 0), Number(m[6] || 0)];
    const millis = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
    if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
    let offsetMinutes = 0;
    if (m[8] && m[8].toUpperCase() !== "Z") {
      const digits = m[8].slice(1).replace(":", "");
      const hours = Number(digits.slice(0, 2));
      const minutes = Number(digits.slice(2) || 0);
      if (hours > 23 || minutes > 59) return null;
      offsetMinutes = (m[8][0] === "-" ? -1 : 1) * (hours * 60 + minutes);
    }
    const local = new Date(Date.UTC(year, month - 1, day, hour, minute, second, millis));
    // Date.UTC rolls 2021-02-30 over into March: such a date is not a date.
    if (local.getUTCFullYear() !== year || local.getUTCMonth() !== month - 1 || local.getUTCDate() !== day) {
      return null;
    }
    return new Date(local.getTime() - offsetMinutes * 60000);
  }

  /** "2021-02-09T00:00", the value of a datetime-local input that shows UTC. */
  function toInputValue(date) {
    return date.toISOString().slice(0, 16);
  }

  /** "2021-02-09T00:00:00Z", the form the page writes into its URL (the API's own form). */
  function toParam(date) {
    return date.toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  /**
   * The controls a query string asks for: city, a preset range or a custom start/end.
   * ``invalid`` names the parameters given that are not times (the page says so).
   */
  function readState(search, presets, fallbackRange) {
    const params = new URLSearchParams(search);
    const rawStart = params.get("start");
    const rawEnd = params.get("end");
    const custom = Boolean((rawStart && rawStart.trim()) || (rawEnd && rawEnd.trim()));
    const start = parseTime(rawStart);
    const end = parseTime(rawEnd);
    const invalid = [];
    if (rawStart && rawStart.trim() && !start) invalid.push(`start=${rawStart}`);
    if (rawEnd && rawEnd.trim() && !end) invalid.push(`end=${rawEnd}`);
    const preset = params.get("range");
    const range = custom ? "custom" : presets.has(preset) ? preset : fallbackRange;
    return { city: params.get("city"), range, start, end, invalid };
  }

  return { parseTime, toInputValue, toParam, readState };
});
