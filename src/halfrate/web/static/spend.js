// The spend page's charts, drawn with Chart.js from the figures the page carries as JSON (the
// tables under each chart hold the same figures, exact). No inline script: the page's
// Content-Security-Policy allows scripts from this site only.
(function () {
  "use strict";
  var COLORS = {
    batch: "#2f6f4f", realtime: "#b5542a", flex: "#4a6fa5", cache: "#8a7a2e",
    spend: "#b5542a", saved: "#2f6f4f"
  };
  var SPARE = ["#6b5b95", "#3b8686", "#a0522d", "#556b2f", "#8b4513"];

  function color(label, index) {
    return COLORS[label] || SPARE[index % SPARE.length];
  }

  function dollars(value) {
    return "$" + Number(value).toLocaleString(undefined, { maximumFractionDigits: 4 });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var island = document.getElementById("spend-data");
    if (!island || !window.Chart) return;
    var data = JSON.parse(island.textContent);
    var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var chart = data[canvas.getAttribute("data-chart")];
      if (!chart) return;
      new window.Chart(canvas, {
        type: "bar",
        data: {
          labels: chart.labels,
          datasets: chart.datasets.map(function (set, index) {
            return { label: set.label, data: set.data, backgroundColor: color(set.label, index) };
          })
        },
        options: {
          animation: still ? false : { duration: 300 },
          maintainAspectRatio: false,
          responsive: true,
          scales: {
            x: { stacked: chart.stacked },
            y: { stacked: chart.stacked, beginAtZero: true, ticks: { callback: dollars } }
          },
          plugins: {
            tooltip: { callbacks: { label: function (item) {
              return item.dataset.label + ": " + dollars(item.raw);
            } } }
          }
        }
      });
    });
  });
})();
