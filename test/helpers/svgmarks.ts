// Reads a plot's SVG with a real XML parser (python's ElementTree, so the
// test does not trust our own writer to check our own writer) and reports
// what it draws: per sequence graph, its mark groups and how many marks each
// holds. Parsing fails, and so does the test, when the SVG is not
// well-formed XML.
import { execFileSync } from 'node:child_process';

export interface MarkGroup {
  kind: string;
  /** data-events: how many events of the analysis the group stands for. */
  events: number;
  /** Mark elements drawn. */
  drawn: number;
  downsampled: boolean;
}

export interface SequenceGraph {
  direction: number;
  /** data-segments of the segment path. */
  segments: number;
  /** Subpaths (M commands) of the segment path: bars drawn for new data. */
  segmentBars: number;
  marks: Record<string, MarkGroup>;
}

export interface SvgReport {
  root: string;
  width: number;
  height: number;
  downsampled: boolean;
  graphs: SequenceGraph[];
  /** Samples (data-samples) of each direction's RTT series, by direction ('0', '1'). */
  rttSamples: Record<string, number>;
  texts: string[];
}

const READER = `
import json, sys, xml.etree.ElementTree as ET
ns = '{http://www.w3.org/2000/svg}'
root = ET.parse(sys.argv[1]).getroot()
graphs = []
for g in root.iter(ns + 'g'):
    if 'sequence' not in g.get('class', '').split():
        continue
    graph = {'direction': int(g.get('data-direction')), 'segments': 0, 'segmentBars': 0, 'marks': {}}
    for child in g:
        cls = child.get('class', '').split()
        if child.tag == ns + 'path' and 'segments' in cls:
            graph['segments'] = int(child.get('data-segments'))
            graph['segmentBars'] = child.get('d', '').count('M')
        if child.tag == ns + 'g' and 'marks' in cls:
            drawn = sum(1 for m in child if 'mark' in m.get('class', '').split())
            graph['marks'][child.get('data-kind')] = {'kind': child.get('data-kind'), 'events': int(child.get('data-events')), 'drawn': drawn, 'downsampled': child.get('data-downsampled') == 'true'}
    graphs.append(graph)
rtt = {p.get('data-direction'): int(p.get('data-samples')) for p in root.iter(ns + 'path') if 'rtt' in p.get('class', '').split()}
texts = [''.join(t.itertext()) for t in root.iter(ns + 'text')]
print(json.dumps({'root': root.tag, 'width': float(root.get('width')), 'height': float(root.get('height')), 'downsampled': root.get('data-downsampled') == 'true', 'graphs': graphs, 'rttSamples': rtt, 'texts': texts}))
`;

export function readSvg(file: string): SvgReport {
  return JSON.parse(execFileSync('python3', ['-c', READER, file], { encoding: 'utf8' })) as SvgReport;
}
