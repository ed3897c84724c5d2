// The events explorer's charts (Chart.js): events per day per type, and a funnel's endpoints per
// step. The same numbers are in the tables beside the canvases, which is what screen readers and
// people without JavaScript read; the canvases stay hidden until a chart is drawn.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  if (typeof window.Chart === "undefined") {
    return;
  }
  const colours = [
    "#1f5fbf", "#2f8f46", "#b06b00", "#7a3fb0", "#b3261e",
    "#00796b", "#5d4037", "#c2185b", "#455a64", "#827717",
  ];
  // Dashes as well as colours, so the lines differ for people who do not tell the colours apart.
  const dashes = [[], [6, 3], [2, 2], [8, 4, 2, 4], [12, 4], [], [6, 3], [2, 2], [8, 4, 2, 4], [12, 4]];

  // No animation for people who asked their system for less motion.
  const animation = window.matchMedia("(prefers-reduced-motion: reduce)").matches ? false : {};

  const read = (id) => {
    const source = document.getElementById(id);
    return source ? JSON.parse(source.textContent) : null;
  };

  const countsCanvas = document.getElementById("counts-chart");
  const counts = read("counts-data");
  if (countsCanvas && counts) {
    new window.Chart(countsCanvas, {
      type: "line",
      data: {
        labels: counts.labels,
        datasets: counts.datasets.map((set, index) => ({
          label: set.label,
          data: set.data,
          borderColor: colours[index % colours.length],
          backgroundColor: colours[index % colours.length],
          borderDash: dashes[index % dashes.length],
          tension: 0.2,
        })),
      },
      options: {
        animation,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
    countsCanvas.hidden = false;
  }

  const funnelCanvas = document.getElementById("funnel-chart");
  const funnel = read("funnel-data");
  if (funnelCanvas && funnel) {
    new window.Chart(funnelCanvas, {
      type: "bar",
      data: {
        labels: funnel.labels,
        datasets: [{ label: "Endpoints", data: funnel.data, backgroundColor: colours[0] }],
      },
      options: {
        animation,
        indexAxis: "y",
        maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
    funnelCanvas.hidden = false;
  }
});
