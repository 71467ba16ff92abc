// The dashboard's page: renders each snapshot that /events/stream sends (no polling, no reload).

const byId = (id) => document.getElementById(id);
let latest = null;
let chart = null;
// Ages are shown against the coordinator's clock, not this browser's.
let clockOffsetMs = 0;

function ago(iso) {
  if (iso === null) return "-";
  const seconds = Math.max(0, Math.round((Date.now() + clockOffsetMs - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function renderSites(status) {
  const body = byId("sites").tBodies[0];
  const rows = status.sites.map((site) => {
    const row = document.createElement("tr");
    row.dataset.site = site.siteId;
    cell(row, site.siteId);
    cell(
      row,
      site.state === "lost" && site.lostReason ? `lost (${site.lostReason})` : site.state,
      `state-${site.state}`,
    );
    cell(row, ago(site.lastSeen));
    cell(row, site.backend ?? "-");
    const task = cell(row, "");
    if (site.task) {
      const bar = document.createElement("progress");
      bar.max = 1;
      bar.value = site.task.progress;
      task.append(
        bar,
        `${site.task.kind} r${site.task.round} ${Math.round(site.task.progress * 100)}% ${site.task.status}`,
      );
    } else task.textContent = "-";
    return row;
  });
  body.replaceChildren(...rows);
}

function renderRounds(status) {
  const { plan, updates } = status;
  byId("federation").textContent = `Federation ${status.federationId}`;
  const state = byId("state");
  state.textContent = status.reason ? `${status.state}: ${status.reason}` : status.state;
  state.className = `badge ${status.state}`;
  const current =
    plan.round === null
      ? "no round started yet"
      : `round ${plan.round}${plan.attempt > 1 ? ` (attempt ${plan.attempt})` : ""}, phase ${plan.phase ?? "?"}`;
  byId("rounds").textContent = `${plan.completedRounds}/${plan.totalRounds ?? "?"} rounds done; ${current}`;
  const rejected = Object.entries(updates.rejected);
  byId("updates").textContent = `updates: ${updates.accepted} accepted, ${rejected.reduce(
    (n, [, count]) => n + count,
    0,
  )} rejected${rejected.length ? ` (${rejected.map(([code, n]) => `${code} ${n}`).join(", ")})` : ""}`;
  const last = status.lastRound;
  byId("last-round").textContent = last
    ? `last round: ${last.round} ${last.outcome} ${ago(last.at)}${last.reason ? `: ${last.reason}` : ""}`
    : "";
  const evaluation = status.lastEvaluation;
  byId("last-evaluation").textContent = evaluation
    ? `last evaluation: model v${evaluation.modelVersion ?? "?"}: ${
        Object.entries(evaluation.pooled)
          .filter(([name]) => name !== "count")
          .map(([name, value]) => `${name} ${value.toFixed(3)}`)
          .join(", ") || "no metrics"
      }`
    : "";
}

const COLOURS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#0891b2", "#db2777"];

function curveDatasets(history) {
  const loss = history.rounds
    .filter((r) => r.trainLoss !== null)
    .map((r) => ({ x: r.round, y: r.trainLoss }));
  const metrics = new Map();
  for (const evaluation of history.evaluations) {
    if (evaluation.round === null) continue;
    for (const [name, value] of Object.entries(evaluation.pooled)) {
      if (name === "count") continue;
      if (!metrics.has(name)) metrics.set(name, []);
      metrics.get(name).push({ x: evaluation.round, y: value });
    }
  }
  return [
    { label: "training loss", data: loss, yAxisID: "loss" },
    ...[...metrics].map(([name, data]) => ({ label: `pooled ${name}`, data, yAxisID: "metric" })),
  ].map((dataset, i) => ({
    ...dataset,
    borderColor: COLOURS[i % COLOURS.length],
    backgroundColor: COLOURS[i % COLOURS.length],
  }));
}

function renderCurve(history) {
  const datasets = curveDatasets(history);
  const empty = datasets.every((d) => d.data.length === 0);
  byId("curve-empty").hidden = !empty;
  if (chart === null) {
    chart = new Chart(byId("curve"), {
      type: "line",
      data: { datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {
          x: { type: "linear", title: { display: true, text: "round" }, ticks: { precision: 0 } },
          loss: {
            type: "linear",
            position: "left",
            beginAtZero: true,
            title: { display: true, text: "training loss" },
          },
          // Accuracy, F1 and AUC live in [0, 1]; a metric beyond that widens the axis.
          metric: {
            type: "linear",
            position: "right",
            suggestedMin: 0,
            suggestedMax: 1,
            grid: { drawOnChartArea: false },
            title: { display: true, text: "pooled evaluation" },
          },
        },
      },
    });
  } else {
    chart.data.datasets = datasets;
    chart.update("none");
  }
}

function render(view) {
  latest = view;
  clockOffsetMs = Date.parse(view.status.generatedAt) - Date.now();
  renderRounds(view.status);
  renderSites(view.status);
  renderCurve(view.history);
}

const stream = new EventSource("/events/stream");
stream.onopen = () => {
  byId("connection").textContent = "live";
};
stream.onmessage = (message) => render(JSON.parse(message.data));
stream.onerror = () => {
  // CLOSED: refused (a restarted coordinator forgets its sign-ins); otherwise the browser retries.
  byId("connection").textContent =
    stream.readyState === EventSource.CLOSED
      ? "signed out: open /dashboard?token=<the operator token> again"
      : "coordinator unreachable: retrying";
};
// Keeps "last seen" ticking between snapshots.
setInterval(() => latest && renderSites(latest.status), 1000);
