// Which -read file each record of a merged batch came from. The addon marks
// runs of records from one file (pairs: index of the run's first record, file
// index); offline naming asks for the file of a flow's first packet, a few
// times per batch at most, so a binary search over the runs is enough.

export class BatchInputs {
  /** The files, by index as the addon numbers them. */
  readonly names: readonly string[];
  private readonly runs: Int32Array;

  constructor(names: readonly string[], runs: Int32Array) {
    this.names = names;
    this.runs = runs;
  }

  /** The name of the file record number `record` of the batch (0 = its first record) came from. */
  nameOf(record: number): string {
    const runs = this.runs;
    let low = 0;
    let high = (runs.length >> 1) - 1;
    if (high < 0) return this.names[0] ?? '';
    // The last run whose first record is at or before `record`.
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (runs[middle * 2] <= record) low = middle;
      else high = middle - 1;
    }
    return this.names[runs[low * 2 + 1]] ?? '';
  }
}
