import { readFileSync } from 'node:fs';
import { ConfigError, type Config } from '../../core/config.ts';
import type { KafkaSecurity } from './kafkajs.ts';

type SecurityConfig = Pick<
  Config,
  'KAFKA_SSL' | 'KAFKA_SSL_CA_FILE' | 'KAFKA_SSL_CERT_FILE' | 'KAFKA_SSL_KEY_FILE' | 'KAFKA_SASL_MECHANISM' | 'KAFKA_SASL_USERNAME' | 'KAFKA_SASL_PASSWORD'
>;

/**
 * The Kafka security settings from config, with the PEM files read once here
 * so that a missing or wrong file stops start-up naming the setting, not a
 * TLS handshake failing later with a vaguer error.
 */
export function kafkaSecurity(config: SecurityConfig, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): KafkaSecurity {
  const pem = (key: 'KAFKA_SSL_CA_FILE' | 'KAFKA_SSL_CERT_FILE' | 'KAFKA_SSL_KEY_FILE', marker: RegExp, what: string): string | undefined => {
    const path = config[key];
    if (!path) return undefined;
    let text: string;
    try {
      text = readFile(path);
    } catch (err) {
      throw new ConfigError([`${key}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
    }
    if (!marker.test(text)) throw new ConfigError([`${key}: ${path} holds no PEM ${what}`]);
    return text;
  };
  let tls: KafkaSecurity['tls'] = false;
  if (config.KAFKA_SSL) {
    tls = {};
    const ca = pem('KAFKA_SSL_CA_FILE', /-----BEGIN CERTIFICATE-----/, 'certificate (-----BEGIN CERTIFICATE-----)');
    const cert = pem('KAFKA_SSL_CERT_FILE', /-----BEGIN CERTIFICATE-----/, 'certificate (-----BEGIN CERTIFICATE-----)');
    const key = pem('KAFKA_SSL_KEY_FILE', /-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'private key (-----BEGIN PRIVATE KEY-----)');
    if (ca) tls.ca = ca;
    if (cert && key) Object.assign(tls, { cert, key });
  }
  const sasl =
    config.KAFKA_SASL_MECHANISM && config.KAFKA_SASL_USERNAME && config.KAFKA_SASL_PASSWORD
      ? { mechanism: config.KAFKA_SASL_MECHANISM, username: config.KAFKA_SASL_USERNAME, password: config.KAFKA_SASL_PASSWORD }
      : undefined;
  return { tls, sasl };
}
