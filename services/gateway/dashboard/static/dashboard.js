// tollgate's cost console: signs in, then polls the dashboard's JSON every few seconds
// and redraws in place. Every value is written with textContent (never as HTML), every
// amount is the exact decimal string the API sent; charts plot them as numbers only.

const POLL_MS = 3000;
const API = "/dashboard/api";
const $ = (id) => document.getElementById(id);

const state = { session: null, project: null, timer: null, charts: {}, busy: false };

class SignedOut extends Error {}

async function api(path, options = {}) {
  const reply = await fetch(API + path, {
    credentials: "same-origin",
    headers: options.body ? { "Content-Type": "application/json" } : {},
    ...options,
  });
  if (reply.status === 401) throw new SignedOut();
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(body?.error?.message || `HTTP ${reply.status}`);
  return body;
}

function money(amount, currency) {
  return amount === undefined || amount === null ? "–" : `${currency || ""} ${amount}`.trim();
}

function count(n) {
  return Number(n || 0).toLocaleString("en-US");
}

function cell(row, value, className) {
  const td = document.createElement("td");
  td.textContent = value;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fill(tbody, rows, columns, emptyText) {
  const body = $(tbody);
  body.replaceChildren();
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell(tr, emptyText, "empty");
    td.colSpan = columns;
    body.appendChild(tr);
    return;
  }
  for (const values of rows) {
    const tr = document.createElement("tr");
    for (const [value, className] of values) cell(tr, value, className);
    body.appendChild(tr);
  }
}

// --- signing in and out ---

function show(signedIn) {
  $("signin").hidden = signedIn;
  $("console").hidden = !signedIn;
  $("who").hidden = !signedIn;
}

async function signIn(event) {
  event.preventDefault();
  $("signin-error").textContent = "";
  try {
    const session = await api("/signin", {
      method: "POST",
      body: JSON.stringify({ token: $("token").value }),
    });
    $("token").value = "";
    await start(session);
  } catch (error) {
    $("signin-error").textContent =
      error instanceof SignedOut ? "That is not an admin token or a valid project key." : error.message;
  }
}

async function signOut() {
  try {
    await api("/signout", { method: "POST", body: "{}" });
  } finally {
    stop();
  }
}

function stop() {
  clearTimeout(state.timer);
  state.timer = null;
  state.session = null;
  state.project = null;
  show(false);
  $("token").focus();
}

// --- the projects a session may see ---

async function start(session) {
  state.session = session;
  const operator = session.role === "operator";
  $("role").textContent = operator ? "operator" : "project viewer";
  $("picker").hidden = !operator;
  $("audit-panel").hidden = !operator;
  const projects = (await api("/projects")).data;
  const select = $("project-select");
  select.replaceChildren();
  for (const project of projects) {
    const option = document.createElement("option");
    option.value = project.name;
    option.textContent = project.name;
    select.appendChild(option);
  }
  const wanted = new URLSearchParams(location.hash.slice(1)).get("project");
  const names = projects.map((p) => p.name);
  state.project = operator
    ? names.includes(wanted) ? wanted : names[0] || null
    : session.project;
  select.value = state.project || "";
  $("project-name").textContent = operator ? "" : session.project;
  show(true);
  await refresh();
}

function choose() {
  state.project = $("project-select").value;
  history.replaceState(null, "", `#project=${encodeURIComponent(state.project)}`);
  clearTimeout(state.timer);
  refresh();
}

// --- polling ---

async function refresh() {
  clearTimeout(state.timer);
  if (!state.session) return;
  try {
    if (state.project) {
      const base = `/projects/${encodeURIComponent(state.project)}`;
      const [summary, series, breakdown, calls, alerts] = await Promise.all([
        api(`${base}/summary`),
        api(`${base}/series`),
        api(`${base}/breakdown`),
        api(`${base}/calls?limit=50`),
        api(`${base}/alerts`),
      ]);
      drawSummary(summary);
      drawSeries(series, summary.bill);
      drawBreakdown(breakdown, summary.savings);
      drawCalls(calls.data, breakdown.by_key);
      drawAlerts(alerts.data);
    }
    if (state.session.role === "operator") drawAudit(await api("/audit"));
    $("load-error").textContent = "";
    $("live").className = "live";
    $("live").textContent = `live · updated ${new Date().toISOString().slice(11, 19)} UTC`;
  } catch (error) {
    if (error instanceof SignedOut) return stop();
    $("live").className = "live stale";
    $("load-error").textContent = `Could not refresh: ${error.message}`;
  }
  state.timer = setTimeout(refresh, POLL_MS);
}

// --- drawing ---

function drawSummary({ bill, budgets }) {
  const c = bill.currency;
  $("spend").textContent = money(bill.total, c);
  $("period").textContent = bill.period;
  $("calls").textContent = count(bill.requests);
  $("input-tokens").textContent = count(bill.input_tokens);
  $("cached-tokens").textContent = count(bill.cached_tokens);
  $("output-tokens").textContent = count(bill.output_tokens);
  $("cache-hits").textContent = count(bill.cache_hits);
  $("saved").textContent = money(bill.saved, c);
  const f = bill.forecast;
  $("forecast").textContent = f ? money(f.forecast, f.currency) : "–";
  $("forecast-note").textContent = f
    ? `${f.days_left} days left at ${f.daily_average}/day (${f.window.days}-day average)`
    : "";
  drawBudgets(budgets);
}

function drawBudgets(budgets) {
  const box = $("budgets");
  box.replaceChildren();
  if (!budgets.length) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = "No budgets on this project.";
    box.appendChild(p);
    return;
  }
  for (const b of budgets) {
    const pct = b.percent === null ? null : Number(b.percent);
    const gauge = document.createElement("div");
    gauge.className = "gauge" + (pct >= 100 ? " over" : pct >= 80 ? " warn" : "");
    gauge.dataset.testid = "budget-gauge";
    const label = document.createElement("div");
    label.className = "label";
    const owner = b.owner === "key" ? `key ${b.key_name || b.key_id}` : "project";
    const name = document.createElement("span");
    name.textContent = `${b.period} · ${owner} · ${b.hard ? "hard" : "soft"}`;
    const pctText = document.createElement("span");
    pctText.className = "pct";
    pctText.dataset.testid = "budget-percent";
    pctText.textContent = pct === null ? "–" : `${b.percent}%`;
    label.append(name, pctText);
    const track = document.createElement("div");
    track.className = "track";
    const bar = document.createElement("div");
    bar.className = "fill";
    bar.style.width = `${Math.min(100, Math.max(0, pct || 0))}%`;
    track.appendChild(bar);
    const detail = document.createElement("small");
    detail.textContent =
      `${money(b.spent, b.currency)} spent of ${b.amount}` +
      (b.reserved && Number(b.reserved) ? ` (${b.reserved} held)` : "") + ` · resets ${b.resets}`;
    gauge.append(label, track, detail);
    box.appendChild(gauge);
  }
}

function chart(id, config) {
  const existing = state.charts[id];
  if (existing) {
    existing.data.labels = config.data.labels;
    existing.data.datasets.forEach((set, i) => Object.assign(set, config.data.datasets[i]));
    existing.update("none");
    return;
  }
  if (!window.Chart) return; // the chart library did not load: the numbers still show
  state.charts[id] = new window.Chart($(id), {
    ...config,
    options: {
      animation: false,
      maintainAspectRatio: false,
      plugins: {
        legend: {
          display: config.data.datasets.length > 1,
          labels: { usePointStyle: true, pointStyle: "line" },
        },
      },
      scales: { y: { beginAtZero: true } },
      ...config.options,
    },
  });
}

function drawSeries({ hourly, daily }, bill) {
  chart("hourly-chart", {
    type: "bar",
    data: {
      labels: hourly.map((h) => h.hour.slice(5, 13).replace("T", " ") + "h"),
      datasets: [{ label: "spend", data: hourly.map((h) => Number(h.total)), backgroundColor: "#2f6fdb" }],
    },
  });
  chart("daily-chart", {
    type: "bar",
    data: {
      labels: daily.map((d) => d.day.slice(5)),
      datasets: [{ label: "spend", data: daily.map((d) => Number(d.total)), backgroundColor: "#5b8def" }],
    },
  });
  // This month: the actual running total day by day, and the forecast drawn from today
  // to the month's last day.
  const month = bill.period;
  const [year, mon] = month.split("-").map(Number);
  const last = new Date(Date.UTC(year, mon, 0)).getUTCDate();
  const byDay = Object.fromEntries(daily.map((d) => [d.day, Number(d.total)]));
  const today = bill.forecast ? Number(bill.forecast.as_of.slice(8, 10)) : last;
  const labels = [];
  const actual = [];
  const forecast = [];
  let running = 0;
  for (let day = 1; day <= last; day++) {
    const key = `${month}-${String(day).padStart(2, "0")}`;
    labels.push(String(day));
    running += byDay[key] || 0;
    actual.push(day <= today ? running : null);
    forecast.push(null);
  }
  if (bill.forecast) {
    const from = Number(bill.forecast.spent);
    const to = Number(bill.forecast.forecast);
    for (let day = today; day <= last; day++) {
      forecast[day - 1] = last === today ? to : from + ((to - from) * (day - today)) / (last - today);
    }
  }
  chart("month-chart", {
    type: "line",
    data: {
      labels,
      datasets: [
        { label: "actual", data: actual, borderColor: "#2f6fdb", backgroundColor: "#2f6fdb", pointRadius: 0 },
        {
          label: "forecast", data: forecast, borderColor: "#d98a00", backgroundColor: "#d98a00",
          borderDash: [6, 4], pointRadius: 0,
        },
      ],
    },
  });
}

function usageRows(lines, name) {
  return lines.map((l) => [
    [name(l)], [count(l.requests), "num"], [count(l.input_tokens), "num"],
    [count(l.output_tokens), "num"], [money(l.total, l.currency), "num"],
  ]);
}

function drawBreakdown(b, savings) {
  fill("by-model", usageRows(b.by_model, (l) => l.model), 5, "No calls this month.");
  fill("by-key", usageRows(b.by_key, (l) => l.key_name || l.key_id), 5, "No calls this month.");
  fill("by-user", usageRows(b.by_user, (l) => l.end_user || "(none)"), 5, "No calls this month.");
  fill(
    "savings-lines",
    savings.lines.map((l) => [
      [l.lever], [count(l.requests), "num"], [money(l.cost, l.currency), "num"],
      [money(l.saved, l.currency), "num"],
    ]),
    4,
    "Nothing saved this month yet.",
  );
}

function drawCalls(calls, keys) {
  const names = Object.fromEntries(keys.map((k) => [k.key_id, k.key_name || k.key_id]));
  fill(
    "recent-calls",
    calls.map((c) => [
      [c.started_at.slice(0, 19).replace("T", " ")],
      [names[c.key_id] || c.key_id],
      [c.model_requested],
      [c.model_served + (c.cache_hit ? " (cache)" : "")],
      [count(c.input_tokens), "num"],
      [count(c.output_tokens), "num"],
      [money(c.cost, c.currency), "num"],
      [`${c.latency_ms} ms`, "num"],
      [c.status, `status-${c.status}`],
      [c.usage_source],
    ]),
    10,
    "No calls yet.",
  );
}

function drawAlerts(alerts) {
  fill(
    "alerts",
    alerts.map((a) => [
      [(a.created_at || "").slice(0, 19).replace("T", " ")], [a.kind], [a.message], [a.state],
    ]),
    4,
    "No alerts.",
  );
}

function drawAudit(audit) {
  fill(
    "audit",
    audit.data.map((e) => [
      [e.at.slice(0, 19).replace("T", " ")], [e.actor], [e.action],
      [`${e.target_kind} ${e.target}`.trim()], [e.project || ""],
    ]),
    5,
    "No changes recorded.",
  );
}

// --- start ---

$("signin-form").addEventListener("submit", signIn);
$("signout").addEventListener("click", signOut);
$("project-select").addEventListener("change", choose);
api("/session").then(start).catch(() => stop());
