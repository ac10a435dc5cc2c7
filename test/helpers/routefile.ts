// The flow store on its own, without a demuxer: every record of a batch goes
// to one file, through the store's route() as the demuxer's records do, the
// flow's header length and anonymize bits chosen by the test.
import { D_HASH, D_KEY, SaverState } from '../../src/native/layout.js';
import { describeRecords } from '../../src/decode/describe.js';
import { KEY_WORDS } from '../../src/decode/flowkey.js';
import type { FlowFile } from '../../src/saver/flowfile.js';
import type { FlowStore } from '../../src/saver/flowstore.js';

/**
 * Routes every record of `batch` to `file`, each cut to `keep` bytes, the
 * addresses chosen by `anonymize` (ANONYMIZE_A | ANONYMIZE_B) masked. Returns
 * the store's tallies of the batch (and zeroes them). `flushStream`: the
 * flow is saving, and its records are sealed into a member at the end, as
 * the demuxer's flushStreams() does in stream mode every second.
 */
export function routeToFile(store: FlowStore, file: FlowFile, batch: Buffer, linkType: number, keep: number, anonymize = 0, flushStream = false): Int32Array {
  const d = describeRecords(batch, linkType);
  const routes: number[] = [];
  store.setRouter({
    flowFor: (at, replaced) => {
      if (replaced !== -1) return replaced;
      const route = store.bindFlow(file, d.slice(at + D_KEY, at + D_KEY + KEY_WORDS), d[at + D_HASH], anonymize, keep);
      if (flushStream) store.setFlowState(route, SaverState.Saving);
      routes.push(route);
      return route;
    },
    tick: () => {},
  });
  store.route(batch, d, linkType, null);
  if (flushStream) store.flushStreams();
  for (const route of routes) store.unbindFlow(route);
  const tallies = store.tallies.slice();
  store.tallies.fill(0);
  return tallies;
}
