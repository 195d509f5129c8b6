import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { Errors } from './errors.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * An onRequest hook that lets a write through only with one of `keys` as a
 * bearer token. With no keys configured, writes are open (a local setup).
 * Keys are compared as SHA-256 digests in constant time.
 */
export function requireApiKey(keys: readonly string[]) {
  const digests = keys.map(digest);
  return async (request: FastifyRequest): Promise<void> => {
    if (digests.length === 0) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match) throw new Errors.Unauthorized();
    const given = digest(match[1].trim());
    if (!digests.some((d) => timingSafeEqual(d, given))) throw new Errors.Unauthorized();
  };
}
