// Reports: charts (Chart.js) from GET /api/v1/reports/overview, redrawn as events arrive.
import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";
import { api, query } from "./lib/api.js";
import { $, debounce, flash } from "./lib/dom.js";
import { label } from "./lib/format.js";
import { connectLive } from "./lib/live.js";

Chart.register(
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);
Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.animation = { duration: 250 };

const COLORS = {
  blue: "#2563eb",
  green: "#16a34a",
  amber: "#d97706",
  red: "#dc2626",
  grey: "#94a3b8",
  violet: "#7c3aed",
  ages: ["#93c5fd", "#60a5fa", "#f59e0b", "#dc2626"],
};
const charts = {};
const daysSelect = $("#days");

const shortDay = (iso) => new Date(`${iso}T00:00:00Z`).toLocaleDateString("en", { month: "short", day: "numeric", timeZone: "UTC" });
const sum = (values) => values.reduce((a, b) => a + (b ?? 0), 0);

// Draw or update a chart; the canvas carries a text summary for screen readers (and tests).
function draw(id, config, summary, total) {
  const canvas = document.getElementById(id);
  canvas.setAttribute("aria-label", summary);
  canvas.dataset.total = String(total);
  const existing = charts[id];
  if (existing) {
    existing.data = config.data;
    existing.update();
  } else {
    charts[id] = new Chart(canvas, config);
  }
  canvas.dataset.drawn = "true";
}

function render(report) {
  for (const [key, value] of Object.entries(report.totals)) {
    const el = document.getElementById(`tile-${key}`);
    if (el && el.textContent !== String(value)) {
      if (el.textContent !== "–") flash(el.closest(".tile"), "changed");
      el.textContent = String(value);
    }
  }

  const v = report.volume;
  draw(
    "chart-volume",
    {
      type: "bar",
      data: {
        labels: v.days.map(shortDay),
        datasets: [
          { label: "Created", data: v.created, backgroundColor: COLORS.blue },
          { label: "Solved", data: v.solved, backgroundColor: COLORS.green },
        ],
      },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    },
    `Tickets created and solved per day: ${sum(v.created)} created, ${sum(v.solved)} solved in ${report.days} days.`,
    sum(v.created) + sum(v.solved),
  );

  const backlog = report.backlog;
  draw(
    "chart-backlog",
    {
      type: "bar",
      data: {
        labels: backlog.queues.map((q) => q.queue),
        datasets: backlog.buckets.map((bucket, i) => ({
          label: bucket,
          data: backlog.queues.map((q) => q.ages[i]),
          backgroundColor: COLORS.ages[i % COLORS.ages.length],
        })),
      },
      options: { indexAxis: "y", scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } } },
    },
    `Unsolved tickets by queue: ${backlog.queues.map((q) => `${q.queue} ${q.total}`).join(", ") || "none"}.`,
    sum(backlog.queues.map((q) => q.total)),
  );

  for (const [id, metric, name] of [
    ["chart-first", "first_response", "First response"],
    ["chart-resolution", "resolution", "Resolution"],
  ]) {
    const rows = report.response_times;
    draw(
      id,
      {
        type: "bar",
        data: {
          labels: rows.map((r) => label(r.priority)),
          datasets: [
            { label: "Average (business min)", data: rows.map((r) => r[metric].avg_minutes), backgroundColor: COLORS.violet },
            { label: "Target (min)", data: rows.map((r) => r[metric].target_minutes), backgroundColor: COLORS.grey },
          ],
        },
        options: {
          scales: { y: { beginAtZero: true } },
          plugins: {
            tooltip: {
              callbacks: {
                afterBody: (items) => {
                  const r = rows[items[0].dataIndex][metric];
                  return r.count ? `${r.met} of ${r.count} within target` : "no tickets yet";
                },
              },
            },
          },
        },
      },
      `${name} against the SLA target by priority: ${rows
        .map((r) => `${r.priority} ${r[metric].avg_minutes ?? "no data"} of ${r[metric].target_minutes ?? "no target"} minutes`)
        .join("; ")}.`,
      sum(rows.map((r) => r[metric].count)),
    );
  }

  const b = report.breaches;
  draw(
    "chart-breaches",
    {
      type: "line",
      data: {
        labels: b.days.map(shortDay),
        datasets: [
          { label: "First response", data: b.first_response, borderColor: COLORS.amber, backgroundColor: COLORS.amber, tension: 0.25 },
          { label: "Resolution", data: b.resolution, borderColor: COLORS.red, backgroundColor: COLORS.red, tension: 0.25 },
        ],
      },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    },
    `SLA breaches: ${sum(b.first_response)} first response and ${sum(b.resolution)} resolution in ${report.days} days.`,
    sum(b.first_response) + sum(b.resolution),
  );

  const t = report.triage;
  draw(
    "chart-triage",
    {
      type: "doughnut",
      data: {
        labels: ["Accepted", "Corrected", "Not decided"],
        datasets: [{ data: [t.accepted, t.corrected, t.undecided], backgroundColor: [COLORS.green, COLORS.red, COLORS.grey] }],
      },
      options: { plugins: { legend: { position: "right" } } },
    },
    `AI triage of ${t.triaged} tickets: ${t.accepted} accepted, ${t.corrected} corrected, ${t.undecided} not decided.`,
    t.triaged,
  );
  $("#reports-updated").textContent = `Updated ${new Date(report.generated_at).toLocaleTimeString("en")}`;
}

let seq = 0;
async function load() {
  const mine = ++seq;
  const report = await api(`/api/v1/reports/overview${query({ days: daysSelect.value })}`);
  if (mine === seq) render(report);
}
const reload = debounce(() => load().catch(() => {}), 1200);

daysSelect.addEventListener("change", () => load());
load().catch((err) => ($("#reports-updated").textContent = `Could not load the reports: ${err.message}`));
connectLive({ onEvent: reload, onResync: () => reload.now(), onReady: (_i, first) => first || reload() });
