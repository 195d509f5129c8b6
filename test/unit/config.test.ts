import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../core/config.ts';
import { parseDuration } from '../../core/duration.ts';
import { parseArgs } from '../../cli/args.ts';
import { kafkaSecurity } from '../../ingest/kafka/security.ts';

describe('parseConfig', () => {
  it('has explicit defaults for everything', () => {
    const config = parseConfig({});
    expect(config.PORT).toBe(8080);
    expect(config.HOST).toBe('127.0.0.1');
    expect(config.DATA_DIR).toBe('./data');
    expect(config.CLICKHOUSE_URL).toBeUndefined();
    expect(config.ANALYSIS_WINDOW).toBe(300_000);
    expect(config.API_KEYS).toEqual([]);
  });

  it('answers writes from the journal with the embedded store and once stored with a server, unless told', () => {
    expect(parseConfig({}).INGEST_ACK).toBe('journaled');
    expect(parseConfig({ CLICKHOUSE_URL: 'http://127.0.0.1:8123' }).INGEST_ACK).toBe('stored');
    expect(parseConfig({ INGEST_ACK: 'stored' }).INGEST_ACK).toBe('stored');
    expect(parseConfig({ CLICKHOUSE_URL: 'http://127.0.0.1:8123', INGEST_ACK: 'journaled' }).INGEST_ACK).toBe('journaled');
    expect(() => parseConfig({ INGEST_ACK: 'later' })).toThrow(/INGEST_ACK/);
  });

  it('reads values from the environment', () => {
    const config = parseConfig({ PORT: '9000', ANALYSIS_WINDOW: '30s', API_KEYS: 'a, b,,c', CLICKHOUSE_URL: 'http://127.0.0.1:8123' });
    expect(config.PORT).toBe(9000);
    expect(config.ANALYSIS_WINDOW).toBe(30_000);
    expect(config.API_KEYS).toEqual(['a', 'b', 'c']);
    expect(config.CLICKHOUSE_URL).toBe('http://127.0.0.1:8123');
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['ANALYSIS_WINDOW', '5 minutes'],
    ['CLICKHOUSE_URL', 'not a url'],
    ['PSI_THRESHOLD', '-1'],
    ['LOG_LEVEL', 'loud'],
    ['CLICKHOUSE_DATABASE', 'x; DROP'],
  ])('stops on a bad %s naming it', (key, value) => {
    let error: unknown;
    try {
      parseConfig({ [key]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`${key}:`);
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1.5h', 5_400_000],
    ['7d', 604_800_000],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', '5', 'm5', '-1s', '0s', '5 m'])('refuses "%s"', (text) => expect(parseDuration(text)).toBeNull());
});

describe('parseArgs', () => {
  it('maps flags to config keys and keeps command flags apart', () => {
    const args = parseArgs(['demo', '--data-dir', '/tmp/x', '--duration=60', '--analysis-window', '10s'], ['duration']);
    expect(args.command).toBe('demo');
    expect(args.config).toEqual({ DATA_DIR: '/tmp/x', ANALYSIS_WINDOW: '10s' });
    expect(args.extra).toEqual({ duration: '60' });
  });
  it('refuses unknown flags and flags without values', () => {
    expect(() => parseArgs(['serve', '--nope', '1'], [])).toThrow(/unknown option --nope/);
    expect(() => parseArgs(['serve', '--port'], [])).toThrow(/--port needs a value/);
  });
});

describe('Kafka security settings', () => {
  it('names the setting that is missing or contradicts another', () => {
    expect(() => parseConfig({ KAFKA_SSL_CA_FILE: '/tmp/ca.pem' })).toThrow(/KAFKA_SSL_CA_FILE: set KAFKA_SSL=true/);
    expect(() => parseConfig({ KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'u' })).toThrow(/KAFKA_SASL_PASSWORD: required with KAFKA_SASL_MECHANISM=scram-sha-256/);
    expect(() => parseConfig({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: 'p' })).toThrow(/KAFKA_SASL_USERNAME: required/);
    expect(() => parseConfig({ KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' })).toThrow(/KAFKA_SASL_MECHANISM: required/);
    expect(() => parseConfig({ KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' })).toThrow(/KAFKA_SASL_MECHANISM/);
    expect(() => parseConfig({ HTTP_HEADERS_TIMEOUT: '2m' })).toThrow(/HTTP_HEADERS_TIMEOUT: must not exceed HTTP_REQUEST_TIMEOUT/);
  });

  it('bounds analysis requests and slow clients by default', () => {
    const config = parseConfig({});
    expect([config.ANALYSIS_MAX_CONCURRENT, config.ANALYSIS_TIMEOUT, config.HTTP_HEADERS_TIMEOUT, config.HTTP_REQUEST_TIMEOUT]).toEqual([2, 30_000, 10_000, 60_000]);
    expect(() => parseConfig({ ANALYSIS_MAX_CONCURRENT: '0' })).toThrow(/ANALYSIS_MAX_CONCURRENT/);
  });

  it('reads the CA file once, refusing one that cannot be read or holds no certificate', () => {
    const config = parseConfig({ KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: '/etc/ca.pem', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' });
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    expect(kafkaSecurity(config, () => pem)).toEqual({ tls: { ca: pem }, sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' } });
    expect(kafkaSecurity(parseConfig({}), () => pem)).toEqual({ tls: false, sasl: undefined });
    expect(kafkaSecurity(parseConfig({ KAFKA_SSL: 'true' }), () => pem)).toEqual({ tls: {}, sasl: undefined });
    const missing = () => {
      throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    };
    expect(() => kafkaSecurity(config, missing)).toThrow(ConfigError);
    expect(() => kafkaSecurity(config, missing)).toThrow(/KAFKA_SSL_CA_FILE: cannot read \/etc\/ca.pem \(ENOENT\)/);
    expect(() => kafkaSecurity(config, () => 'not a certificate')).toThrow(/KAFKA_SSL_CA_FILE: \/etc\/ca.pem holds no PEM certificate/);
  });

  it('takes a client certificate only with its key, and reads both', () => {
    expect(() => parseConfig({ KAFKA_SSL: 'true', KAFKA_SSL_CERT_FILE: '/c.pem' })).toThrow(/KAFKA_SSL_KEY_FILE: a client certificate needs both/);
    expect(() => parseConfig({ KAFKA_SSL: 'true', KAFKA_SSL_KEY_FILE: '/k.pem' })).toThrow(/KAFKA_SSL_CERT_FILE: a client certificate needs both/);
    expect(() => parseConfig({ KAFKA_SSL_CERT_FILE: '/c.pem', KAFKA_SSL_KEY_FILE: '/k.pem' })).toThrow(/KAFKA_SSL_CERT_FILE: set KAFKA_SSL=true/);
    const config = parseConfig({ KAFKA_SSL: 'true', KAFKA_SSL_CERT_FILE: '/c.pem', KAFKA_SSL_KEY_FILE: '/k.pem' });
    const files: Record<string, string> = {
      '/c.pem': '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n',
      '/k.pem': '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n',
    };
    expect(kafkaSecurity(config, (path) => files[path])).toEqual({ tls: { cert: files['/c.pem'], key: files['/k.pem'] }, sasl: undefined });
    expect(() => kafkaSecurity(config, (path) => (path === '/k.pem' ? files['/c.pem'] : files[path]))).toThrow(/KAFKA_SSL_KEY_FILE: \/k.pem holds no PEM private key/);
  });

  it('reads comma-separated topic lists and refuses bad names or a topic in two roles', () => {
    const config = parseConfig({ KAFKA_EVENTS_TOPIC: ' preds.credit , preds.fraud,preds.credit', KAFKA_LABELS_TOPIC: 'labels.all' });
    expect(config.KAFKA_EVENTS_TOPIC).toEqual(['preds.credit', 'preds.fraud']);
    expect(config.KAFKA_LABELS_TOPIC).toEqual(['labels.all']);
    expect(parseConfig({}).KAFKA_EVENTS_TOPIC).toEqual(['driftwatch.events']);
    expect(() => parseConfig({ KAFKA_EVENTS_TOPIC: 'ok,not ok' })).toThrow(/KAFKA_EVENTS_TOPIC: expected Kafka topic names/);
    expect(() => parseConfig({ KAFKA_EVENTS_TOPIC: ',' })).toThrow(/KAFKA_EVENTS_TOPIC/);
    expect(() => parseConfig({ KAFKA_DLQ_TOPIC: 'dlq;drop' })).toThrow(/KAFKA_DLQ_TOPIC/);
    expect(() => parseConfig({ KAFKA_EVENTS_TOPIC: 'a,b', KAFKA_LABELS_TOPIC: 'b' })).toThrow(/KAFKA_EVENTS_TOPIC: b also named as a labels or dead-letter topic/);
    expect(() => parseConfig({ KAFKA_LABELS_TOPIC: 'x', KAFKA_DLQ_TOPIC: 'x' })).toThrow(/KAFKA_LABELS_TOPIC: x is also the dead-letter topic/);
  });
});
