/* Kafka pipeline dashboard: the charts, KPI cards and tables, drawn with the vendored Chart.js.
 *
 * No fetching and no controls here (dashboard.js does those); window.dashboardCharts exposes
 * the draw functions, the formatting helpers and the live Chart objects.
 */
(() => {
  "use strict";

  const COLORS = {
    positive: "#2f9e44",
    negative: "#d63939",
    neutral: "#a5afbd",
    score: "#3b5bdb",
    temperature: "#e8590c",
    rows: ["#017cee", "#12b886", "#7048e8", "#f59f00", "#e64980", "#0c8599"],
    deadLetters: "#d63939",
    status: { ok: "#2f9e44", warn: "#e8890c", fail: "#d63939", unknown: "#8a94a3" },
  };
  const WEATHER_PALETTE = [
    "#1c7ed6", "#f59f00", "#2f9e44", "#ae3ec9", "#e8590c", "#0ca678",
    "#5c7cfa", "#d6336c", "#868e96", "#66a80f", "#15aabf", "#fab005",
  ];
  const $ = (id) => document.getElementById(id);
  const charts = {};

  // ---------- formatting ----------
  const fmt = {
    int: (n) => (n == null ? "–" : Number(n).toLocaleString("en-US")),
    pct: (n) => (n == null ? "–" : `${n.toFixed(1)} %`),
    score: (n) => (n == null ? "–" : (n > 0 ? "+" : "") + n.toFixed(3)),
    temp: (n) => (n == null ? "–" : `${n.toFixed(1)} °C`),
    utc: (iso) => (iso ? iso.replace("T", " ").replace(/:\d\d(\.\d+)?(Z|\+00:00)$/, "") + " UTC" : "–"),
    age: (seconds) => {
      if (seconds == null) return "–";
      const s = Math.max(0, Math.round(seconds));
      if (s < 90) return `${s} s`;
      if (s < 5400) return `${Math.round(s / 60)} min`;
      if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
      return `${(s / 86400).toFixed(1)} days`;
    },
  };
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  /** Axis labels: "HH:00", with the date at midnight and on the first label. */
  function hourLabels(hours) {
    return hours.map((iso, index) => {
      const d = new Date(iso);
      const hh = String(d.getUTCHours()).padStart(2, "0");
      if (index === 0 || d.getUTCHours() === 0) {
        return [`${hh}:00`, `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`];
      }
      return `${hh}:00`;
    });
  }
  const hourTitle = (iso) => {
    const d = new Date(iso);
    const hh = String(d.getUTCHours()).padStart(2, "0");
    return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}, ${hh}:00–${hh}:59 UTC`;
  };

  /** "23 Nov 08:10 UTC" */
  const shortTime = (iso) => {
    const d = new Date(iso);
    const hhmm = `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
    return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${hhmm} UTC`;
  };

  function escapeHtml(text) {
    return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  // ---------- charts ----------
  const baseOptions = () => ({
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    interaction: { mode: "index", intersect: false },
    plugins: {
      legend: {
        // Centred: at either end it ran into the rotated title of a left or right value axis.
        position: "top",
        align: "center",
        labels: { boxWidth: 12, boxHeight: 12, font: { size: 11 }, sort: (a, b) => a.datasetIndex - b.datasetIndex },
      },
      tooltip: { titleFont: { size: 12 }, bodyFont: { size: 12 } },
    },
  });
  const axisTitle = (text) => ({ display: true, text, color: "#4a5562", font: { size: 11, weight: "600" } });
  const hourAxis = (stacked) => ({
    stacked,
    title: axisTitle("Hour (UTC)"),
    ticks: { maxRotation: 0, autoSkipPadding: 14, font: { size: 11 } },
    grid: { display: false },
  });

  function setEmpty(canvasId, message) {
    const empty = $(canvasId).parentElement.querySelector(".empty");
    empty.textContent = message || "";
    empty.hidden = !message;
  }

  function replaceChart(id, config) {
    if (charts[id]) charts[id].destroy();
    charts[id] = new window.Chart($(id), config);
    return charts[id];
  }

  function weatherColors(hours) {
    const descriptions = [...new Set(hours.map((h) => h.weather_description).filter(Boolean))].sort();
    return new Map(descriptions.map((d, i) => [d, WEATHER_PALETTE[i % WEATHER_PALETTE.length]]));
  }

  function drawSentiment(data) {
    const hours = data.hours;
    const labels = hourLabels(hours.map((h) => h.hour));
    const shareDataset = (key, label, color) => ({
      type: "bar",
      label,
      data: hours.map((h) => h[`${key}_pct`]),
      backgroundColor: color,
      stack: "share",
      yAxisID: "y",
      order: 2,
      barPercentage: 0.95,
      categoryPercentage: 0.9,
    });
    replaceChart("sentiment-chart", {
      data: {
        labels,
        datasets: [
          shareDataset("positive", "Positive", COLORS.positive),
          shareDataset("neutral", "Neutral", COLORS.neutral),
          shareDataset("negative", "Negative", COLORS.negative),
          {
            type: "line",
            label: "Mean score",
            data: hours.map((h) => h.mean_score),
            borderColor: COLORS.score,
            backgroundColor: COLORS.score,
            yAxisID: "score",
            order: 1,
            borderWidth: 2,
            pointRadius: hours.length > 96 ? 0 : 2.5,
            tension: 0.25,
            spanGaps: false,
          },
        ],
      },
      options: {
        ...baseOptions(),
        scales: {
          x: hourAxis(true),
          y: {
            stacked: true, min: 0, max: 100, position: "left",
            title: axisTitle("Share of tweets (%)"),
            ticks: { callback: (v) => `${v} %`, stepSize: 25, font: { size: 11 } },
          },
          score: {
            min: -1, max: 1, position: "right",
            title: axisTitle("Mean sentiment score (−1 … +1)"),
            grid: { drawOnChartArea: false },
            ticks: { stepSize: 0.5, font: { size: 11 } },
          },
        },
        plugins: {
          ...baseOptions().plugins,
          tooltip: {
            callbacks: {
              title: (items) => hourTitle(hours[items[0].dataIndex].hour),
              label: (ctx) => {
                const h = hours[ctx.dataIndex];
                if (ctx.dataset.yAxisID === "score") return ` Mean score: ${fmt.score(h.mean_score)}`;
                const key = ctx.dataset.label.toLowerCase();
                return ` ${ctx.dataset.label}: ${fmt.pct(h[`${key}_pct`])} (${fmt.int(h[key])} of ${fmt.int(h.tweets)})`;
              },
            },
          },
        },
      },
    });
    setEmpty("sentiment-chart", data.summary.tweets ? "" : `No tweets for ${data.city} in this range yet.`);
  }

  function drawWeather(data, colors) {
    const hours = data.hours;
    replaceChart("weather-chart", {
      type: "line",
      data: {
        labels: hourLabels(hours.map((h) => h.hour)),
        datasets: [
          {
            label: "Temperature (°C)",
            data: hours.map((h) => h.temperature_c),
            yAxisID: "temp",
            borderColor: COLORS.temperature,
            backgroundColor: COLORS.temperature,
            pointBackgroundColor: hours.map((h) => colors.get(h.weather_description) || COLORS.temperature),
            pointBorderColor: hours.map((h) => colors.get(h.weather_description) || COLORS.temperature),
            pointRadius: hours.length > 96 ? 1.5 : 3.5,
            borderWidth: 2,
            tension: 0.25,
            spanGaps: true,
          },
          {
            label: "Mean score",
            data: hours.map((h) => h.mean_score),
            yAxisID: "score",
            borderColor: "rgba(59, 91, 219, 0.55)",
            backgroundColor: "rgba(59, 91, 219, 0.55)",
            borderWidth: 1.5,
            pointRadius: 0,
            tension: 0.25,
            spanGaps: false,
          },
        ],
      },
      options: {
        ...baseOptions(),
        scales: {
          x: hourAxis(false),
          temp: { position: "left", title: axisTitle("Temperature (°C)"), ticks: { callback: (v) => `${v} °C`, font: { size: 11 } } },
          score: {
            position: "right", min: -1, max: 1, grid: { drawOnChartArea: false },
            title: axisTitle("Mean score"), ticks: { stepSize: 0.5, font: { size: 11 } },
          },
        },
        plugins: {
          ...baseOptions().plugins,
          tooltip: {
            callbacks: {
              title: (items) => hourTitle(hours[items[0].dataIndex].hour),
              label: (ctx) => {
                const h = hours[ctx.dataIndex];
                if (ctx.dataset.yAxisID === "score") return ` Mean score: ${fmt.score(h.mean_score)} (${fmt.int(h.tweets)} tweets)`;
                return ` ${fmt.temp(h.temperature_c)}${h.weather_description ? ` · ${h.weather_description}` : ""}`;
              },
            },
          },
        },
      },
    });
    setEmpty("weather-chart", data.summary.weather_reports ? "" : `No weather reports for ${data.city} in this range yet.`);
  }

  function drawScatter(data, colors) {
    const points = data.hours.filter((h) => h.mean_score != null && h.temperature_c != null);
    const groups = new Map();
    for (const h of points) {
      const key = h.weather_description || "no description";
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push({ x: h.temperature_c, y: h.mean_score, hour: h.hour, tweets: h.tweets });
    }
    const datasets = [...groups.entries()].map(([description, values]) => ({
      label: description,
      data: values,
      backgroundColor: colors.get(description) || "#868e96",
      borderColor: colors.get(description) || "#868e96",
      pointRadius: values.map((v) => Math.min(9, 3 + Math.sqrt(v.tweets))),
      pointHoverRadius: 9,
    }));
    replaceChart("scatter-chart", {
      type: "scatter",
      data: { datasets },
      options: {
        ...baseOptions(),
        interaction: { mode: "nearest", intersect: true },
        scales: {
          x: { title: axisTitle("Hourly mean temperature (°C)"), ticks: { callback: (v) => `${v} °C`, font: { size: 11 } } },
          y: { min: -1, max: 1, title: axisTitle("Hourly mean score"), ticks: { stepSize: 0.5, font: { size: 11 } } },
        },
        plugins: {
          ...baseOptions().plugins,
          legend: { ...baseOptions().plugins.legend, labels: { ...baseOptions().plugins.legend.labels, usePointStyle: true } },
          tooltip: {
            callbacks: {
              title: (items) => hourTitle(items[0].raw.hour),
              label: (ctx) => ` ${ctx.dataset.label}: ${fmt.temp(ctx.raw.x)}, score ${fmt.score(ctx.raw.y)} (${ctx.raw.tweets} tweets)`,
            },
          },
        },
      },
    });
    const s = data.summary;
    $("correlation").textContent = s.score_temperature_correlation == null
      ? `${s.correlated_hours} hours with both`
      : `Pearson r = ${s.score_temperature_correlation.toFixed(2)} over ${s.correlated_hours} hours`;
    setEmpty("scatter-chart", points.length ? "" : "No hour has both tweets and a temperature yet.");
  }

  // Which model scored the tweets shown: one name, or the main one and how many others.
  function scoredBy(models) {
    const names = Object.keys(models || {});
    if (!names.length) return "no model yet";
    return names.length === 1 ? names[0] : `${names[0]} + ${names.length - 1} other model(s)`;
  }

  function drawKpis(data) {
    const s = data.summary;
    const card = (label, value, sub = "", cls = "") =>
      `<div class="kpi"><div class="label">${escapeHtml(label)}</div><div class="value ${cls}" title="${escapeHtml(value)}">${escapeHtml(value)}</div><div class="sub">${escapeHtml(sub)}</div></div>`;
    const range = s.min_temperature_c == null ? "" : `${fmt.temp(s.min_temperature_c)} … ${fmt.temp(s.max_temperature_c)}`;
    $("kpis").innerHTML = [
      data.truncated
        ? card("Tweets", fmt.int(s.tweets_stored), `${fmt.int(s.tweets)} read (capped per hour)`)
        : card("Tweets", fmt.int(s.tweets), s.latest_tweet_at ? `latest ${shortTime(s.latest_tweet_at)}` : "none yet"),
      card("Positive", fmt.pct(s.positive_pct), `${fmt.int(s.positive)} tweets`, "positive"),
      card("Negative", fmt.pct(s.negative_pct), `${fmt.int(s.negative)} tweets`, "negative"),
      card("Neutral", fmt.pct(s.neutral_pct), `${fmt.int(s.neutral)} tweets`),
      card("Mean score", fmt.score(s.mean_score), `${scoredBy(s.models)}, −1 … +1`),
      card("Mean temperature", fmt.temp(s.mean_temperature_c), range),
      card("Most common weather", s.most_common_description || "–", `${fmt.int(s.weather_reports)} reports`, "text"),
    ].join("");
  }

  function statusBadge(status) {
    const cls = ["ok", "warn", "fail"].includes(status) ? status : "";
    return `<span class="badge ${cls}">${escapeHtml(status || "?")}</span>`;
  }

  function table(containerId, columns, rows, emptyText) {
    const box = $(containerId);
    if (!rows.length) {
      box.innerHTML = `<p class="placeholder">${escapeHtml(emptyText)}</p>`;
      return;
    }
    const head = columns.map((c) => `<th class="${c.num ? "num" : ""}">${escapeHtml(c.title)}</th>`).join("");
    const body = rows
      .map((row) => `<tr>${columns.map((c) => `<td class="${c.num ? "num" : ""}">${c.html ? c.render(row) : escapeHtml(c.render(row))}</td>`).join("")}</tr>`)
      .join("");
    box.innerHTML = `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
  }

  function drawHashtags(data) {
    table("hashtag-table", [
      { title: "Hashtag", render: (h) => `#${h.hashtag}` },
      { title: "Tweets", num: true, render: (h) => fmt.int(h.tweets) },
    ], data.summary.top_hashtags || [], "No tweet in this range carries a hashtag.");
  }

  function drawPipeline(data) {
    const health = data.health;
    const drains = data.drains;
    if (health.checked_at) {
      const counts = Object.entries(health.status_counts)
        .map(([status, n]) => `<span class="dot" style="background:${COLORS.status[status] || COLORS.status.unknown}"></span>${n} ${escapeHtml(status)}`)
        .join("");
      $("health-label").innerHTML = `latest health check ${escapeHtml(fmt.utc(health.checked_at))} (${fmt.age(health.age_seconds)} ago)${counts}`;
    } else {
      $("health-label").textContent = "no health check yet: the pipeline_health DAG writes one on each run";
    }

    // Rows written per hour, one stacked bar per drain topic, dead letters as a line.
    const labels = hourLabels(drains.hours);
    const deadLettered = drains.hours.map((_h, i) => drains.topics.reduce((sum, t) => sum + drains.dead_lettered[t][i], 0));
    replaceChart("drain-chart", {
      data: {
        labels,
        datasets: [
          ...drains.topics.map((topic, i) => ({
            type: "bar",
            label: `${topic} rows`,
            data: drains.rows_written[topic],
            backgroundColor: COLORS.rows[i % COLORS.rows.length],
            stack: "rows",
            order: 2,
          })),
          ...(deadLettered.some((n) => n > 0)
            ? [{
              type: "line",
              label: "dead-lettered",
              data: deadLettered,
              borderColor: COLORS.deadLetters,
              backgroundColor: COLORS.deadLetters,
              pointRadius: deadLettered.map((n) => (n > 0 ? 2.5 : 0)),
              borderWidth: 1.5,
              order: 1,
            }]
            : []),
        ],
      },
      options: {
        ...baseOptions(),
        scales: {
          x: hourAxis(true),
          y: { stacked: true, beginAtZero: true, title: axisTitle("Rows per hour"), ticks: { precision: 0, font: { size: 11 } } },
        },
      },
    });
    setEmpty("drain-chart", drains.topics.length ? "" : "No drain batch finished in this range yet.");

    // Consumer lag of the latest check, one bar per topic/partition coloured by status.
    const lag = health.consumer_lag;
    replaceChart("lag-chart", {
      type: "bar",
      data: {
        labels: lag.map((f) => f.subject),
        datasets: [{
          label: "Messages behind",
          data: lag.map((f) => f.value),
          backgroundColor: lag.map((f) => COLORS.status[f.status] || COLORS.status.unknown),
          maxBarThickness: 22,
        }],
      },
      options: {
        ...baseOptions(),
        indexAxis: "y",
        interaction: { mode: "nearest", axis: "y", intersect: false },
        scales: {
          x: { beginAtZero: true, title: axisTitle("Messages behind (consumer lag)"), ticks: { precision: 0, font: { size: 11 } } },
          y: { title: axisTitle("Topic / partition"), ticks: { font: { size: 11 } } },
        },
        plugins: {
          ...baseOptions().plugins,
          legend: { display: false },
          tooltip: { callbacks: { label: (ctx) => ` ${fmt.int(ctx.raw)} messages behind · ${lag[ctx.dataIndex].status || "?"}${lag[ctx.dataIndex].detail ? ` · ${lag[ctx.dataIndex].detail}` : ""}` } },
        },
      },
    });
    setEmpty("lag-chart", lag.length ? "" : health.checked_at ? "The latest health check has no consumer-lag figures." : "No health check yet.");

    const noCheck = "No health check yet.";
    table("freshness-table", [
      { title: "Table", render: (f) => f.subject },
      { title: "Newest row", num: true, render: (f) => `${fmt.age(f.value)} ago` },
      { title: "Status", html: true, render: (f) => statusBadge(f.status) },
    ], health.freshness_seconds, health.checked_at ? "No freshness figures in the latest check." : noCheck);
    table("dlq-table", [
      { title: "Dead-letter topic", render: (f) => f.subject },
      { title: "Messages", num: true, render: (f) => fmt.int(f.value) },
      { title: "Status", html: true, render: (f) => statusBadge(f.status) },
    ], health.dlq_messages, health.checked_at ? "No dead-letter figures in the latest check." : noCheck);
    table("dag-table", [
      { title: "DAG", render: (f) => f.subject },
      { title: "Last run", render: (f) => f.detail || "–" },
      { title: "Status", html: true, render: (f) => statusBadge(f.status) },
    ], health.dag_last_run, health.checked_at ? "No DAG-run figures in the latest check." : noCheck);
    table("cluster-table", [
      { title: "Figure", render: (f) => f.metric.replaceAll("_", " ") },
      { title: "Of", render: (f) => f.subject },
      { title: "Value", num: true, render: (f) => fmt.int(f.value) },
      { title: "Status", html: true, render: (f) => statusBadge(f.status) },
      { title: "Detail", render: (f) => f.detail || "–" },
    ], health.cluster, health.checked_at ? "No replication figures in the latest check." : noCheck);
    table("drain-table", [
      { title: "Topic", render: (t) => t.topic },
      { title: "Batches", num: true, render: (t) => fmt.int(t.batches) },
      { title: "Messages read", num: true, render: (t) => fmt.int(t.messages_read) },
      { title: "Rows written", num: true, render: (t) => fmt.int(t.rows_written) },
      { title: "Dead-lettered", num: true, render: (t) => fmt.int(t.dead_lettered) },
      { title: "Mean batch", num: true, render: (t) => (t.mean_batch_seconds == null ? "–" : `${t.mean_batch_seconds.toFixed(2)} s`) },
      { title: "Last batch", render: (t) => fmt.utc(t.last_finished_at) },
      { title: "Lag after", num: true, render: (t) => fmt.int(t.last_lag_after) },
    ], drains.totals, "No drain batch finished in this range yet.");
  }

  window.dashboardCharts = {
    charts, fmt, escapeHtml, setEmpty, weatherColors, drawKpis, drawSentiment, drawWeather, drawScatter, drawHashtags, drawPipeline,
  };
})();
