// What became of each -read file: how many packets were read from it, and
// why it was not read to its end when it was not (a gzip stream or a pcap cut
// short or damaged, a link type that cannot be decoded), in one line an
// operator can act on.
import type { FileEnd } from './captureset.js';
import type { GzipFault, OfflineInput } from './offlinefile.js';

export interface InputReport {
  /** The -read argument. */
  name: string;
  packets: number;
  /** null when the file was read to its end (or until a signal stopped the reading). */
  problem: string | null;
}

/** `ends` are those of the files not `skipped`, in the order of `inputs` (as CaptureSet reports them). */
export function inputReports(inputs: readonly OfflineInput[], ends: readonly FileEnd[], skipped: ReadonlySet<string>): InputReport[] {
  let next = 0;
  return inputs.map((input) => {
    const end = skipped.has(input.name) ? undefined : ends[next++];
    const problems: string[] = [];
    if (input.gzipFault !== null) problems.push(describeGzipFault(input.gzipFault));
    if (end?.error != null) problems.push(`libpcap: ${end.error}`);
    if (skipped.has(input.name)) problems.push('its link type cannot be decoded, so it was not read');
    return { name: input.name, packets: end?.packets ?? 0, problem: problems.length === 0 ? null : problems.join('; ') };
  });
}

export function describeGzipFault(fault: GzipFault): string {
  const kept = `${fault.decompressedBytes} bytes decompressed before it`;
  if (fault.code === 'Z_BUF_ERROR') {
    return `gzip stream cut: the file ends inside a gzip member at compressed byte ${fault.compressedSize} (${fault.message}), ${kept}`;
  }
  return `gzip stream damaged after compressed byte ${fault.compressedOffset} of ${fault.compressedSize} (${fault.code}: ${fault.message}), ${kept}`;
}

/** The log line for a file not read to its end. */
export function incompleteInputLine(report: InputReport): string {
  return `input ${report.name} was not read to its end (${report.packets} packets read): ${report.problem}`;
}
