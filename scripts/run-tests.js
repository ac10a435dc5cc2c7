// Runs the whole test suite: unit tests in parallel, then the integration tests
// (real captures in network namespaces; they need root) one file at a time so
// they do not compete for the two cores.
import { spawnSync } from 'node:child_process';

function run(args) {
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  return r.status ?? 1;
}

const unit = run(['--test', '--test-reporter=spec', 'dist/test/unit/']);
const integration = run(['--test', '--test-concurrency=1', '--test-reporter=spec', 'dist/test/integration/']);
process.exit(unit !== 0 || integration !== 0 ? 1 : 0);
