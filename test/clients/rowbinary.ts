import { splitType } from '../../clickhouse-http/native.ts';

/**
 * Reads RowBinaryWithNamesAndTypes as a client would, for the types the
 * dashboards' queries return. @clickhouse/client hands RowBinary over as
 * bytes (it parses JSON and text formats only), so the test decodes them.
 * https://clickhouse.com/docs/interfaces/formats/RowBinaryWithNamesAndTypes
 */
export function decodeRowBinary(buf: Buffer): { columns: string[]; types: string[]; rows: unknown[][] } {
  let pos = 0;
  const varint = () => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = buf[pos++];
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
    }
  };
  const string = () => {
    const n = varint();
    const s = buf.toString('utf8', pos, pos + n);
    pos += n;
    return s;
  };
  const value = (type: string): unknown => {
    const { name, args } = splitType(type);
    const take = <T>(n: number, read: (at: number) => T): T => {
      const v = read(pos);
      pos += n;
      return v;
    };
    switch (name) {
      case 'Nullable':
        return buf[pos++] === 1 ? null : value(args[0]);
      case 'LowCardinality':
        return value(args[0]);
      case 'Array': {
        const n = varint();
        return Array.from({ length: n }, () => value(args[0]));
      }
      case 'Map': {
        const n = varint();
        const out: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) out[String(value(args[0]))] = value(args[1]);
        return out;
      }
      case 'String':
        return string();
      case 'Bool':
        return buf[pos++] === 1;
      case 'UInt8':
        return buf[pos++];
      case 'Int8':
        return take(1, (at) => buf.readInt8(at));
      case 'UInt16':
        return take(2, (at) => buf.readUInt16LE(at));
      case 'Int16':
        return take(2, (at) => buf.readInt16LE(at));
      case 'UInt32':
        return take(4, (at) => buf.readUInt32LE(at));
      case 'Int32':
        return take(4, (at) => buf.readInt32LE(at));
      case 'UInt64':
        return take(8, (at) => Number(buf.readBigUInt64LE(at)));
      case 'Int64':
        return take(8, (at) => Number(buf.readBigInt64LE(at)));
      case 'Float32':
        return take(4, (at) => buf.readFloatLE(at));
      case 'Float64':
        return take(8, (at) => buf.readDoubleLE(at));
      case 'Date':
        return take(2, (at) => buf.readUInt16LE(at) * 86_400_000);
      case 'DateTime':
        return take(4, (at) => buf.readUInt32LE(at) * 1000);
      case 'DateTime64': {
        const scale = 10 ** Number(args[0]);
        return take(8, (at) => Math.round((Number(buf.readBigInt64LE(at)) / scale) * 1000));
      }
      default:
        throw new Error(`RowBinary type ${type} is not decoded by this test client`);
    }
  };
  const count = varint();
  const columns = Array.from({ length: count }, string);
  const types = Array.from({ length: count }, string);
  const rows: unknown[][] = [];
  while (pos < buf.length) rows.push(types.map(value));
  return { columns, types, rows };
}
