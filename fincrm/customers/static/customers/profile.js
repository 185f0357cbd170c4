// The customer 360: the AUM chart (ECharts), drawn from a json_script data block.
// Loaded as a file: the CSP allows no inline script and no eval.
(function () {
  "use strict";

  function readJson(id) {
    var element = id ? document.getElementById(id) : null;
    if (!element) {
      return null;
    }
    try {
      return JSON.parse(element.textContent);
    } catch (error) {
      return null;
    }
  }

  // The bar colours come from the stylesheet (.fincrm-legend-<class>), so legend and chart agree.
  function colourOf(code) {
    var probe = document.createElement("span");
    probe.className = "fincrm-legend fincrm-legend-" + code;
    document.body.appendChild(probe);
    var colour = window.getComputedStyle(probe).backgroundColor;
    document.body.removeChild(probe);
    return colour;
  }

  function language() {
    return document.documentElement.getAttribute("lang") || undefined;
  }

  function formatter(options) {
    try {
      return new Intl.NumberFormat(language(), options);
    } catch (error) {
      return new Intl.NumberFormat(undefined, options);
    }
  }

  function drawAum(element) {
    var data = readJson(element.getAttribute("data-source"));
    if (!data || !window.echarts || !data.months.length) {
      return;
    }
    var money = formatter({ minimumFractionDigits: 2, maximumFractionDigits: 2 });
    var compact = formatter({ notation: "compact", maximumFractionDigits: 1 });
    var chart = window.echarts.init(element, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      color: data.series.map(function (series) { return colourOf(series.code); }),
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        valueFormatter: function (value) { return money.format(value) + " " + data.currency; }
      },
      // The mix table beside the chart is its legend (same colours), so the chart keeps its width.
      legend: { show: false },
      grid: { left: 8, right: 8, top: 12, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: data.months, axisTick: { alignWithLabel: true } },
      yAxis: {
        type: "value",
        axisLabel: { formatter: function (value) { return compact.format(value); } },
        splitLine: { lineStyle: { type: "dashed" } }
      },
      series: data.series.map(function (series) {
        return {
          name: series.name,
          type: "bar",
          stack: "aum",
          barMaxWidth: 32,
          emphasis: { focus: "series" },
          data: series.data.map(Number)
        };
      })
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function start() {
    var charts = document.querySelectorAll('[data-chart="aum"]');
    for (var index = 0; index < charts.length; index += 1) {
      drawAum(charts[index]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
