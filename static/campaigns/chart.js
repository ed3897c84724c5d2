// A campaign's daily results as a line chart (Chart.js). The same numbers are in the table below
// the canvas, which is what screen readers and people without JavaScript read.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const canvas = document.getElementById("results-chart");
  const source = document.getElementById("results-data");
  if (!canvas || !source || typeof window.Chart === "undefined") {
    return;
  }
  const data = JSON.parse(source.textContent);
  const colours = {
    sent: "#1f5fbf",
    delivered: "#2f8f46",
    opened: "#b06b00",
    clicked: "#7a3fb0",
    opted_out: "#b3261e",
  };
  const dashes = { sent: [], delivered: [6, 3], opened: [], clicked: [2, 2], opted_out: [8, 4, 2, 4] };
  new window.Chart(canvas, {
    type: "line",
    data: {
      labels: data.labels,
      datasets: data.datasets.map((set) => ({
        label: set.label,
        data: set.data,
        borderColor: colours[set.key],
        backgroundColor: colours[set.key],
        borderDash: dashes[set.key],
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
