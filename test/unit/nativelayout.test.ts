// The constants shared by the addon and the TypeScript side (src/native/layout.ts,
// native/layout.h): loadAddon() refuses an addon whose `layout` differs, and
// says which constants differ and how.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DECODE_STATUS_NAMES } from '../../src/decode/packet.js';
import { SAVER_STATE_NAMES } from '../../src/demux/flow.js';
import { checkAddonLayout, loadAddon } from '../../src/native/addon.js';
import {
  DECODE_STATUS_COUNT,
  LAYOUT,
  layoutMismatches,
  SAVER_STATE_COUNT,
  TALLY_BAD,
  TALLY_REFUSED,
  TALLY_WORDS,
} from '../../src/native/layout.js';

test('the addon built from these sources has the layout of src/native/layout.ts', () => {
  const addon = loadAddon();
  assert.deepEqual({ ...addon.layout }, { ...LAYOUT });
  assert.deepEqual(layoutMismatches(addon.layout), []);
});

test('a constant that differs is named, with both values', () => {
  const doctored = { ...LAYOUT, TALLY_BAD: TALLY_BAD + 1 };
  assert.deepEqual(layoutMismatches(doctored), [`TALLY_BAD is ${TALLY_BAD} here, ${TALLY_BAD + 1} in the addon`]);
  assert.throws(
    () => checkAddonLayout({ layout: doctored }, '/x/build/Release/packet_headers_capture.node'),
    (e: Error) =>
      e.message ===
      `the native addon /x/build/Release/packet_headers_capture.node was built from other sources: ` +
        `TALLY_BAD is ${TALLY_BAD} here, ${TALLY_BAD + 1} in the addon; rebuild it (npm run build:native)`,
  );
});

test('every differing constant is named: changed, missing and unknown ones', () => {
  const { SOCKET_RECORD_BYTES: _dropped, ...rest } = LAYOUT;
  const doctored = { ...rest, D_HASH: 16, FLAG_FIN: 32, NEW_THING: 3 };
  assert.deepEqual(layoutMismatches(doctored), [
    'D_HASH is 17 here, 16 in the addon',
    'FLAG_FIN is 8 here, 32 in the addon',
    'SOCKET_RECORD_BYTES is 48 here, absent in the addon',
    'NEW_THING is absent here, 3 in the addon',
  ]);
});

test('an addon without a layout (built before it existed) is refused', () => {
  assert.equal(layoutMismatches(undefined).length, 1);
  assert.throws(() => checkAddonLayout({}, 'old.node'), /the native addon old\.node was built from other sources: it exports no layout/);
  assert.doesNotThrow(() => checkAddonLayout({ layout: { ...LAYOUT } }, 'same.node'));
});

test('the names indexed by status and state cover the shared counts', () => {
  assert.equal(DECODE_STATUS_NAMES.length, DECODE_STATUS_COUNT);
  assert.equal(SAVER_STATE_NAMES.length, SAVER_STATE_COUNT);
  assert.equal(TALLY_REFUSED, TALLY_BAD + DECODE_STATUS_COUNT);
  assert.equal(TALLY_WORDS, TALLY_REFUSED + 2, 'one word per refusal: maxflows, maxheap');
});
