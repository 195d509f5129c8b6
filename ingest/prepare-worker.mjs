// Worker-thread entry: registers tsx so the TypeScript implementation loads
// the same way under `npm start`, the installed command and the test runner.
import { register } from 'tsx/esm/api';

register();
await import('./prepare-worker-impl.ts');
