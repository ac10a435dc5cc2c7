import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { PacketHeadersError } from '../../src/errors.js';
import { cookieOfUuid, prefixOfUuid, systemPrefixSources, uuidFromCookie, uuidPrefix, type PrefixSources } from '../../src/flowevents/uuidprefix.js';

/** Fixed sources: files from a table, a fixed clock and /proc/uptime. */
function sources(overrides: Partial<PrefixSources> = {}, files: Record<string, string> = {}): PrefixSources {
  return {
    readFile: (path) => {
      if (path in files) return files[path]!;
      throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    },
    env: {},
    hostname: () => 'mlab1-abc0t.mlab-oti.measurement-lab.org',
    readUptime: () => '12345.67 23456.78\n',
    nowMs: () => 1_566_407_000_900,
    ...overrides,
  };
}

function rejectsWith(run: () => unknown, pattern: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof PacketHeadersError, String(error));
    assert.equal(error.code, 'PH_ERR_FLAG');
    assert.ok(!error.message.includes('\n'), error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('-uuid-prefix-file', () => {
  test('the contents, with surrounding whitespace trimmed', () => {
    const s = sources({}, { '/p': '  mlab1-abc0t_1566400000 \n\n' });
    assert.equal(uuidPrefix('/p', s), 'mlab1-abc0t_1566400000');
    assert.equal(uuidPrefix('/q', sources({}, { '/q': 'host_1' })), 'host_1');
  });

  test('a prefix file wins over $POD_NAME and the hostname', () => {
    const s = sources({ env: { POD_NAME: 'pod-7' } }, { '/p': 'from-file' });
    assert.equal(uuidPrefix('/p', s), 'from-file');
  });

  test('a missing or unreadable file is a flag error naming the file and the reason', () => {
    rejectsWith(() => uuidPrefix('/nonexistent', sources()), /cannot read -uuid-prefix-file "\/nonexistent": no such file or directory \(ENOENT\)/);
    const eacces = sources({ readFile: () => { throw Object.assign(new Error('EACCES'), { code: 'EACCES' }); } });
    rejectsWith(() => uuidPrefix('/secret', eacces), /"\/secret": permission denied \(EACCES\)/);
  });

  test('an empty or blank file is a flag error', () => {
    rejectsWith(() => uuidPrefix('/e', sources({}, { '/e': '' })), /-uuid-prefix-file "\/e" is empty/);
    rejectsWith(() => uuidPrefix('/b', sources({}, { '/b': ' \n\t \n' })), /is empty/);
  });

  test('a prefix that cannot be part of a file name is a flag error', () => {
    rejectsWith(() => uuidPrefix('/s', sources({}, { '/s': 'a/b' })), /contains "\/"/);
    rejectsWith(() => uuidPrefix('/n', sources({}, { '/n': 'a\nb' })), /line break/);
    rejectsWith(() => uuidPrefix('/l', sources({}, { '/l': 'x'.repeat(300) })), /longer than 230 bytes/);
    assert.equal(uuidPrefix('/ok', sources({}, { '/ok': 'x'.repeat(230) })).length, 230);
  });

  test('real files: read through the system sources', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ph-prefix-'));
    try {
      writeFileSync(join(dir, 'prefix'), 'site_123\n');
      writeFileSync(join(dir, 'empty'), '');
      assert.equal(uuidPrefix(join(dir, 'prefix')), 'site_123');
      rejectsWith(() => uuidPrefix(join(dir, 'empty')), /is empty/);
      rejectsWith(() => uuidPrefix(join(dir, 'missing')), /ENOENT/);
      rejectsWith(() => uuidPrefix(dir), /EISDIR/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the _unsafe fallback', () => {
  test('hostname, boot time (now - uptime, integer part) and "unsafe"', () => {
    // 1566407000.900 - 12345.67 = 1566394655.23 -> 1566394655
    assert.equal(uuidPrefix('', sources()), 'mlab1-abc0t.mlab-oti.measurement-lab.org_1566394655_unsafe');
  });

  test('the integer part of the boot time, not rounded', () => {
    const s = sources({ nowMs: () => 1_000_000_000_999, readUptime: () => '0.5 0.1' });
    assert.equal(uuidPrefix('', s), 'mlab1-abc0t.mlab-oti.measurement-lab.org_1000000000_unsafe');
    const t = sources({ nowMs: () => 1_000_000_000_000, readUptime: () => '0.25 0.1' });
    assert.equal(uuidPrefix('', t), 'mlab1-abc0t.mlab-oti.measurement-lab.org_999999999_unsafe');
  });

  test('$POD_NAME when it is set and not empty', () => {
    assert.equal(uuidPrefix('', sources({ env: { POD_NAME: 'ndt-xyz12' } })), 'ndt-xyz12_1566394655_unsafe');
    assert.equal(uuidPrefix('', sources({ env: { POD_NAME: '' } })), 'mlab1-abc0t.mlab-oti.measurement-lab.org_1566394655_unsafe');
  });

  test('an unreadable /proc/uptime is an error', () => {
    rejectsWith(() => uuidPrefix('', sources({ readUptime: () => 'garbage' })), /\/proc\/uptime/);
  });

  test('the system sources give this host\'s name and a boot time in the past', () => {
    const saved = process.env.POD_NAME;
    delete process.env.POD_NAME;
    try {
      const m = /^(.*)_(\d+)_unsafe$/.exec(uuidPrefix('', systemPrefixSources));
      assert.ok(m, 'format');
      assert.equal(m[1], hostname());
      const boot = Number(m[2]);
      assert.ok(boot > 1_000_000_000 && boot <= Date.now() / 1000, String(boot));
      // Computed twice, the same second (give or take the clock's tick at a second boundary).
      const again = Number(/_(\d+)_unsafe$/.exec(uuidPrefix('', systemPrefixSources))![1]);
      assert.ok(Math.abs(again - boot) <= 1);
    } finally {
      if (saved !== undefined) process.env.POD_NAME = saved;
    }
  });
});

describe('uuidFromCookie', () => {
  test('<prefix>_<cookie as 16 upper-case hex digits>', () => {
    assert.equal(uuidFromCookie('host_1566407000_unsafe', 0x1ab2f, 0), 'host_1566407000_unsafe_000000000001AB2F');
    assert.equal(uuidFromCookie('p', 0xffffffff, 0xffffffff), 'p_FFFFFFFFFFFFFFFF');
    assert.equal(uuidFromCookie('p', 0x89abcdef, 0x01234567), 'p_0123456789ABCDEF');
    assert.equal(uuidFromCookie('p', 1, 0x80000000), 'p_8000000000000001');
  });
});

test('a <prefix>_<cookie> UUID gives back its prefix and cookie; another form gives neither', () => {
  assert.equal(prefixOfUuid('host_1566407000_unsafe_000000000001AB2F'), 'host_1566407000_unsafe');
  assert.equal(cookieOfUuid('host_1566407000_unsafe_000000000001AB2F'), '000000000001AB2F');
  for (const other of ['e2e_1AB2F', 'host_000000000001ab2f', '_000000000001AB2F']) {
    assert.equal(prefixOfUuid(other), null, other);
    assert.equal(cookieOfUuid(other), null, other);
  }
});
