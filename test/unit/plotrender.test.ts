// The plot's SVG from made-up series: well-formed (parsed by a real XML
// parser), one mark per event while a flow is small, and bounded in size,
// with every event still counted, once a series is downsampled.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DRAW_EVERY_BELOW } from '../../src/plot/draw.js';
import { renderFlowPlot } from '../../src/plot/render.js';
import { DirectionSeries, SegmentKind, type FlowSeries } from '../../src/plot/series.js';
import { readSvg, type SvgReport } from '../helpers/svgmarks.js';

const work = mkdtempSync(join(tmpdir(), 'ph-plotrender-'));
after(() => rmSync(work, { recursive: true, force: true }));

const MSS = 1448;

interface Made {
  flow: FlowSeries;
  retransmissions: number;
  outOfOrder: number;
  sacks: number;
  zeroWindows: number;
  rtts: number;
}

/** A download of `segments` segments from the server, every `retransmitEvery`-th one sent again. */
function download(segments: number, retransmitEvery: number, title = 'made-up.pcap.gz'): Made {
  const c2s = new DirectionSeries('client 10.0.0.2:40000 → server 10.0.0.1:80');
  const s2c = new DirectionSeries('server 10.0.0.1:80 → client 10.0.0.2:40000');
  c2s.addSegment(0.001, -1, 0, SegmentKind.New);
  c2s.addSegment(0.021, 0, 120, SegmentKind.New);
  const made = { retransmissions: 0, outOfOrder: 0, sacks: 0, zeroWindows: 0, rtts: 0 };
  let t = 0.02;
  let seq = 0;
  for (let i = 0; i < segments; i++) {
    t += 1e-4;
    if (i > 0 && i % retransmitEvery === 0) {
      s2c.addSegment(t, seq - 10 * MSS, seq - 9 * MSS, SegmentKind.Retransmission);
      s2c.addSack(t + 0.02, seq - 8 * MSS, seq);
      made.retransmissions++;
      made.sacks++;
    } else if (i % 997 === 500) {
      s2c.addSegment(t, seq - 2 * MSS, seq - MSS, SegmentKind.OutOfOrder);
      made.outOfOrder++;
    } else {
      s2c.addSegment(t, seq, seq + MSS, SegmentKind.New);
      seq += MSS;
    }
    if (i % 2 === 1) {
      const ack = Math.max(0, seq - 20 * MSS);
      const window = i % 1999 === 1 ? 0 : 256 * MSS;
      s2c.addAck(t + 0.02, ack, ack + window);
      if (window === 0) {
        s2c.addZeroWindow(t + 0.02, ack);
        made.zeroWindows++;
      }
      s2c.addRtt(t + 0.02, 20 + (i % 7));
      made.rtts++;
    }
  }
  const flow: FlowSeries = { title, subtitle: 'made up', duration: t + 0.03, packets: segments * 1.5, directions: [c2s, s2c] };
  return { flow, ...made };
}

function render(name: string, flow: FlowSeries): { report: SvgReport; bytes: number } {
  const file = join(work, `${name}.svg`);
  const svg = renderFlowPlot(flow);
  writeFileSync(file, svg);
  return { report: readSvg(file), bytes: Buffer.byteLength(svg) };
}

test('a small flow: well-formed SVG, one graph for the data direction, one mark per event', () => {
  const made = download(1200, 97);
  const { report } = render('small', made.flow);
  assert.equal(report.root, '{http://www.w3.org/2000/svg}svg');
  assert.equal(report.downsampled, false);
  assert.equal(report.graphs.length, 1, 'the 120-byte request gets no graph of its own');
  const graph = report.graphs[0];
  assert.equal(graph.direction, 1);
  assert.equal(graph.segments, 1200);
  assert.equal(graph.segmentBars, 1200 - made.retransmissions - made.outOfOrder, 'a bar per new segment');
  const expected: Record<string, number> = { retransmission: made.retransmissions, 'out-of-order': made.outOfOrder, sack: made.sacks, 'zero-window': made.zeroWindows };
  for (const [kind, events] of Object.entries(expected)) {
    assert.ok(events > 0, `${kind}: the made-up flow has some`);
    assert.deepEqual(graph.marks[kind], { kind, events, drawn: events, downsampled: false }, kind);
  }
  assert.deepEqual(report.rttSamples, { 1: made.rtts });
  assert.ok(report.texts.join(' ').includes('too little beside the other direction'), 'the request direction is named in a note');
  for (const title of ['relative sequence number (MB)', 'Mbit/s', 'RTT (ms)', 'time since the first packet (s)']) assert.ok(report.texts.includes(title), title);
});

test('text is escaped: a title with markup characters stays well-formed', () => {
  const made = download(50, 1000, 'a<b>&"c\'.pcap.gz');
  const { report } = render('escaped', made.flow);
  assert.ok(report.texts.includes('a<b>&"c\'.pcap.gz'));
});

test('a flow of a million segments is downsampled to a bounded SVG that still counts every event', () => {
  const made = download(1_000_000, 211);
  const { report, bytes } = render('large', made.flow);
  assert.equal(report.downsampled, true);
  assert.ok(bytes < 1_500_000, `${bytes} bytes`);
  const graph = report.graphs[0];
  assert.equal(graph.segments, 1_000_000);
  assert.ok(graph.segmentBars <= 1200, `${graph.segmentBars} bars: at most one per pixel column`);
  const retransmissions = graph.marks.retransmission;
  assert.equal(retransmissions.events, made.retransmissions);
  assert.equal(retransmissions.downsampled, true);
  assert.ok(retransmissions.drawn > 0 && retransmissions.drawn < made.retransmissions, `${retransmissions.drawn} marks for ${made.retransmissions}`);
  assert.equal(graph.marks.sack.events, made.sacks);
  assert.ok(report.texts.join(' ').includes('1,000,000 segments drawn as one bar per pixel column'), 'the note says how');
});

test(`up to ${DRAW_EVERY_BELOW} segments every one is drawn; one more and the graph is downsampled`, () => {
  const atLimit = download(DRAW_EVERY_BELOW, 1e9);
  const at = render('at', atLimit.flow).report;
  const over = render('over', download(DRAW_EVERY_BELOW + 1, 1e9).flow).report;
  assert.equal(at.graphs[0].segmentBars, DRAW_EVERY_BELOW - atLimit.outOfOrder);
  assert.equal(at.downsampled, false);
  assert.equal(over.downsampled, true);
});

test('a flow without data draws no time-sequence graph and says so', () => {
  const empty: FlowSeries = { title: 't', subtitle: 's', duration: 0, packets: 2, directions: [new DirectionSeries('a → b'), new DirectionSeries('b → a')] };
  const { report } = render('empty', empty);
  assert.equal(report.graphs.length, 0);
  assert.ok(report.texts.some((t) => t.startsWith('No data segments')));
});
