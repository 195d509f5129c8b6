import type { DriftReport } from '../analyzers/drift.ts';
import { readUiFile } from './ui-bundle.ts';

/** What the report page renders: a drift report with distributions, and what it was compared with. */
export interface ReportData {
  report: Omit<DriftReport, 'from' | 'to'> & { from: string; to: string };
  baseline: { baseline_id: string; from: string; to: string; n_events: number };
  generated_at: string;
}

// JSON inside <script> ends at the first "</script": every "<" is written as
// its escape, which JSON.parse reads back unchanged.
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');
// The bundle is inlined too: the same rule keeps a "</script" in one of its strings from closing the tag.
const scriptText = (js: string) => js.replace(/<\/(script)/gi, '<\\/$1');
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * One self-contained HTML file: the report bundle (ui/src/report.ts, with
 * the chart library), the styles and the data inline. Its Content Security
 * Policy allows no fetch, frame or remote resource at all, so an opened
 * report can never reach the network, whatever a browser or a chart
 * library would try.
 */
export async function reportPage(data: ReportData, dir?: string): Promise<string> {
  const [js, css] = await Promise.all([readUiFile('report.js', dir), readUiFile('style.css', dir)]);
  const title = `driftwatch report: ${data.report.model}, ${data.report.from} to ${data.report.to}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${css.replace(/<\/(style)/gi, '<\\/$1')}</style>
</head>
<body class="report">
<main id="app"><p>This report needs JavaScript to draw its charts.</p></main>
<script id="dw-report-data" type="application/json">${scriptJson(data)}</script>
<script>${scriptText(js)}</script>
</body>
</html>
`;
}
