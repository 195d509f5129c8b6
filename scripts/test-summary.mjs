// Reads vitest's JSON report and prints "N passed, N failed"; exits non-zero
// when a test failed, none ran, or the report is missing.
import { readFileSync } from 'node:fs';

const path = process.argv[2] ?? '.reports/vitest.json';
let report;
try {
  report = JSON.parse(readFileSync(path, 'utf8'));
} catch (err) {
  console.log('0 passed, 0 failed');
  console.error(`no test report at ${path}: ${err.message}`);
  process.exit(1);
}
const passed = report.numPassedTests ?? 0;
const failed = (report.numFailedTests ?? 0);
const brokenFiles = (report.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0).length;
console.log(`${passed} passed, ${failed + brokenFiles} failed`);
process.exit(failed + brokenFiles > 0 || passed === 0 ? 1 : 0);
