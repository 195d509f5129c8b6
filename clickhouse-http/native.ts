/**
 * ClickHouse's Native format as a server writes it for a client that names
 * its protocol revision (`client_protocol_version`, as clickhouse-go and
 * clickhouse-connect send over HTTP). chDB writes Native for revision 0: no
 * block info, no per-column serialization flag. A client at a later revision
 * reads both, so each block is rewritten: block info first (revision > 0),
 * and a "no custom serialization" byte after each column's type (revision
 * >= 54454). Finding where a column's data ends means walking its type, so
 * types this walker does not know are refused rather than guessed.
 *
 * https://clickhouse.com/docs/interfaces/formats/Native
 */
export const REVISION_WITH_CUSTOM_SERIALIZATION = 54454;

/** The block info a server writes: is_overflows = false (field 1), bucket_num = -1 (field 2), end (0). */
const BLOCK_INFO = Buffer.from([1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0]);

export class NativeFormatError extends Error {
  override name = 'NativeFormatError';
}

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new NativeFormatError('Native data ends inside a block');
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      this.need(1);
      const byte = this.buf[this.pos++];
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new NativeFormatError('a varint longer than 64 bits');
    }
  }
  uint64(): number {
    this.need(8);
    const value = Number(this.buf.readBigUInt64LE(this.pos));
    this.pos += 8;
    return value;
  }
  string(): string {
    const length = this.varint();
    this.need(length);
    const text = this.buf.toString('utf8', this.pos, this.pos + length);
    this.pos += length;
    return text;
  }
}

/** Splits `Name(a, b(c, d), 'x,y')` into its name and top-level arguments. */
export function splitType(type: string): { name: string; args: string[] } {
  const open = type.indexOf('(');
  if (open < 0) return { name: type.trim(), args: [] };
  const name = type.slice(0, open).trim();
  const inner = type.slice(open + 1, type.lastIndexOf(')'));
  const args: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === "'") quoted = false;
    } else if (c === "'") quoted = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      args.push(inner.slice(start, i).trim());
      start = i + 1;
    }
  }
  args.push(inner.slice(start).trim());
  return { name, args };
}

const FIXED: Record<string, number> = {
  UInt8: 1, Int8: 1, Bool: 1, Enum8: 1,
  UInt16: 2, Int16: 2, Date: 2, Enum16: 2, BFloat16: 2,
  UInt32: 4, Int32: 4, Float32: 4, Date32: 4, DateTime: 4, IPv4: 4, Decimal32: 4,
  UInt64: 8, Int64: 8, Float64: 8, DateTime64: 8, Decimal64: 8,
  UInt128: 16, Int128: 16, UUID: 16, IPv6: 16, Decimal128: 16,
  UInt256: 32, Int256: 32, Decimal256: 32,
};

function fixedWidth(name: string, args: string[]): number | undefined {
  if (name in FIXED) return FIXED[name];
  if (name.startsWith('Interval')) return 8;
  if (name === 'FixedString') return Number(args[0]);
  if (name === 'Decimal') {
    const precision = Number(args[0]);
    return precision <= 9 ? 4 : precision <= 18 ? 8 : precision <= 38 ? 16 : 32;
  }
  return undefined;
}

/** Moves past `rows` values of `type` in bulk (column) layout; the data of LowCardinality starts with its state prefix. */
function skipColumn(r: Reader, type: string, rows: number): void {
  const { name, args } = splitType(type);
  const width = fixedWidth(name, args);
  if (width !== undefined) return r.skip(width * rows);
  switch (name) {
    case 'String':
      for (let i = 0; i < rows; i++) r.skip(r.varint());
      return;
    case 'Nothing':
      return r.skip(rows);
    case 'Nullable':
      r.skip(rows);
      return skipColumn(r, args[0], rows);
    case 'Array':
    case 'Map': {
      let total = 0;
      for (let i = 0; i < rows; i++) total = r.uint64();
      if (name === 'Array') return skipColumn(r, args[0], total);
      skipColumn(r, args[0], total);
      return skipColumn(r, args[1], total);
    }
    case 'Tuple':
      for (const element of args) skipColumn(r, element.replace(/^[A-Za-z_][A-Za-z0-9_]*\s+(?=[A-Z])/, ''), rows);
      return;
    case 'LowCardinality': {
      r.uint64(); // keys serialization version
      const flags = r.uint64();
      const indexWidth = [1, 2, 4, 8][flags & 0xff];
      if (indexWidth === undefined) throw new NativeFormatError(`LowCardinality index type ${flags & 0xff}`);
      if (flags & (1 << 9)) {
        // The dictionary holds the values without their Nullable.
        const inner = splitType(args[0]);
        skipColumn(r, inner.name === 'Nullable' ? inner.args[0] : args[0], r.uint64());
      }
      return r.skip(indexWidth * r.uint64());
    }
    default:
      throw new NativeFormatError(`type ${type} is not served in Native format here; ask for another FORMAT (e.g. JSON or RowBinary)`);
  }
}

/** chDB's revision-0 Native bytes as a server writes them for `revision`. */
export function nativeForRevision(data: Buffer, revision: number): Buffer {
  if (revision <= 0 || data.length === 0) return data;
  const custom = revision >= REVISION_WITH_CUSTOM_SERIALIZATION;
  const r = new Reader(data);
  const out: Buffer[] = [];
  while (r.pos < data.length) {
    out.push(BLOCK_INFO);
    let from = r.pos;
    const columns = r.varint();
    const rows = r.varint();
    for (let c = 0; c < columns; c++) {
      r.string();
      const type = r.string();
      if (custom) {
        out.push(data.subarray(from, r.pos), ZERO);
        from = r.pos;
      }
      if (rows > 0) skipColumn(r, type, rows);
    }
    out.push(data.subarray(from, r.pos));
  }
  return Buffer.concat(out);
}

const ZERO = Buffer.from([0]);
