// Series to SVG path data in a plot's pixel space. Below DRAW_EVERY_BELOW
// points a series is drawn point by point; above it, by pixel column: what
// falls into one column of pixels is drawn as the vertical span it covers
// (lines, segments), or as its intervals merged where they overlap on
// screen (SACK blocks), since a screen cannot show more in one column.
import type { LinearScale } from './scale.js';
import { PathData } from './svg.js';
import type { Column } from './series.js';

const MIN_BAR_PX = 2;

/** Points per series up to which every point is drawn as itself. */
export const DRAW_EVERY_BELOW = 4000;

export function downsampled(points: number): boolean {
  return points > DRAW_EVERY_BELOW;
}

/**
 * Indices of `times` grouped by pixel column: calls `each(first, end, x)`
 * for each run of consecutive points in one column (times in capture order,
 * so a run is a column's points unless the capture went back in time).
 */
export function byColumn(times: Column, x: LinearScale, each: (first: number, end: number, x: number) => void, filter?: (i: number) => boolean): void {
  let first = -1;
  let column = NaN;
  const flush = (end: number) => {
    if (first >= 0) each(first, end, column);
  };
  for (let i = 0; i < times.length; i++) {
    if (filter !== undefined && !filter(i)) continue;
    const c = Math.floor(x.at(times.at(i)));
    if (c !== column) {
      flush(i);
      first = i;
      column = c;
    }
  }
  flush(times.length);
}

/**
 * A step line: the value holds until the next point's time, then steps
 * (an ACK number stays until the next ACK), continued to `xEnd`.
 */
export function stairs(times: Column, values: Column, x: LinearScale, y: LinearScale, xEnd: number): string {
  const path = new PathData();
  if (times.length === 0) return '';
  if (!downsampled(times.length)) {
    path.moveTo(x.at(times.at(0)), y.at(values.at(0)));
    for (let i = 1; i < times.length; i++) path.horizontal(x.at(times.at(i))).vertical(y.at(values.at(i)));
  } else {
    let started = false;
    byColumn(times, x, (first, end, column) => {
      let min = Infinity;
      let max = -Infinity;
      for (let i = first; i < end; i++) {
        const v = values.at(i);
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const firstY = y.at(values.at(first));
      if (!started) path.moveTo(column, firstY);
      else path.horizontal(column).vertical(firstY);
      started = true;
      path.vertical(y.at(min)).vertical(y.at(max)).vertical(y.at(values.at(end - 1)));
    });
  }
  path.horizontal(xEnd);
  return path.toString();
}

/**
 * Vertical bars from `low` to `high` at each time (data segments, RTT dots
 * when low = high), for the points `filter` accepts; downsampled, one bar per
 * pixel column spanning the column's lowest and highest value. Returns the
 * path data and the number of bars.
 */
export function bars(times: Column, low: Column, high: Column, x: LinearScale, y: LinearScale, filter: (i: number) => boolean, everyPoint: boolean, minPx = MIN_BAR_PX): { d: string; drawn: number } {
  const path = new PathData();
  let drawn = 0;
  if (everyPoint) {
    for (let i = 0; i < times.length; i++) {
      if (!filter(i)) continue;
      const y1 = y.at(low.at(i));
      // Bars are at least MIN_BAR_PX tall: a full-sized segment of a long transfer is a fraction of a pixel.
      path.moveTo(x.at(times.at(i)), y1).vertical(Math.min(y.at(high.at(i)), y1 - minPx));
      drawn++;
    }
  } else {
    byColumn(
      times,
      x,
      (first, end, column) => {
        let min = Infinity;
        let max = -Infinity;
        for (let i = first; i < end; i++) {
          if (!filter(i)) continue;
          if (low.at(i) < min) min = low.at(i);
          if (high.at(i) > max) max = high.at(i);
        }
        path.moveTo(column + 0.5, y.at(min)).vertical(Math.min(y.at(max), y.at(min) - minPx));
        drawn++;
      },
      filter,
    );
  }
  return { d: path.toString(), drawn };
}

/** One mark's position: where it is drawn, and its vertical extent in pixels. */
export interface Mark {
  x: number;
  y1: number;
  y2: number;
}

/**
 * The marks of an event series (retransmissions, SACK blocks, zero windows):
 * one per event when there are few; downsampled, the events of one pixel
 * column merged where their extents overlap on screen (within a pixel).
 */
export function marks(times: Column, low: Column, high: Column, x: LinearScale, y: LinearScale, everyPoint: boolean, filter: (i: number) => boolean = () => true): Mark[] {
  const result: Mark[] = [];
  const mark = (i: number, at: number): Mark => {
    const a = y.at(low.at(i));
    const b = y.at(high.at(i));
    return { x: at, y1: Math.min(a, b), y2: Math.max(a, b) };
  };
  if (everyPoint) {
    for (let i = 0; i < times.length; i++) if (filter(i)) result.push(mark(i, x.at(times.at(i))));
    return result;
  }
  byColumn(
    times,
    x,
    (first, end, column) => {
      const spans: Mark[] = [];
      for (let i = first; i < end; i++) if (filter(i)) spans.push(mark(i, column + 0.5));
      spans.sort((p, q) => p.y1 - q.y1);
      let current: Mark | null = null;
      for (const span of spans) {
        if (current !== null && span.y1 <= current.y2 + 1) current.y2 = Math.max(current.y2, span.y2);
        else {
          if (current !== null) result.push(current);
          current = { ...span };
        }
      }
      if (current !== null) result.push(current);
    },
    filter,
  );
  return result;
}

