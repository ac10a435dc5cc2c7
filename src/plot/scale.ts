// Linear scales and axis ticks at round numbers (1, 2, 5 × 10^n), with
// values printed in the unit a reader expects (s or ms, B, kB, MB, GB).

export class LinearScale {
  constructor(
    readonly domainMin: number,
    readonly domainMax: number,
    readonly rangeFrom: number,
    readonly rangeTo: number,
  ) {}

  at(value: number): number {
    const span = this.domainMax - this.domainMin;
    const f = span === 0 ? 0 : (value - this.domainMin) / span;
    return this.rangeFrom + f * (this.rangeTo - this.rangeFrom);
  }
}

/** A round step that cuts [0, span] into about `count` parts. */
export function niceStep(span: number, count: number): number {
  if (!(span > 0)) return 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
}

/** A round upper bound at or above `max`, so the axis ends on a tick. */
export function niceMax(max: number, count: number): number {
  if (!(max > 0)) return 1;
  const step = niceStep(max, count);
  return Math.ceil(max / step - 1e-9) * step;
}

export function ticks(min: number, max: number, count: number): number[] {
  const step = niceStep(max - min, count);
  const result: number[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) {
    result.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    if (result.length > 1000) break;
  }
  return result;
}

/** Enough decimals to tell neighbouring ticks apart, no more. */
function decimalsFor(step: number): number {
  return Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
}

/** Byte counts in powers of 1000, the unit picked once for the whole axis. */
export function byteUnit(max: number): { divisor: number; unit: string } {
  if (max >= 1e9) return { divisor: 1e9, unit: 'GB' };
  if (max >= 1e6) return { divisor: 1e6, unit: 'MB' };
  if (max >= 1e3) return { divisor: 1e3, unit: 'kB' };
  return { divisor: 1, unit: 'B' };
}

export function tickLabel(value: number, step: number, divisor = 1): string {
  return (value / divisor).toFixed(decimalsFor(step / divisor));
}
