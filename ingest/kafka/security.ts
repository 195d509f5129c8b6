import { readFileSync } from 'node:fs';
import { ConfigError, type Config } from '../../core/config.ts';
import type { KafkaSecurity } from './kafkajs.ts';

/**
 * The Kafka security settings from config, with the CA file read once here so
 * that a missing or wrong file stops start-up naming the setting, not a TLS
 * handshake failing later with a vaguer error.
 */
export function kafkaSecurity(
  config: Pick<Config, 'KAFKA_SSL' | 'KAFKA_SSL_CA_FILE' | 'KAFKA_SASL_MECHANISM' | 'KAFKA_SASL_USERNAME' | 'KAFKA_SASL_PASSWORD'>,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): KafkaSecurity {
  let tls: KafkaSecurity['tls'] = false;
  if (config.KAFKA_SSL) {
    tls = {};
    if (config.KAFKA_SSL_CA_FILE) {
      let ca: string;
      try {
        ca = readFile(config.KAFKA_SSL_CA_FILE);
      } catch (err) {
        throw new ConfigError([`KAFKA_SSL_CA_FILE: cannot read ${config.KAFKA_SSL_CA_FILE} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
      }
      if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
        throw new ConfigError([`KAFKA_SSL_CA_FILE: ${config.KAFKA_SSL_CA_FILE} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`]);
      }
      tls.ca = ca;
    }
  }
  const sasl =
    config.KAFKA_SASL_MECHANISM && config.KAFKA_SASL_USERNAME && config.KAFKA_SASL_PASSWORD
      ? { mechanism: config.KAFKA_SASL_MECHANISM, username: config.KAFKA_SASL_USERNAME, password: config.KAFKA_SASL_PASSWORD }
      : undefined;
  return { tls, sasl };
}
