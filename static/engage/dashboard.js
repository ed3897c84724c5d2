// The project dashboard's charts (Chart.js). Each <canvas data-chart="name"> draws the entry `name`
// of the JSON in #dashboard-charts. The same numbers are in the tables below the charts, which is
// what screen readers and people without JavaScript read; a canvas stays hidden without Chart.js.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("dashboard-charts");
  if (!source || typeof window.Chart === "undefined") {
    return;
  }
  const charts = JSON.parse(source.textContent);
  // Distinct colours and dash patterns, so lines can be told apart without colour vision.
  const colours = ["#1f5fbf", "#2f8f46", "#b06b00", "#7a3fb0", "#0e7c86", "#b3261e"];
  const dashes = [[], [6, 3], [2, 2], [8, 4, 2, 4], [12, 4], [4, 4]];
  document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    const chart = charts[canvas.dataset.chart];
    if (!chart) {
      return;
    }
    const line = chart.type === "line";
    new window.Chart(canvas, {
      type: chart.type,
      data: {
        labels: chart.labels,
        datasets: chart.datasets.map((set, i) => ({
          label: set.label,
          data: set.data,
          borderColor: colours[i % colours.length],
          backgroundColor: colours[i % colours.length],
          borderDash: line ? dashes[i % dashes.length] : undefined,
          pointRadius: line && chart.labels.length > 45 ? 0 : 3,
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
  });
});
