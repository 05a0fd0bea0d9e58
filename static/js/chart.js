// A small stacked bar chart drawn as inline SVG. Colours come from CSS
// classes c0…c8 (ADS chart tokens), so the chart follows the colour mode.
const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, ...kids) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
  for (const kid of kids) n.append(kid);
  return n;
}

/** ticks picks a round step so the axis has at most five lines. */
function ticks(max) {
  const steps = [0.5, 1, 2, 3, 4, 6, 8, 12, 24, 48, 96, 168];
  const step = steps.find((x) => max / x <= 5) || Math.ceil(max / 5);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const out = [];
  for (let v = 0; v <= top + 1e-9; v += step) out.push(v);
  return out;
}

/**
 * stackedBars draws one bar per label, stacking the series' values.
 * series: [{name, values, cls?}] in the order of the legend (cls: a
 * colour class of its own instead of c0…c8); unit names the
 * values; label(name, value, day) words a bar's tooltip.
 */
export function stackedBars({ labels, series, title, unit = 'h', width = 640, label: say = (name, v, day) => `${name}: ${v} ${unit} on ${day}` }) {
  const W = Math.max(320, Math.round(width)), H = 240, L = 40, R = 8, T = 10, B = 34;
  const totals = labels.map((_, i) => series.reduce((a, x) => a + x.values[i], 0));
  const axis = ticks(Math.max(...totals, 0.01));
  const top = axis[axis.length - 1];
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const band = (W - L - R) / Math.max(labels.length, 1);
  const bar = Math.max(2, band * 0.7);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, preserveAspectRatio: 'xMidYMid meet' });
  for (const v of axis) {
    svg.append(s('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, v + unit));
  }
  const every = Math.ceil(labels.length / Math.max(2, Math.floor(W / 70)));
  labels.forEach((label, i) => {
    const x = L + band * i + (band - bar) / 2;
    let base = 0;
    series.forEach((ser, k) => {
      const v = ser.values[i];
      if (v <= 0) return;
      svg.append(s('rect', { class: ser.cls || 'c' + (k % 9), x, width: bar, y: y(base + v), height: Math.max(0.5, y(base) - y(base + v)) },
        s('title', {}, say(ser.name, v.toFixed(1), label))));
      base += v;
    });
    if (i % every === 0) svg.append(s('text', { x: x + bar / 2, y: H - B + 16, 'text-anchor': 'middle' }, label));
  });
  return svg;
}
