import { startService } from '../cli/service.ts';
import { testConfig, tempDir, event } from '../test/helpers.ts';
const dir = tempDir();
const service = await startService(testConfig({ DATA_DIR: dir.path, LOG_LEVEL: 'error' }), { logger: true });
await fetch(`${service.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([event()]) });
const r = await fetch(`${service.url}/v1/models?include=summary`);
console.log(r.status, await r.text());
await service.close(); dir.remove();
