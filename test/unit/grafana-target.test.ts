import { describe, expect, it } from 'vitest';
import { clickhouseTarget, dashboardFiles } from '../../grafana/dashboards.ts';
import { parseConfig } from '../../core/config.ts';

describe("the dashboards' ClickHouse data source", () => {
  it("points at this store's ClickHouse HTTP interface by default", () => {
    expect(clickhouseTarget(parseConfig({}))).toEqual({ host: 'localhost', port: 8123, protocol: 'http', tls: false, database: 'default', username: 'default' });
    expect(clickhouseTarget(parseConfig({ CLICKHOUSE_HTTP_PORT: '18123', CLICKHOUSE_HTTP_HOST: '10.0.0.5' }))).toMatchObject({ host: '10.0.0.5', port: 18123 });
  });

  it('points at the CLICKHOUSE_URL server, TLS from its scheme', () => {
    const config = parseConfig({ CLICKHOUSE_URL: 'https://ch.internal:8443', CLICKHOUSE_USER: 'grafana', CLICKHOUSE_DATABASE: 'dw' });
    expect(clickhouseTarget(config)).toEqual({ host: 'ch.internal', port: 8443, protocol: 'http', tls: true, database: 'dw', username: 'grafana' });
    expect(clickhouseTarget(config, { protocol: 'native' })).toMatchObject({ protocol: 'native', port: 9440, tls: true });
    expect(clickhouseTarget(config, { protocol: 'native', port: 9000, tls: false, host: 'db' })).toMatchObject({ host: 'db', port: 9000, tls: false });
  });

  it('writes the target into the provisioning file', () => {
    const text = dashboardFiles({ host: 'db', port: 9440, protocol: 'native', tls: true, database: 'dw', username: 'u' })['provisioning/datasources/driftwatch.yaml'];
    expect(text).toMatch(/host: db\n\s+port: 9440\n\s+protocol: native\n\s+secure: true\n\s+defaultDatabase: dw\n\s+username: u/);
  });
});
