/* Kafka pipeline dashboard: fetches the plugin's JSON endpoints and has charts.js draw them.
 *
 * All URLs are relative to the page (…/kafkapipeline/), so the page works under any
 * api-server base URL and inside the Airflow UI's iframe; nothing is loaded from elsewhere.
 * The state of the controls is kept in the query string with times in the API's ISO form
 * (urlstate.js), so a view can be bookmarked or shared; charts.js draws the responses. The banner is for errors only; a
 * panel with no data (or a truncated read) says so in its own note.
 * window.pipelineDashboard exposes the charts and the last responses (the e2e test reads them).
 */
(() => {
  "use strict";

  const PRESETS = new Set(["6", "24", "72", "168", "336"]);
  const $ = (id) => document.getElementById(id);
  const {
    charts, fmt, escapeHtml, setEmpty, weatherColors, drawKpis, drawSentiment, drawWeather, drawScatter, drawHashtags, drawPipeline,
  } = window.dashboardCharts || {};
  const dashboard = { charts, sentiment: null, pipeline: null, errors: [], loads: 0 };
  window.pipelineDashboard = dashboard;

  // ---------- controls and URL state (parsing in urlstate.js) ----------
  const urlState = window.dashboardUrlState;
  const floorHourInput = (date) => `${date.toISOString().slice(0, 13)}:00`;

  function currentRange() {
    const range = $("range").value;
    if (range === "custom") {
      const start = urlState.parseTime($("start").value);
      const end = $("end").value ? urlState.parseTime($("end").value) : new Date();
      if (!start || !end) {
        throw new Error("Choose a start and an end for the custom range.");
      }
      return { start, end, label: `${fmt.utc(start.toISOString())} – ${fmt.utc(end.toISOString())}` };
    }
    const end = new Date();
    const start = new Date(end.getTime() - Number(range) * 3600 * 1000);
    return { start, end, label: $("range").selectedOptions[0].textContent.toLowerCase() };
  }

  /** The controls into the query string, times in the API's own ISO form, so a link can be shared. */
  function writeUrlState(range) {
    const params = new URLSearchParams();
    params.set("city", $("city").value);
    if ($("range").value === "custom") {
      params.set("start", urlState.toParam(range.start));
      if ($("end").value) params.set("end", urlState.toParam(range.end));
    } else {
      params.set("range", $("range").value);
    }
    window.history.replaceState(null, "", `${window.location.pathname}?${params}`);
  }

  // ---------- fetching ----------
  class ApiError extends Error {
    constructor(status, error, detail) {
      super(detail);
      this.status = status;
      this.error = error;
    }
  }

  async function getJson(path, params) {
    const url = `${path}?${new URLSearchParams(params)}`;
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (err) {
      throw new ApiError(0, "network", `The Airflow api-server did not answer (${err.message}).`);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_err) {
      body = null;
    }
    if (!response.ok) {
      let detail = body && (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
      throw new ApiError(response.status, (body && body.error) || `http_${response.status}`, detail || response.statusText);
    }
    return body;
  }

  // ---------- banner ----------
  function showBanner(kind, title, detail) {
    const banner = $("banner");
    banner.className = `banner ${kind}`;
    banner.innerHTML = `<strong>${escapeHtml(title)}</strong>${escapeHtml(detail || "")}`;
    banner.hidden = false;
  }
  function hideBanner() {
    $("banner").hidden = true;
  }

  /** A note inside one panel (no data, truncated reads); an empty text hides it. */
  function setNote(id, kind, text) {
    const note = $(id);
    note.className = `note ${kind}`;
    note.textContent = text || "";
    note.hidden = !text;
  }

  function truncationNote(data) {
    if (!data.truncated) return "";
    const perHour = data.limits.rows_per_hour;
    return `${data.truncated_hours} of ${data.hours.length} hours held more rows than one request reads ` +
      `(${fmt.int(perHour.tweets)} tweets, ${fmt.int(perHour.weather_reports)} weather reports per hour): ` +
      `their shares, scores and weather come from the newest rows of each hour. ` +
      `Tweets stored in the range: ${fmt.int(data.summary.tweets_stored)}. Narrow the range to read more per hour.`;
  }

  function describeError(err) {
    if (err.error === "cassandra_unreachable") {
      return ["Cassandra is unreachable", `${err.message} The rest of Airflow keeps working; this page retries on Refresh.`];
    }
    if (err.error === "schema_missing") return ["Cassandra has no pipeline tables yet", err.message];
    if (err.error === "configuration") return ["The Cassandra connection is not configured", err.message];
    if (err.error === "invalid_range") return ["This time range cannot be shown", err.message];
    if (err.status === 401) return ["Your Airflow session has expired", "Reload the page to sign in again."];
    if (err.status === 403) return ["Not allowed", "Your Airflow user may not read DAG runs, which this dashboard shows."];
    if (err.error === "busy") return ["The dashboard is busy", `${err.message} Press Refresh then.`];
    return ["The dashboard could not load its data", err.message];
  }

  // ---------- loading ----------
  async function load() {
    const button = $("refresh");
    let range;
    try {
      range = currentRange();
    } catch (err) {
      showBanner("error", "Choose a range", err.message);
      return;
    }
    writeUrlState(range);
    button.disabled = true;
    document.body.dataset.state = "loading";
    const params = { start: range.start.toISOString(), end: range.end.toISOString() };
    const city = $("city").value;
    $("range-label").textContent = `${city} · ${range.label}`;
    $("sentiment-link").href = `api/sentiment-weather?${new URLSearchParams({ city, ...params })}`;
    $("pipeline-link").href = `api/pipeline-state?${new URLSearchParams(params)}`;

    const [sentiment, pipeline] = await Promise.allSettled([
      getJson("api/sentiment-weather", { city, ...params }),
      getJson("api/pipeline-state", params),
    ]);
    dashboard.errors = [];
    if (sentiment.status === "fulfilled") {
      const data = sentiment.value;
      dashboard.sentiment = data;
      const colors = weatherColors(data.hours);
      drawKpis(data);
      drawSentiment(data);
      drawWeather(data, colors);
      drawScatter(data, colors);
      drawHashtags(data);
      setNote("sentiment-note", "info", data.message);
      setNote("sentiment-truncated", "warn", truncationNote(data));
    } else {
      ["sentiment-note", "sentiment-truncated"].forEach((id) => setNote(id, "info", ""));
      dashboard.errors.push(sentiment.reason);
      const unavailable = `Not available: ${describeError(sentiment.reason)[0]}.`;
      ["sentiment-chart", "weather-chart", "scatter-chart"].forEach((id) => setEmpty(id, unavailable));
      $("hashtag-table").innerHTML = `<p class="placeholder">${escapeHtml(unavailable)}</p>`;
      $("kpis").innerHTML = "";
    }
    if (pipeline.status === "fulfilled") {
      dashboard.pipeline = pipeline.value;
      drawPipeline(pipeline.value);
      // "No drain batch" concerns this panel only: rows imported from CSV come from no drain.
      setNote("pipeline-note", "info", pipeline.value.message);
      setNote(
        "pipeline-truncated",
        "warn",
        pipeline.value.truncated
          ? `${pipeline.value.truncated_hours} hours held more than ${pipeline.value.limits.rows_per_hour.drain_batches} drain batches each: their figures are partial.`
          : "",
      );
    } else {
      ["pipeline-note", "pipeline-truncated"].forEach((id) => setNote(id, "info", ""));
      dashboard.errors.push(pipeline.reason);
      const unavailable = `Not available: ${describeError(pipeline.reason)[0]}.`;
      ["drain-chart", "lag-chart"].forEach((id) => setEmpty(id, unavailable));
      ["freshness-table", "dlq-table", "dag-table", "drain-table"].forEach((id) => {
        $(id).innerHTML = `<p class="placeholder">${escapeHtml(unavailable)}</p>`;
      });
      $("health-label").textContent = "";
    }

    if (dashboard.errors.length) {
      const [title, detail] = describeError(dashboard.errors[0]);
      showBanner("error", title, detail);
      document.body.dataset.state = "error";
    } else {
      hideBanner(); // the banner is for errors; "no data" notes live in the panel they concern
      document.body.dataset.state = "ready";
    }
    dashboard.loads += 1;
    button.disabled = false;
  }

  async function init() {
    window.Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
    window.Chart.defaults.color = "#4a5562";
    const state = urlState.readState(window.location.search, PRESETS, "24");
    let cities = { cities: [], default_city: "" };
    try {
      cities = await getJson("api/cities", {});
    } catch (err) {
      const [title, detail] = describeError(err);
      showBanner("error", title, detail);
    }
    const names = [...cities.cities];
    if (state.city && !names.includes(state.city)) names.push(state.city);
    $("city").innerHTML = names.map((c) => `<option>${escapeHtml(c)}</option>`).join("");
    $("city").value = state.city || cities.default_city || names[0] || "";
    $("range").value = state.range;
    const now = new Date();
    $("end").value = state.end
      ? urlState.toInputValue(state.end)
      : state.range === "custom" ? "" : floorHourInput(new Date(now.getTime() + 3600 * 1000));
    $("start").value = state.start
      ? urlState.toInputValue(state.start)
      : state.end
        ? urlState.toInputValue(new Date(state.end.getTime() - 24 * 3600 * 1000))
        : floorHourInput(new Date(now.getTime() - 23 * 3600 * 1000));
    $("custom-range").hidden = state.range !== "custom";
    if (state.invalid.length) {
      if (state.invalid.some((item) => item.startsWith("start="))) $("start").value = "";
      if (state.invalid.some((item) => item.startsWith("end="))) $("end").value = "";
    }

    $("range").addEventListener("change", () => {
      $("custom-range").hidden = $("range").value !== "custom";
      if ($("range").value !== "custom") load();
    });
    $("city").addEventListener("change", () => load());
    $("controls").addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    if (state.invalid.length) {
      showBanner(
        "error",
        "This link's time range cannot be read",
        `${state.invalid.join(", ")}: use ISO-8601 UTC times as the API does, e.g. ` +
          "start=2021-02-09T00:00:00Z&end=2021-02-10T00:00:00Z (an offset like +00:00 or a date alone works too).",
      );
      document.body.dataset.state = "error";
      return;
    }
    await load();
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!window.Chart || !window.dashboardUrlState || !window.dashboardCharts) {
      showBanner("error", "A script is missing", "static/vendor/chart.umd.min.js, urlstate.js or charts.js did not load.");
      document.body.dataset.state = "error";
      return;
    }
    init().catch((err) => {
      showBanner("error", "The dashboard failed", err.message);
      document.body.dataset.state = "error";
    });
  });
})();
