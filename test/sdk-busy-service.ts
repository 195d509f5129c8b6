// A driftwatch service whose store refuses inserts while the file named by
// OUTAGE_FILE exists: with INGEST_MAX_PENDING_ROWS small, ingest soon
// answers 503 DW_BUSY with Retry-After. For the Python client's back-off
// test (clients/python/tests), which starts it with
// `node --import tsx test/sdk-busy-service.ts` and removes the file to end
// the outage. Prints "listening on <url>" when ready; stops on SIGTERM.
import { existsSync } from 'node:fs';
import { startService } from '../cli/service.ts';
import { testConfig, withInsertOutage } from './helpers.ts';

const outageFile = process.env.OUTAGE_FILE;
if (!outageFile || !process.env.DATA_DIR) throw new Error('set OUTAGE_FILE and DATA_DIR');
const service = await startService(
  testConfig({ DATA_DIR: process.env.DATA_DIR, PORT: process.env.PORT ?? '0', INGEST_MAX_PENDING_ROWS: process.env.INGEST_MAX_PENDING_ROWS ?? '200' }),
  { logger: false, wrapSql: withInsertOutage(() => existsSync(outageFile)) },
);
console.log(`listening on ${service.url}`);
process.once('SIGTERM', () => void service.close().then(() => process.exit(0)));
