/**
 * The store cannot be opened for a reason its owner can fix (the folder is
 * another process's, the schema is newer than this code): said in one line.
 */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}
