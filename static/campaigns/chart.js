// Charts of the campaign and journey pages (Chart.js). Each <canvas data-chart="ID"> is drawn from
// the JSON in the element ID ({labels, datasets: [{key, label, data}]}), as a line chart or, with
// data-chart-type="bar", a bar chart. The same numbers are in the table beside each canvas, which
// is what screen readers and people without JavaScript read.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  if (typeof window.Chart === "undefined") {
    return;
  }
  const colours = {
    entered: "#4a5568",
    sent: "#1f5fbf",
    delivered: "#2f8f46",
    opens: "#b06b00",
    clicks: "#7a3fb0",
    opt_outs: "#b3261e",
  };
  const dashes = { sent: [], delivered: [6, 3], opens: [], clicks: [2, 2], opt_outs: [8, 4, 2, 4] };
  for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
    const source = document.getElementById(canvas.dataset.chart);
    if (!source) {
      continue;
    }
    const data = JSON.parse(source.textContent);
    const bar = canvas.dataset.chartType === "bar";
    new window.Chart(canvas, {
      type: bar ? "bar" : "line",
      data: {
        labels: data.labels,
        datasets: data.datasets.map((set) => ({
          label: set.label,
          data: set.data,
          borderColor: colours[set.key] || "#1f5fbf",
          backgroundColor: colours[set.key] || "#1f5fbf",
          borderDash: bar ? [] : dashes[set.key] || [],
          tension: 0.2,
        })),
      },
      options: {
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
    canvas.hidden = false;
  }
});
