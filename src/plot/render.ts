// The picture: a time-sequence graph per direction that carries data, in the
// manner of tcptrace and Wireshark (segments as vertical bars from their
// first to their last sequence number, the ACK line, the receive window line,
// retransmissions, out-of-order segments, SACK blocks and zero windows
// marked), then throughput and RTT over the same time axis. Marks are drawn
// as one element each in groups that say how many events they stand for
// (data-events), so a reader, or a test, can check them against the analysis.
import { bars, downsampled, marks, stairs, type Mark } from './draw.js';
import { byteUnit, LinearScale, niceMax, niceStep, tickLabel, ticks } from './scale.js';
import { SegmentKind, type DirectionSeries, type FlowSeries } from './series.js';
import { element, px, text } from './svg.js';

/** "1 byte", "2,000 bytes". */
function counted(n: number, noun: string): string {
  return `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`;
}

const WIDTH = 1200;
const LEFT = 92;
const RIGHT = 28;
const PLOT_WIDTH = WIDTH - LEFT - RIGHT;
const TITLE_HEIGHT = 74;
const SEQUENCE_HEIGHT = 380;
const SMALL_HEIGHT = 150;
/** Room under a panel for its tick labels and axis title, and above it for its own title. */
const PANEL_GAP_BELOW = 44;
const PANEL_GAP_ABOVE = 30;
/** A direction with less than this share of the other's data gets no time-sequence graph. */
const MINOR_DIRECTION_SHARE = 0.05;
/** Throughput bins per plot width: about one per 10 pixels. */
const THROUGHPUT_BINS = 110;

export const COLORS = {
  data: '#1f3b8f',
  retransmission: '#d62728',
  outOfOrder: '#17a2b8',
  ack: '#2ca02c',
  window: '#d4a017',
  sack: '#9b4dca',
  zeroWindow: '#ff6a00',
  directions: ['#1f77b4', '#e6550d'] as const,
  grid: '#e4e4e4',
  axis: '#444',
};

interface Panel {
  top: number;
  height: number;
}

export function renderFlowPlot(flow: FlowSeries): string {
  const parts: string[] = [];
  const duration = flow.duration > 0 ? flow.duration : 1e-3;
  const x = new LinearScale(0, niceMax(duration, 10), LEFT, LEFT + PLOT_WIDTH);
  // The bulk direction first; a direction without data gets no sequence graph.
  // The bulk direction first. The other one gets a graph of its own only
  // when it carries a fair share of the data: a request of a few hundred
  // bytes beside a download would be an empty panel.
  const notes: string[] = [];
  const withData = flow.directions
    .map((d, i) => ({ d, i }))
    .filter(({ d }) => d.segmentTime.length > 0)
    .sort((a, b) => b.d.newBytes - a.d.newBytes);
  const dataDirections = withData.filter(({ d }, rank) => rank === 0 || d.newBytes >= MINOR_DIRECTION_SHARE * withData[0].d.newBytes);
  for (const { d } of withData.slice(dataDirections.length)) {
    notes.push(`${d.label}: ${counted(d.newBytes, 'byte')} of sequence space (SYN and FIN count one each) in ${counted(d.segmentTime.length, 'segment')} (${d.retransmissions} retransmitted), too little beside the other direction for a graph of its own.`);
  }
  const subtitleLines = wrap(flow.subtitle, SUBTITLE_CHARS);
  let top = TITLE_HEIGHT + (subtitleLines.length - 1) * 16 + PANEL_GAP_ABOVE;
  for (const { d, i } of dataDirections) {
    parts.push(sequencePanel(d, i, x, { top, height: SEQUENCE_HEIGHT }, notes));
    top += SEQUENCE_HEIGHT + PANEL_GAP_BELOW + PANEL_GAP_ABOVE;
  }
  if (dataDirections.length === 0) {
    parts.push(text(LEFT, top, 'No data segments in either direction: no time-sequence graph.', { class: 'note' }));
    top += 30;
  }
  parts.push(throughputPanel(flow, x, { top, height: SMALL_HEIGHT }));
  top += SMALL_HEIGHT + PANEL_GAP_BELOW + PANEL_GAP_ABOVE;
  parts.push(rttPanel(flow, x, { top, height: SMALL_HEIGHT }, notes));
  top += SMALL_HEIGHT + PANEL_GAP_BELOW + 12;
  const downsampledAny = notes.some((n) => n.includes('merged') || n.includes('per pixel column'));
  for (const note of notes) {
    for (const line of wrap(note, NOTE_CHARS)) {
      parts.push(text(LEFT, top, line, { class: 'note' }));
      top += 15;
    }
  }
  const height = top + 12;
  const header = [
    text(LEFT, 24, flow.title, { class: 'title' }),
    ...subtitleLines.map((line, i) => text(LEFT, 44 + i * 16, line, { class: 'subtitle' })),
    legend(LEFT, 48 + subtitleLines.length * 16),
  ];
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    element(
      'svg',
      {
        xmlns: 'http://www.w3.org/2000/svg',
        width: WIDTH,
        height,
        viewBox: `0 0 ${WIDTH} ${px(height)}`,
        'data-downsampled': downsampledAny ? 'true' : 'false',
      },
      [element('style', {}, STYLE), element('rect', { x: 0, y: 0, width: WIDTH, height, fill: 'white' }), ...header, ...parts],
    ) +
    '\n'
  );
}

const STYLE = `
text{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;font-size:12px;fill:#222}
.title{font-size:16px;font-weight:bold}
.subtitle{font-size:12px;fill:#555}
.paneltitle{font-size:13px;font-weight:bold}
.note{font-size:11px;fill:#666}
.tick{font-size:11px;fill:#444}
.axistitle{font-size:12px;fill:#333}
.grid{stroke:${COLORS.grid};stroke-width:1}
.frame{fill:none;stroke:${COLORS.axis};stroke-width:1}
.line{fill:none;stroke-width:1.3}
.dots{fill:none;stroke-linecap:round;stroke-width:3.5}
`.trim();

function legend(x0: number, y: number): string {
  const items: [string, string][] = [
    ['data segment', swatchBar(COLORS.data)],
    ['retransmission', swatchBar(COLORS.retransmission, true)],
    ['out-of-order segment', swatchBar(COLORS.outOfOrder, true)],
    ['ACK', swatchLine(COLORS.ack)],
    ['receive window (ACK + window)', swatchLine(COLORS.window)],
    ['SACK block', swatchBar(COLORS.sack)],
    ['zero window', diamond(6, -4, COLORS.zeroWindow)],
  ];
  const out: string[] = [];
  let x = x0;
  for (const [label, swatch] of items) {
    out.push(element('g', { transform: `translate(${px(x)},${px(y)})` }, [swatch, text(16, 0, label)]));
    x += 26 + label.length * 6.6;
  }
  return element('g', { class: 'legend' }, out);
}

function swatchBar(color: string, capped = false): string {
  return element('path', { d: `M6 -11V2${capped ? 'M2 -11h8' : ''}`, stroke: color, 'stroke-width': 2, fill: 'none' });
}

function swatchLine(color: string): string {
  return element('path', { d: 'M0 -4h12', stroke: color, 'stroke-width': 2, fill: 'none' });
}

function diamond(cx: number, cy: number, color: string): string {
  return element('path', { d: `M${px(cx)} ${px(cy - 5)}l5 5l-5 5l-5 -5z`, fill: color, stroke: 'white', 'stroke-width': 0.8 });
}

/** Frame, grid, ticks and axis titles of one panel. */
function axes(panel: Panel, x: LinearScale, y: LinearScale, yTicks: number[], yLabel: (v: number) => string, yTitle: string): string {
  const out: string[] = [];
  const bottom = panel.top + panel.height;
  const xTicks = ticks(x.domainMin, x.domainMax, 10);
  const xStep = xTicks.length > 1 ? xTicks[1] - xTicks[0] : 1;
  for (const t of xTicks) {
    const at = x.at(t);
    out.push(element('line', { x1: at, y1: panel.top, x2: at, y2: bottom, class: 'grid' }));
    out.push(text(at, bottom + 15, tickLabel(t, xStep), { class: 'tick', 'text-anchor': 'middle' }));
  }
  for (const v of yTicks) {
    const at = y.at(v);
    out.push(element('line', { x1: LEFT, y1: at, x2: LEFT + PLOT_WIDTH, y2: at, class: 'grid' }));
    out.push(text(LEFT - 6, at + 4, yLabel(v), { class: 'tick', 'text-anchor': 'end' }));
  }
  out.push(element('rect', { x: LEFT, y: panel.top, width: PLOT_WIDTH, height: panel.height, class: 'frame' }));
  out.push(text(LEFT + PLOT_WIDTH / 2, bottom + 33, 'time since the first packet (s)', { class: 'axistitle', 'text-anchor': 'middle' }));
  const cy = panel.top + panel.height / 2;
  out.push(text(20, cy, yTitle, { class: 'axistitle', 'text-anchor': 'middle', transform: `rotate(-90 20 ${px(cy)})` }));
  return out.join('');
}

function clipRect(id: string, panel: Panel): string {
  return element('clipPath', { id }, element('rect', { x: LEFT, y: panel.top, width: PLOT_WIDTH, height: panel.height }));
}

function markGroup(kind: string, events: number, drawn: readonly string[], downsampledMarks: boolean): string {
  return element('g', { class: `marks ${kind}`, 'data-kind': kind, 'data-events': String(events), 'data-downsampled': downsampledMarks ? 'true' : 'false' }, drawn);
}

function segmentMark(m: Mark, color: string): string {
  // A bar of at least MARK_MIN_PX with a cap at its top, so that a segment a
  // fraction of a pixel tall still shows.
  const top = Math.min(m.y1, m.y2 - MARK_MIN_PX);
  return element('path', { class: 'mark', d: `M${px(m.x)} ${px(m.y2)}V${px(top)}M${px(m.x - 3.5)} ${px(top)}h7`, stroke: color, 'stroke-width': 1.8, fill: 'none' });
}

const MARK_MIN_PX = 7;

function sequencePanel(d: DirectionSeries, index: number, x: LinearScale, panel: Panel, notes: string[]): string {
  const segments = d.segmentTime.length;
  let dataTop = Math.max(d.segmentEnd.max(), d.ackValue.max(), 1);
  let dataBottom = 0;
  for (let i = 0; i < segments; i++) dataBottom = Math.min(dataBottom, d.segmentStart.at(i));
  // The window line can sit far above the data (a large window, a short
  // transfer): it is shown up to 30 % above the data and cut off there.
  const windowTop = d.windowEdge.max();
  dataTop = Math.max(dataTop, Math.min(windowTop, dataTop * 1.3));
  const yMax = niceMax(dataTop, 8);
  const y = new LinearScale(dataBottom, yMax, panel.top + panel.height, panel.top);
  const yTicks = ticks(dataBottom, yMax, 8);
  const step = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1;
  const unit = byteUnit(yMax);
  const clip = `clip${index}`;
  const out: string[] = [clipRect(clip, panel)];
  out.push(text(LEFT, panel.top - 10, `Time-sequence graph: data ${d.label}; ACKs, window and SACKs from the other end`, { class: 'paneltitle' }));
  out.push(axes(panel, x, y, yTicks, (v) => tickLabel(v, step, unit.divisor), `relative sequence number (${unit.unit})`));

  const every = !downsampled(segments);
  const isNew = (i: number) => d.segmentKind.at(i) === SegmentKind.New;
  const newBars = bars(d.segmentTime, d.segmentStart, d.segmentEnd, x, y, isNew, every);
  const xEnd = x.at(x.domainMax);
  const plotted: string[] = [
    element('path', { class: 'line window', d: stairs(d.ackTime, d.windowEdge, x, y, xEnd), stroke: COLORS.window }),
    element('path', { class: 'line ack', d: stairs(d.ackTime, d.ackValue, x, y, xEnd), stroke: COLORS.ack }),
    element('path', { class: 'segments', d: newBars.d, stroke: COLORS.data, 'stroke-width': every ? 1.4 : 1, fill: 'none', 'data-segments': String(segments) }),
  ];
  const sackEvery = !downsampled(d.sackTime.length);
  const sacks = marks(d.sackTime, d.sackLeft, d.sackRight, x, y, sackEvery).map((m) =>
    element('path', { class: 'mark', d: `M${px(m.x + 1.5)} ${px(m.y2)}V${px(m.y1)}`, stroke: COLORS.sack, 'stroke-width': 1.6 }),
  );
  plotted.push(markGroup('sack', d.sackTime.length, sacks, !sackEvery));
  for (const [kind, segmentKind, color] of [
    ['retransmission', SegmentKind.Retransmission, COLORS.retransmission],
    ['out-of-order', SegmentKind.OutOfOrder, COLORS.outOfOrder],
  ] as const) {
    const events = countKind(d, segmentKind);
    const drawn = marks(d.segmentTime, d.segmentStart, d.segmentEnd, x, y, every, (i) => d.segmentKind.at(i) === segmentKind).map((m) => segmentMark(m, color));
    plotted.push(markGroup(kind, events, drawn, !every));
  }
  const zeroEvery = !downsampled(d.zeroWindowTime.length);
  const zeros = marks(d.zeroWindowTime, d.zeroWindowAck, d.zeroWindowAck, x, y, zeroEvery).map((m) => element('g', { class: 'mark' }, diamond(m.x, m.y1, COLORS.zeroWindow)));
  plotted.push(markGroup('zero-window', d.zeroWindowTime.length, zeros, !zeroEvery));
  out.push(element('g', { 'clip-path': `url(#${clip})`, class: 'sequence', 'data-direction': String(index) }, plotted));

  if (!every) notes.push(`${d.label}: ${segments.toLocaleString('en-US')} segments drawn as one bar per pixel column (the sequence range sent in it); ${downsampledWord(d)}.`);
  else if (!sackEvery || !zeroEvery) notes.push(`${d.label}: ${downsampledWord(d)}.`);
  return out.join('');
}

function downsampledWord(d: DirectionSeries): string {
  return `marks of one pixel column merged where they overlap (${d.sackTime.length.toLocaleString('en-US')} SACK blocks, ${d.retransmissions.toLocaleString('en-US')} retransmissions, ${d.zeroWindowTime.length.toLocaleString('en-US')} zero windows)`;
}

function countKind(d: DirectionSeries, kind: SegmentKind): number {
  let n = 0;
  for (let i = 0; i < d.segmentKind.length; i++) if (d.segmentKind.at(i) === kind) n++;
  return n;
}

function throughputPanel(flow: FlowSeries, x: LinearScale, panel: Panel): string {
  const bin = niceStep(x.domainMax, THROUGHPUT_BINS);
  const binCount = Math.max(1, Math.ceil(x.domainMax / bin));
  const rates = flow.directions.map((d) => {
    const bytes = new Float64Array(binCount);
    for (let i = 0; i < d.segmentTime.length; i++) {
      if (d.segmentKind.at(i) === SegmentKind.Retransmission) continue;
      bytes[Math.min(binCount - 1, Math.floor(d.segmentTime.at(i) / bin))] += d.segmentEnd.at(i) - d.segmentStart.at(i);
    }
    return Array.from(bytes, (b) => (b * 8) / bin / 1e6);
  });
  const yMax = niceMax(Math.max(...rates.flat(), 1e-3), 4);
  const y = new LinearScale(0, yMax, panel.top + panel.height, panel.top);
  const yTicks = ticks(0, yMax, 4);
  const step = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1;
  const out: string[] = [];
  out.push(text(LEFT, panel.top - 10, `Throughput: new data sent per ${formatSeconds(bin)} (retransmissions not counted)`, { class: 'paneltitle' }));
  out.push(axes(panel, x, y, yTicks, (v) => tickLabel(v, step), 'Mbit/s'));
  flow.directions.forEach((d, i) => {
    if (d.segmentTime.length === 0) return;
    let path = `M${px(x.at(0))} ${px(y.at(rates[i][0]))}`;
    for (let b = 0; b < binCount; b++) path += `H${px(x.at(b * bin))}V${px(y.at(rates[i][b]))}`;
    path += `H${px(x.at(binCount * bin))}`;
    out.push(element('path', { class: 'line throughput', d: path, stroke: COLORS.directions[i], 'stroke-width': 1.6 }));
  });
  out.push(directionLegend(flow, panel));
  return out.join('');
}

function rttPanel(flow: FlowSeries, x: LinearScale, panel: Panel, notes: string[]): string {
  const yMax = niceMax(Math.max(flow.directions[0].rttMs.max(), flow.directions[1].rttMs.max(), 1e-3), 4);
  const y = new LinearScale(0, yMax, panel.top + panel.height, panel.top);
  const yTicks = ticks(0, yMax, 4);
  const step = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1;
  const out: string[] = [];
  out.push(text(LEFT, panel.top - 10, 'RTT samples of the data sent each way (timestamp echoes and data/ACK pairs), from the capture point to the receiver and back', { class: 'paneltitle' }));
  out.push(axes(panel, x, y, yTicks, (v) => tickLabel(v, step), 'RTT (ms)'));
  flow.directions.forEach((d, i) => {
    const samples = d.rttTime.length;
    if (samples === 0) return;
    const every = !downsampled(samples);
    const dots = bars(d.rttTime, d.rttMs, d.rttMs, x, y, () => true, every, 0);
    // A zero-length line with round caps is a dot.
    const dotted = every ? dots.d.replace(/V[^M]*/g, 'h0.01') : dots.d;
    out.push(element('path', { class: 'dots rtt', d: dotted, stroke: COLORS.directions[i], 'data-direction': String(i), 'data-samples': String(samples) }));
    if (!every) notes.push(`RTT ${d.label}: ${samples.toLocaleString('en-US')} samples drawn as one bar per pixel column (lowest to highest sample in it).`);
  });
  if (flow.directions.every((d) => d.rttTime.length === 0)) out.push(text(LEFT + 10, panel.top + 20, 'no RTT samples', { class: 'note' }));
  out.push(directionLegend(flow, panel));
  return out.join('');
}

/** The directions' colours, in a box at the top right inside the panel. */
function directionLegend(flow: FlowSeries, panel: Panel): string {
  const width = Math.max(...flow.directions.map((d) => d.label.length)) * 6.2 + 34;
  const left = LEFT + PLOT_WIDTH - width - 6;
  const out: string[] = [element('rect', { x: left, y: panel.top + 5, width, height: 36, fill: 'white', 'fill-opacity': 0.85, stroke: COLORS.grid })];
  flow.directions.forEach((d, i) => {
    const y = panel.top + 20 + i * 15;
    out.push(element('path', { d: `M${px(left + 6)} ${px(y - 4)}h16`, stroke: COLORS.directions[i], 'stroke-width': 3 }));
    out.push(text(left + 28, y, d.label, { class: 'tick' }));
  });
  return element('g', { class: 'legend' }, out);
}

/** Characters of the 12 px subtitle that fit the plot's width. */
const SUBTITLE_CHARS = 150;
/** Characters of an 11 px note that fit the plot's width. */
const NOTE_CHARS = 170;

/** Breaks text at spaces into lines of at most `width` characters (a longer word stands alone). */
export function wrap(line: string, width: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of line.split(' ')) {
    if (current !== '' && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else current = current === '' ? word : `${current} ${word}`;
  }
  if (current !== '') lines.push(current);
  return lines;
}

function formatSeconds(s: number): string {
  return s >= 1 ? `${s} s` : `${+(s * 1000).toPrecision(3)} ms`;
}

