import createError from '@fastify/error';

/**
 * Every error the API answers with, in one place. Clients branch on `code`;
 * `message` says what to fix. Errors from fastify itself (body too large,
 * unsupported media type, schema validation) keep their FST_ codes.
 */
export const Errors = {
  BadBody: createError('DW_BAD_BODY', '%s', 400),
  BadRange: createError('DW_BAD_RANGE', '%s', 400),
  BadQuery: createError('DW_BAD_QUERY', '%s', 400),
  Unauthorized: createError('DW_UNAUTHORIZED', 'a valid API key is required: send Authorization: Bearer <key>', 401),
  Forbidden: createError('DW_FORBIDDEN', '%s', 403),
  NotFound: createError('DW_NOT_FOUND', 'no route %s %s', 404),
  MethodNotAllowed: createError('DW_METHOD_NOT_ALLOWED', '%s is not served at %s; allowed: %s', 405),
  ModelNotFound: createError('DW_MODEL_NOT_FOUND', 'model "%s" has no events', 404),
  BaselineNotFound: createError('DW_BASELINE_NOT_FOUND', '%s', 404),
  EmptyRange: createError('DW_EMPTY_RANGE', 'no events for model "%s" between %s and %s', 422),
  ShadowNotFound: createError('DW_SHADOW_NOT_FOUND', 'model "%s" has no shadow model "%s"', 404),
  BadModel: createError('DW_BAD_MODEL', '%s', 422),
  ModelSignature: createError('DW_MODEL_SIGNATURE', 'the mapping does not fit the model: %s', 422),
  TooManyShadows: createError('DW_TOO_MANY_SHADOWS', 'model "%s" already has %s shadow models (SHADOW_MAX_PER_MODEL); delete one first', 409),
  StoreUnavailable: createError('DW_STORE_UNAVAILABLE', 'the store did not accept the request: %s', 503),
  Busy: createError('DW_BUSY', '%s', 503),
  DiskFull: createError('DW_DISK_FULL', '%s', 503),
  QueryTimeout: createError('DW_QUERY_TIMEOUT', '%s', 503),
  QueryCancelled: createError('DW_QUERY_CANCELLED', '%s', 503),
  // The engine stopped an analysis statement at ANALYSIS_MAX_MEMORY_BYTES (store/memory-ceiling.ts): the same request fails again until the range or the ceiling changes.
  AnalysisMemory: createError('DW_ANALYSIS_MEMORY', '%s', 503),
  BaselineActive: createError('DW_BASELINE_ACTIVE', '%s', 409),
  SegmentBaseline: createError('DW_SEGMENT_BASELINE', '%s', 409),
  JobNotFound: createError('DW_JOB_NOT_FOUND', 'no job "%s"', 404),
  JobFinished: createError('DW_JOB_FINISHED', 'job "%s" is %s already', 409),
  // Import (api/routes/import.ts): a source or mapping that cannot work, a file the engine cannot read.
  BadImport: createError('DW_BAD_IMPORT', '%s', 400),
  UnreadableFile: createError('DW_UNREADABLE_FILE', 'the file cannot be read: %s', 422),
  ImportUnavailable: createError('DW_IMPORT_UNAVAILABLE', '%s', 501),
  UploadTooLarge: createError('DW_UPLOAD_TOO_LARGE', 'the upload is larger than IMPORT_MAX_UPLOAD_BYTES (%s bytes)', 413),
  BackfillRunning: createError('DW_BACKFILL_RUNNING', 'model "%s" has a backfill running already: follow it at GET /v1/jobs/%s, or cancel it with DELETE /v1/jobs/%s', 409),
  UiNotBuilt: createError('DW_UI_NOT_BUILT', 'the web UI is not built (no %s): run `npm run build:ui` in the driftwatch folder, then reload', 503),
};
