// A time-series chart of a pipe's numeric fields, drawn by uPlot (vendored; the global
// `uPlot`). uPlot styles its elements through the CSSOM, which the CSP allows.

import { el } from './ui.js';

const COLORS = ['#1f5fbf', '#b42318', '#17663a', '#a15c00', '#6941c6', '#0e7490', '#be185d'];
const HEIGHT = 280;

let chart = null;
let resizeBound = false;

/** The fields whose every non-null value is a number (and that have at least one). */
export function numericFields(rows) {
  const seen = new Map(); // field -> still numeric?
  for (const row of rows) {
    for (const [key, value] of Object.entries(row)) {
      if (key === 'timestamp' || value === null) continue;
      const numeric = typeof value === 'number' && Number.isFinite(value);
      seen.set(key, (seen.has(key) ? seen.get(key) : true) && numeric);
    }
  }
  return [...seen].filter(([, numeric]) => numeric).map(([key]) => key);
}

export function clearChart(box) {
  if (chart) {
    chart.destroy();
    chart = null;
  }
  box.replaceChildren();
  for (const name of ['xMin', 'xMax', 'yMin', 'yMax', 'series', 'points']) delete box.dataset[name];
}

/**
 * Draw `fields` of `rows` (time order) into `box`. After each draw the box's data-x-min,
 * data-x-max (seconds), data-y-min, data-y-max, data-series and data-points say what uPlot
 * drew, read from its scales and data: what a test or a curious person can check.
 */
export function drawChart(box, rows, fields) {
  clearChart(box);
  if (typeof uPlot !== 'function') {
    box.append(el('p', { className: 'error' }, 'The chart library did not load.'));
    return;
  }
  const xs = rows.map((row) => new Date(row.timestamp).getTime() / 1000);
  const data = [xs, ...fields.map((field) => rows.map((row) => {
    const value = row[field];
    return typeof value === 'number' ? value : null;
  }))];
  const opts = {
    width: Math.max(240, box.clientWidth || 600),
    height: HEIGHT,
    scales: { x: { time: true } },
    series: [{}, ...fields.map((field, i) => ({
      label: field, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: false,
      points: { show: rows.length <= 200 },
    }))],
    hooks: {
      draw: [(u) => {
        const { x, y } = u.scales;
        Object.assign(box.dataset, {
          xMin: String(x.min), xMax: String(x.max), yMin: String(y.min), yMax: String(y.max),
          series: JSON.stringify(u.series.slice(1).map((s) => s.label)),
          points: String(u.data[0].length),
        });
      }],
    },
  };
  // eslint-disable-next-line new-cap, no-undef
  chart = new uPlot(opts, data, box);
  if (!resizeBound) {
    resizeBound = true;
    window.addEventListener('resize', () => {
      if (chart) chart.setSize({ width: Math.max(240, box.clientWidth), height: HEIGHT });
    });
  }
}
