import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { event, tempDir, testConfig } from './helpers.ts';

// Real sockets against the service's own HTTP server: inject() has no
// connection to time out and no socket for a large body to break.
const dir = tempDir();
let service: Service;
let port: number;
const HEADERS_MS = 2_000;
const REQUEST_MS = 4_000;
const BODY_LIMIT = 64 * 1024;

beforeAll(async () => {
  service = await startService(
    testConfig({
      DATA_DIR: dir.path,
      HTTP_HEADERS_TIMEOUT: `${HEADERS_MS}ms`,
      HTTP_REQUEST_TIMEOUT: `${REQUEST_MS}ms`,
      BODY_LIMIT_BYTES: String(BODY_LIMIT),
    }),
    { logger: false },
  );
  port = Number(new URL(service.url).port);
});
afterAll(async () => {
  await service.close();
  dir.remove();
});

interface Conversation {
  socket: Socket;
  /** Everything the server sent. */
  received: () => string;
  /** Settles when the connection is closed, with the time since it opened and any socket error. */
  closed: Promise<{ afterMs: number; error: string | null }>;
}

function open(): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let error: string | null = null;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message));
    const closed = new Promise<{ afterMs: number; error: string | null }>((done) => socket.once('close', () => done({ afterMs: Date.now() - started, error })));
    socket.once('connect', () => resolve({ socket, received: () => text, closed }));
    socket.once('error', reject);
  });
}

/** Writes `text` one byte a second until the connection closes (or `text` runs out). */
async function dribble(c: Conversation, text: string): Promise<number> {
  let sent = 0;
  let open = true;
  void c.closed.then(() => (open = false));
  while (open && sent < text.length) {
    c.socket.write(text[sent++]);
    await new Promise((r) => setTimeout(r, 1_000));
  }
  return sent;
}

// Node checks the timeouts every second (connectionsCheckingInterval); the
// rest is slack for a busy machine. Before the fix the headers took 60-90 s
// and a dribbled body was never cut off.
const SLACK_MS = 8_000;

describe('slow clients are cut off', () => {
  it('closes a connection that sends its headers a byte a second, after HTTP_HEADERS_TIMEOUT', async () => {
    const c = await open();
    const request = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'x'.repeat(200)}\r\n\r\n`;
    const sent = await dribble(c, request);
    const { afterMs } = await c.closed;
    expect(sent).toBeLessThan(request.length); // it never got to finish
    expect(afterMs).toBeGreaterThanOrEqual(HEADERS_MS - 100);
    expect(afterMs).toBeLessThan(HEADERS_MS + SLACK_MS);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
  }, 30_000);

  it('closes a connection that sends its body a byte a second, after HTTP_REQUEST_TIMEOUT, with 408', async () => {
    const c = await open();
    const body = JSON.stringify([event()]).padEnd(2_000, ' ');
    c.socket.write(`POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    const sent = await dribble(c, body);
    const { afterMs } = await c.closed;
    expect(sent).toBeLessThan(body.length);
    expect(afterMs).toBeGreaterThanOrEqual(REQUEST_MS - 100);
    expect(afterMs).toBeLessThan(REQUEST_MS + SLACK_MS);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
  }, 40_000);

  it('still serves a client that sends its request at an ordinary pace', async () => {
    const response = await fetch(`${service.url}/healthz`);
    expect(response.status).toBe(200);
  });
});

/**
 * Sends `total` bytes of body in 16 KiB pieces as fast as the server takes
 * them, and keeps going after the server answered, as a real client does
 * until it notices: the answer must arrive intact, not as a reset.
 */
async function oversized(headers: string, total: number, chunked: boolean) {
  const c = await open();
  c.socket.write(headers);
  const piece = Buffer.alloc(16 * 1024, 0x20);
  let sent = 0;
  let writeError: string | null = null;
  let open_ = true;
  void c.closed.then(() => (open_ = false));
  while (open_ && sent < total) {
    const ok = c.socket.write(chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece, (err) => {
      if (err) writeError ??= (err as NodeJS.ErrnoException).code ?? err.message;
    });
    sent += piece.length;
    if (!ok) await new Promise((r) => { c.socket.once('drain', r); c.socket.once('close', r); });
  }
  if (open_ && chunked) c.socket.end('0\r\n\r\n');
  else if (open_) c.socket.end();
  const closed = await Promise.race([c.closed, new Promise<null>((r) => setTimeout(() => r(null), 20_000))]);
  if (!closed) c.socket.destroy();
  return { text: c.received(), sent, writeError, closed };
}

describe('a body over BODY_LIMIT_BYTES', () => {
  const json = (length: string) =>
    `POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${length}\r\n`;

  it('is answered 413 while the client is still sending (Content-Length)', async () => {
    const total = 8 * 1024 * 1024;
    const result = await oversized(json(`Content-Length: ${total}\r\n`), total, false);
    expect(result.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(result.text).toContain('FST_ERR_CTP_BODY_TOO_LARGE');
  }, 60_000);

  it('is answered 413 while the client is still sending (chunked)', async () => {
    const total = 8 * 1024 * 1024;
    const result = await oversized(json('Transfer-Encoding: chunked\r\n'), total, true);
    expect(result.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(result.text).toContain('FST_ERR_CTP_BODY_TOO_LARGE');
  }, 60_000);

  it('is answered 413 to fetch sending 30 MB, not a broken pipe', async () => {
    const response = await fetch(`${service.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(30 * 1024 * 1024, 0x20) });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { code: string }).code).toBe('FST_ERR_CTP_BODY_TOO_LARGE');
  }, 60_000);

  it('leaves the service serving', async () => {
    const response = await fetch(`${service.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([event()]) });
    expect(response.status).toBe(200);
  });
});
