import { decompress as zstdDecompress } from 'fzstd';
import kafkajs from 'kafkajs';
import SnappyCodec from 'kafkajs-snappy';
import { compressFrame, decompressFrame } from 'lz4-napi';

/**
 * The record-batch codecs kafkajs leaves out. kafkajs decodes gzip itself and
 * throws "not implemented" for the rest, which in a consumer is a crash on
 * the first fetch that holds such a batch: the consumer restarts, fetches the
 * same batch, and never gets past it. Producers set `compression.type`
 * (lz4, zstd and snappy are common in Java services), and a broker recompresses
 * to a topic's own `compression.type`, so driftwatch must read all four.
 *
 * - snappy: kafkajs' own codec package (the Java client's xerial framing);
 * - lz4: lz4-napi, prebuilt native code (Rust lz4_flex), the standard LZ4
 *   frame format that Kafka has used since message format v1; it runs off the
 *   event loop;
 * - zstd: fzstd, a pure-JavaScript decoder, because the native zstd bindings
 *   fetch their binaries from GitHub or build from source at install.
 *
 * driftwatch itself produces only dead letters, uncompressed, so zstd is
 * decode-only here.
 */
interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const lz4: Codec = {
  compress: (encoder) => compressFrame(encoder.buffer),
  decompress: (buffer) => decompressFrame(buffer),
};

const zstd: Codec = {
  compress: () => Promise.reject(new Error('driftwatch reads zstd-compressed record batches but does not write them')),
  async decompress(buffer) {
    const out = zstdDecompress(buffer);
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  },
};

// A default import: Node's view of kafkajs' CommonJS exports misses these two.
const { CompressionCodecs, CompressionTypes } = kafkajs;

/** kafkajs keeps its codecs in one module-wide table; filling it twice is harmless. */
export function registerKafkaCodecs(): void {
  CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec;
  CompressionCodecs[CompressionTypes.LZ4] = () => lz4;
  CompressionCodecs[CompressionTypes.ZSTD] = () => zstd;
}
