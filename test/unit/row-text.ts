import { rowPieces, type RowBytes } from '../../store/sql.ts';

/** What a stand-in store received, as text: the pieces of a flush read one after another. */
export const rowText = (bytes: RowBytes): string => Buffer.concat(rowPieces(bytes)).toString();
